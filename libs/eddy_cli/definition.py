"""Where in a repository an object is written, and what changed it on the way to the cluster.

Given the YAML files of a commit, finds the document that defines an object (file
and line), the patches and image overrides that target it (in kustomization.yaml
files and in the Kustomization's spec), and the `${VARS}` substituted into it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import yaml

Doc = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# ${VAR}, ${VAR:=default}, ${VAR:-default}, as Flux's envsubst reads them.
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-=]([^}]*))?\}")


@dataclass(frozen=True)
class Place:
    """A file and line in the repository, and the document found there."""

    path: str
    line: int
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line}


@dataclass(frozen=True)
class Change:
    """Something that changed the object between the file and the cluster."""

    by: str
    detail: str
    path: str = ""
    line: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}


@dataclass(frozen=True)
class Target:
    """The object being explained, as it is in the cluster."""

    group: str
    version: str
    kind: str
    name: str
    namespace: str
    labels: Mapping[str, str]
    images: Sequence[str]


def documents(path: str, text: str) -> Iterator[tuple[int, int, Doc]]:
    """(first line, last line, document) of each mapping document in a YAML file."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return
    for node in nodes:
        if not isinstance(node, yaml.MappingNode):
            continue
        try:
            doc = yaml.safe_load(yaml.serialize(node))
        except yaml.YAMLError:
            continue
        if isinstance(doc, dict):
            yield node.start_mark.line + 1, node.end_mark.line + 1, doc


def under(path: str, root: str) -> bool:
    return not root or path == root or path.startswith(root.rstrip("/") + "/")


def normalize(root: str | None) -> str:
    cleaned = posixpath.normpath((root or "").strip().lstrip("/") or ".")
    return "" if cleaned == "." else cleaned


def _matches(doc: Doc, target: Target, prefix: str, suffix: str) -> bool:
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict) or doc.get("kind") != target.kind:
        return False
    api_group = str(doc.get("apiVersion", "")).rpartition("/")[0]
    if api_group != target.group:
        return False
    name = str(meta.get("name", ""))
    if name not in (target.name, f"{target.name.removeprefix(prefix).removesuffix(suffix)}"):
        return False
    namespace = meta.get("namespace")
    return namespace in (None, "", target.namespace)


def find_definitions(
    files: Mapping[str, str], root: str, target: Target, prefix: str = "", suffix: str = ""
) -> list[Place]:
    """The documents defining `target`: under `root` first, else anywhere in the repository."""
    found: list[Place] = []
    outside: list[Place] = []
    for path in sorted(files):
        if path.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES or not path.endswith((".yaml", ".yml")):
            continue
        lines = files[path].splitlines()
        for first, last, doc in documents(path, files[path]):
            if _matches(doc, target, prefix, suffix):
                place = Place(path, first, "\n".join(lines[first - 1 : last]))
                (found if under(path, root) else outside).append(place)
    exact = [p for p in found or outside if _names(p, target.namespace)]
    return exact or found or outside


def _names(place: Place, namespace: str) -> bool:
    return f"namespace: {namespace}" in place.text


def substitutions(place: Place, post_build: Doc | None, disabled: bool) -> list[Change]:
    """Each ${VAR} in the definition and where its value comes from."""
    if disabled or not post_build:
        return []
    literal = post_build.get("substitute") or {}
    refs = [f"{r.get('kind')} {r.get('name')}" for r in post_build.get("substituteFrom") or []]
    out = []
    for offset, line in enumerate(place.text.splitlines()):
        for match in VARIABLE.finditer(line):
            var, default = match.group(1), match.group(2)
            if var in literal:
                source = f"spec.postBuild.substitute.{var} = {literal[var]!r}"
            elif refs:
                source = f"spec.postBuild.substituteFrom ({', '.join(refs)})"
                if default is not None:
                    source += f", else the default {default!r}"
            elif default is not None:
                source = f"the default {default!r}"
            else:
                source = "nothing: it stays empty"
            out.append(
                Change("substitution", f"${{{var}}} from {source}", place.path, place.line + offset)
            )
    return out


