"""Refuse kustomizations that reach outside the artifact or over the network.

kustomize itself would follow `../../..` out of the artifact and clone remote bases;
every path a reachable kustomization names is checked before the binary runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .generate import BuildError, find_kustomization, load_kustomization, relative

_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)")
_PATH_LISTS = (
    "resources",
    "bases",
    "components",
    "crds",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "patchesStrategicMerge",
)


def _paths(document: dict[str, Any]) -> Iterator[str]:
    for key in _PATH_LISTS:
        for item in document.get(key) or []:
            # Inline patches in patchesStrategicMerge are YAML, not paths.
            if isinstance(item, str) and "\n" not in item:
                yield item
    for key in ("patches", "patchesJson6902", "replacements"):
        for item in document.get(key) or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                yield item["path"]
    for key in ("configMapGenerator", "secretGenerator"):
        for generator in document.get(key) or []:
            if not isinstance(generator, dict):
                continue
            for entry in [*(generator.get("files") or []), *(generator.get("envs") or [])]:
                if isinstance(entry, str):
                    yield entry.split("=", 1)[-1]
            if isinstance(generator.get("env"), str):
                yield generator["env"]
    openapi = document.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield openapi["path"]


def check_confined(directory: Path, root: Path) -> None:
    """Walk every kustomization reachable from `directory`; raise BuildError on the
    first path that leaves `root`, is remote, or asks for Helm charts."""
    root = root.resolve()
    seen: set[Path] = set()
    pending = [directory.resolve()]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        path = find_kustomization(current)
        if path is None:
            continue
        name = relative(path, root)
        document = load_kustomization(path, root)
        if document.get("helmCharts") or document.get("helmChartInflationGenerator"):
            raise BuildError(f"{name}: helmCharts are not supported; use a HelmRelease")
        for entry in _paths(document):
            if _REMOTE.match(entry) or "?ref=" in entry or entry.startswith("//"):
                raise BuildError(
                    f"{name}: remote resource {entry} is not allowed; "
                    "vendor it into the source or use another GitRepository"
                )
            target = (current / entry).resolve()
            if not target.is_relative_to(root):
                raise BuildError(f"{name}: {entry} points outside the source artifact")
            if target.is_dir():
                pending.append(target)
