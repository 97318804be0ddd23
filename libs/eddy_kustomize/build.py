"""Turn a directory of the artifact into a list of objects with the kustomize binary.

The pinned kustomize runs as a subprocess inside the artifact, with no network and no
programs to call, after the spec's options are written and every path is checked.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from eddy_artifacts.bounded import read_stream
from eddy_artifacts.errors import InputTooLarge

from .confine import check_confined
from .generate import BuildError, write_kustomization
from .objects import Obj, describe

# Proxies that go nowhere: a remote resource that slipped past the checks fails fast.
_NO_NETWORK = "http://127.0.0.1:9"
# What a build may print: its objects are parsed in memory, at several times this
# size; an artifact is at most 100 MiB, a build that multiplies it is refused.
MAX_OUTPUT = 128 << 20
_MAX_ERRORS = 1 << 20


def resolve_path(root: Path, path: str | None) -> Path:
    """The directory `spec.path` names, refusing anything outside the artifact."""
    text = (path or "./").strip()
    directory = (root / text.lstrip("/")).resolve()
    if not directory.is_relative_to(root.resolve()):
        raise BuildError(f"spec.path '{text}' points outside the source artifact")
    if not directory.is_dir():
        raise BuildError(f"spec.path '{text}' does not exist in the source artifact")
    return directory


def prepare(root: Path, spec: dict[str, Any]) -> Path:
    """Blocking: write the kustomization and check confinement; returns the directory."""
    directory = resolve_path(root, spec.get("path"))
    write_kustomization(directory, root, spec)
    check_confined(directory, root)
    return directory


async def run_kustomize(binary: str, directory: Path, root: Path, timeout: float) -> bytes:
    home = root.parent / "home"
    env = {
        "PATH": "",
        "HOME": str(home),
        "HTTP_PROXY": _NO_NETWORK,
        "HTTPS_PROXY": _NO_NETWORK,
        "http_proxy": _NO_NETWORK,
        "https_proxy": _NO_NETWORK,
        "KUSTOMIZE_PLUGIN_HOME": str(home / "plugins"),
    }
    try:
        proc = await asyncio.create_subprocess_exec(
            binary, "build", str(directory), "--load-restrictor", "LoadRestrictionsRootOnly",
            cwd=str(root), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except OSError as err:
        raise BuildError(f"cannot run kustomize ({binary}): {err}") from err
    try:
        out, stderr = await asyncio.wait_for(_collect(proc), timeout)
    except TimeoutError:
        await _kill(proc)
        raise BuildError(f"kustomize build timed out after {timeout:g}s") from None
    except InputTooLarge as err:
        await _kill(proc)
        raise BuildError(f"{err}; split the Kustomization or build less per path") from None
    if proc.returncode != 0:
        message = stderr.decode(errors="replace").strip().removeprefix("Error: ")
        raise BuildError(f"kustomize build failed: {_scrub(message, root)}")
    return out


async def _kill(proc: asyncio.subprocess.Process) -> None:
    proc.kill()
    # What is left in the pipes (a pipe buffer at most) is read, so they close and
    # the process can be waited for; asyncio waits for both.
    await proc.communicate()


async def _collect(proc: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """stdout and stderr until the process exits, each read with a cap."""
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.TaskGroup() as group:
            out = group.create_task(
                read_stream(proc.stdout, MAX_OUTPUT, "the output of kustomize build")
            )
            err = group.create_task(read_stream(proc.stderr, _MAX_ERRORS, "kustomize's errors"))
    except* InputTooLarge as caught:
        raise caught.exceptions[0] from None
    await proc.wait()
    return out.result(), err.result()


def _scrub(message: str, root: Path) -> str:
    # Paths of our temporary copy mean nothing to the user; the artifact's do.
    for prefix in {str(root.resolve()), str(root)}:
        message = message.replace(prefix + "/", "").replace(prefix, ".")
    return message


def parse_objects(output: bytes) -> list[Obj]:
    try:
        documents = list(yaml.load_all(output, Loader=yaml.CSafeLoader))
    except yaml.YAMLError as err:
        raise BuildError(f"kustomize produced invalid YAML: {err}") from err
    return [d for d in documents if isinstance(d, dict)]


def add_common_metadata(objects: list[Obj], common: dict[str, Any] | None) -> None:
    if not common:
        return
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        for key in ("labels", "annotations"):
            if common.get(key):
                meta[key] = {**(meta.get(key) or {}), **common[key]}


def check_objects(objects: list[Obj]) -> None:
    for obj in objects:
        if not obj.get("apiVersion") or not obj.get("kind"):
            raise BuildError(f"object {describe(obj)} has no apiVersion or kind")
        if not (obj.get("metadata") or {}).get("name"):
            raise BuildError(f"a {obj.get('kind')} object has no metadata.name")


async def build(
    binary: str,
    root: Path,
    spec: dict[str, Any],
    timeout: float,
    before: Callable[[Path], Awaitable[None]] | None = None,
) -> list[Obj]:
    """Build `spec.path` of the artifact extracted at `root` into objects; `before` is
    given the directory to build once its kustomization is written (to decrypt files)."""
    directory = await asyncio.to_thread(prepare, root, spec)
    if before is not None:
        await before(directory)
    output = await run_kustomize(binary, directory, root, timeout)
    objects = await asyncio.to_thread(parse_objects, output)
    check_objects(objects)
    add_common_metadata(objects, spec.get("commonMetadata"))
    return objects


def kustomize_binary(configured: str) -> str:
    """An absolute path for the binary: kustomize runs with an empty PATH."""
    if os.sep in configured:
        return str(Path(configured).resolve())
    return shutil.which(configured) or configured