def _selects(selector: Doc, target: Target) -> bool:
    """Whether a kustomize patch target selects the object (name and namespace are regexes)."""
    checks = {
        "group": target.group,
        "version": target.version,
        "kind": target.kind,
        "name": target.name,
        "namespace": target.namespace,
    }
    for key, actual in checks.items():
        wanted = selector.get(key)
        if wanted and not re.fullmatch(str(wanted), actual):
            return False
    labels = selector.get("labelSelector")
    if labels:
        for term in str(labels).split(","):
            key, _, value = term.partition("=")
            if target.labels.get(key.strip().rstrip("!")) != value.strip().lstrip("="):
                return False
    return True


def _patch_names(patch: str, target: Target) -> bool:
    """A patch without a target applies to the object its own kind and name say."""
    try:
        docs = [d for d in yaml.safe_load_all(patch) if isinstance(d, dict)]
    except yaml.YAMLError:
        return False
    for doc in docs:
        meta = doc.get("metadata") or {}
        if doc.get("kind") == target.kind and meta.get("name") == target.name:
            return True
    return False


def _image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def _images(
    entries: Sequence[Doc], target: Target, by: str, path: str = "", lines: Sequence[int] = ()
) -> list[Change]:
    out = []
    used = {_image_name(i) for i in target.images}
    for index, entry in enumerate(entries):
        name = str(entry.get("name", ""))
        if name in used:
            new = f"{entry.get('newName', name)}:{entry.get('newTag', '')}".rstrip(":")
            if entry.get("digest"):
                new = f"{entry.get('newName', name)}@{entry['digest']}"
            line = lines[index] if index < len(lines) else 0
            out.append(Change(by, f"images[{index}] sets {name} to {new}", path, line))
    return out


def spec_changes(name: str, spec: Doc, target: Target) -> list[Change]:
    """What a Flux Kustomization's own spec does to the object."""
    by = f"Kustomization {name}"
    out: list[Change] = []
    for index, patch in enumerate(spec.get("patches") or []):
        selector = patch.get("target")
        hit = (
            _selects(selector, target) if selector else _patch_names(patch.get("patch", ""), target)
        )
        if hit:
            out.append(Change(by, f"spec.patches[{index}]: {_one_line(patch.get('patch', ''))}"))
    out += _images(spec.get("images") or [], target, by)
    for key in ("namePrefix", "nameSuffix", "targetNamespace"):
        if spec.get(key):
            out.append(Change(by, f"spec.{key} = {spec[key]!r}"))
    return out


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _entry_lines(text: str, key: str) -> list[int]:
    """The line of each item of the top-level sequence `key` in a YAML mapping."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for key_node, value in node.value:
        if getattr(key_node, "value", None) == key and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def kustomization_changes(files: Mapping[str, str], root: str, target: Target) -> list[Change]:
    """Patches and image overrides in the kustomization.yaml files under `root`."""
    out: list[Change] = []
    for path in sorted(files):
        if path.rsplit("/", 1)[-1] not in KUSTOMIZATION_FILES or not under(path, root):
            continue
        text = files[path]
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if not isinstance(doc, dict):
            continue
        folder = posixpath.dirname(path)
        by = path
        lines = _entry_lines(text, "patches")
        for index, patch in enumerate(doc.get("patches") or []):
            if not isinstance(patch, dict):
                continue
            body = patch.get("patch") or files.get(
                posixpath.join(folder, patch.get("path", "")), ""
            )
            selector = patch.get("target")
            hit = _selects(selector, target) if selector else _patch_names(body, target)
            if hit:
                source = patch.get("path") or _one_line(body)
                line = lines[index] if index < len(lines) else 0
                out.append(Change("kustomize patch", f"patches[{index}]: {source}", path, line))
        lines = _entry_lines(text, "patchesStrategicMerge")
        for index, item in enumerate(doc.get("patchesStrategicMerge") or []):
            body = files.get(posixpath.join(folder, str(item)), str(item))
            if _patch_names(body, target):
                line = lines[index] if index < len(lines) else 0
                out.append(
                    Change("kustomize patch", f"patchesStrategicMerge[{index}]: {item}", path, line)
                )
        out += _images(
            [i for i in doc.get("images") or [] if isinstance(i, dict)],
            target, "kustomize images", by, _entry_lines(text, "images"),
        )  # fmt: skip
    return out
