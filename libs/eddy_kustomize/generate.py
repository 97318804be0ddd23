"""Write the kustomization.yaml that kustomize builds: the user's, plus the spec's options.

Flux lets a Kustomization point at plain YAML and layer targetNamespace, prefixes,
patches, images and components over it; both happen by editing the file in our copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from eddy_runtime.reconciler import StepError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


class BuildError(StepError):
    """The manifests cannot be built; the message names the file at fault."""


def find_kustomization(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def _check_manifests(path: Path, root: Path) -> None:
    try:
        documents = list(yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise BuildError(
            f"failed to decode Kubernetes YAML from {relative(path, root)}: {err}"
        ) from err
    for document in documents:
        if document is None:
            continue
        if (
            not isinstance(document, dict)
            or not document.get("apiVersion")
            or not (document.get("kind"))
        ):
            raise BuildError(
                f"failed to decode Kubernetes YAML from {relative(path, root)}: "
                "a document without apiVersion and kind is not a Kubernetes object"
            )


def scan_resources(directory: Path, root: Path) -> list[str]:
    """The resources of a generated kustomization: every YAML file below `directory`,
    and each subdirectory with its own kustomization file as a whole."""
    found: list[str] = []

    def walk(current: Path) -> None:
        for entry in sorted(current.iterdir(), key=lambda p: p.name):
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if find_kustomization(entry) is not None:
                    found.append(str(entry.relative_to(directory)))
                else:
                    walk(entry)
            elif entry.suffix in (".yaml", ".yml") and entry.is_file():
                _check_manifests(entry, root)
                found.append(str(entry.relative_to(directory)))

    walk(directory)
    return found


def load_kustomization(path: Path, root: Path) -> dict[str, Any]:
    try:
        loaded = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise BuildError(f"invalid {relative(path, root)}: {err}") from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise BuildError(f"invalid {relative(path, root)}: expected a mapping of fields")
    return loaded


def _patch_target(selector: dict[str, Any]) -> dict[str, Any]:
    keys = ("group", "version", "kind", "namespace", "name", "labelSelector", "annotationSelector")
    return {k: selector[k] for k in keys if selector.get(k)}


def _image(image: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": image["name"]}
    for key in ("newName", "newTag", "digest"):
        if image.get(key):
            out[key] = image[key]
    return out


def write_kustomization(directory: Path, root: Path, spec: dict[str, Any]) -> Path:
    """Make `directory` buildable with the spec's options applied; returns the file.

    When the directory has no kustomization file one is generated over its YAML
    files, as Flux does.
    """
    path = find_kustomization(directory)
    if path is None:
        path = directory / "kustomization.yaml"
        document: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": scan_resources(directory, root),
        }
    else:
        document = load_kustomization(path, root)
    if spec.get("targetNamespace"):
        document["namespace"] = spec["targetNamespace"]
    if spec.get("namePrefix"):
        document["namePrefix"] = spec["namePrefix"]
    if spec.get("nameSuffix"):
        document["nameSuffix"] = spec["nameSuffix"]
    for patch in spec.get("patches") or []:
        entry: dict[str, Any] = {"patch": patch.get("patch", "")}
        if patch.get("target"):
            entry["target"] = _patch_target(patch["target"])
        document.setdefault("patches", []).append(entry)
    for image in spec.get("images") or []:
        document.setdefault("images", []).append(_image(image))
    for component in spec.get("components") or []:
        target = (directory / component).resolve()
        if not target.exists() and spec.get("ignoreMissingComponents"):
            continue
        if not target.is_relative_to(root.resolve()):
            raise BuildError(f"component {component} leaves the artifact")
        document.setdefault("components", []).append(component)
    for option in spec.get("buildMetadata") or []:
        if option not in document.setdefault("buildMetadata", []):
            document["buildMetadata"].append(option)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
