"""Package a chart directory with the pinned `helm`, after merging spec.valuesFiles.

`helm package` applies .helmignore, validates Chart.yaml and writes the archive
the helm-controller expects; eddy runs the real program rather than imitate it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from eddy_api.common import Reason
from eddy_helm.values import merge

from ..failures import SourceError, invalid_spec

HELM_TIMEOUT = 120.0


def _package_failed(message: str) -> SourceError:
    return SourceError(Reason.CHART_PACKAGE_FAILED, message, condition="BuildFailed")


def helm_binary() -> str:
    """EDDY_HELM, else `helm` on PATH, else the pinned tools folder."""
    explicit = os.environ.get("EDDY_HELM")
    if explicit:
        return explicit
    found = shutil.which("helm")
    if found:
        return found
    tools = os.environ.get("EDDY_TOOLS_BIN")
    if tools and os.access(Path(tools) / "helm", os.X_OK):
        return str(Path(tools) / "helm")
    raise _package_failed("the helm binary was not found; install it or set EDDY_HELM")


def inside(root: Path, rel: str, field: str) -> Path:
    """root/rel, refusing paths that leave root."""
    target = (root / rel.lstrip("/")).resolve()
    real = root.resolve()
    if target != real and real not in target.parents:
        raise invalid_spec(f"{field} '{rel}' points outside the source")
    return target


def merge_values_files(root: Path, files: Sequence[str], ignore_missing: bool) -> dict[str, Any]:
    """The values files under root merged in order (later wins)."""
    merged: dict[str, Any] = {}
    for rel in files:
        path = inside(root, rel, "spec.valuesFiles")
        if not path.is_file():
            if ignore_missing:
                continue
            raise _package_failed(
                f"values file '{rel}' does not exist in the source; fix spec.valuesFiles or set "
                "ignoreMissingValuesFiles"
            )
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise _package_failed(f"values file '{rel}' is not valid YAML: {err}") from err
        if not isinstance(loaded, dict):
            raise _package_failed(f"values file '{rel}' must hold a mapping")
        merged = merge(merged, loaded)
    return merged


def read_chart_meta(chart_dir: Path) -> dict[str, Any]:
    meta_file = chart_dir / "Chart.yaml"
    if not meta_file.is_file():
        raise _package_failed(f"no Chart.yaml in '{chart_dir.name}': it is not a chart directory")
    try:
        meta = yaml.safe_load(meta_file.read_text())
    except yaml.YAMLError as err:
        raise _package_failed(f"Chart.yaml is not valid YAML: {err}") from err
    if not isinstance(meta, dict) or not meta.get("name") or not meta.get("version"):
        raise _package_failed("Chart.yaml must have a name and a version")
    return meta


async def package(chart_dir: Path, out_dir: Path, home: Path, version: str | None = None) -> Path:
    """`helm package` chart_dir into out_dir (optionally overriding the version)."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    argv = [helm_binary(), "package", str(chart_dir), "--destination", str(out_dir)]
    if version:
        argv += ["--version", version]
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), HELM_TIMEOUT)
    except TimeoutError as error:
        proc.kill()
        await proc.wait()
        raise _package_failed(f"helm package timed out after {HELM_TIMEOUT:g}s") from error
    if proc.returncode != 0:
        text = (err or out).decode(errors="replace").strip()
        raise _package_failed(f"helm package failed: {text}")
    made = await asyncio.to_thread(lambda: sorted(out_dir.glob("*.tgz")))
    if not made:
        raise _package_failed("helm package produced no archive")
    return made[-1]
