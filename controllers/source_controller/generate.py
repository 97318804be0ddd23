"""The copy rules of an ArtifactGenerator: which files of a source go where in an artifact.

`from: @alias/<path or glob>`, `to: @artifact/<path>` with `cp`-like meaning, an
exclude list and a strategy (Overwrite, Merge, Extract). Everything here works on
directories already extracted and checked; nothing may land outside the output.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from eddy_artifacts.errors import ArtifactError
from eddy_artifacts.extract import extract_archive
from eddy_artifacts.ignore import IgnoreRules, parse_pattern, parse_patterns
from eddy_helm.values import merge

_GLOB_CHARS = frozenset("*?[")
_TARBALLS = (".tar.gz", ".tgz")


class CopyError(Exception):
    """A copy rule cannot be carried out; the message names the rule and the cause."""


@dataclass(frozen=True)
class CopyRule:
    alias: str
    path: str
    to: str
    exclude: tuple[str, ...] = ()
    strategy: str = "Overwrite"

    @property
    def source(self) -> str:
        return f"@{self.alias}/{self.path}"


def split_alias(text: str, field: str) -> tuple[str, str]:
    """`@alias/rest` → (alias, rest); anything else is an error naming the field."""
    if not text.startswith("@") or "/" not in text:
        raise CopyError(f"{field} '{text}' must look like '@<alias>/<path>'")
    alias, _, rest = text[1:].partition("/")
    return alias, rest


def rule_of(item: dict[str, Any]) -> CopyRule:
    alias, path = split_alias(str(item.get("from", "")), "from")
    target, to = split_alias(str(item.get("to", "")), "to")
    if target != "artifact":
        raise CopyError(f"to '{item.get('to')}' must start with '@artifact/'")
    normal = posixpath.normpath(to) if to.strip("/") else ""
    if to.startswith("/") or normal == ".." or normal.startswith("../"):
        raise CopyError(f"to '{item.get('to')}' leaves the artifact")
    if ".." in path.split("/"):
        raise CopyError(f"from '{item.get('from')}' leaves the source")
    exclude = tuple(str(x) for x in item.get("exclude") or [])
    return CopyRule(alias, path, to, exclude, str(item.get("strategy") or "Overwrite"))


def _files(root: Path) -> Iterator[str]:
    """Every regular file under root, as '/'-separated paths relative to it, sorted."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        base = Path(dirpath)
        for name in filenames:
            full = base / name
            if full.is_file() and not full.is_symlink():
                found.append(full.relative_to(root).as_posix())
    yield from sorted(found)


def select(rule: CopyRule, root: Path) -> list[tuple[Path, str]]:
    """The (file, destination relative to the output root) pairs a rule copies, before
    its exclude list."""
    path = rule.path
    parts = [p for p in path.split("/") if p]
    globbed = any(_GLOB_CHARS & set(p) for p in parts) or not parts
    to_dir = rule.to.endswith("/") or not rule.to
    if globbed:
        prefix_parts: list[str] = []
        for part in parts:
            if _GLOB_CHARS & set(part):
                break
            prefix_parts.append(part)
        prefix = "/".join(prefix_parts)
        matcher = parse_pattern("/" + (path or "**"))
        chosen: list[tuple[str, str]] = []
        for rel in _files(root):
            pieces = rel.split("/")
            if prefix and pieces[: len(prefix_parts)] != prefix_parts:
                continue
            # A matching directory brings everything below it, as `cp -r` does.
            hit = any(
                matcher is not None and matcher.matches(pieces[:n], n < len(pieces))
                for n in range(len(prefix_parts) + 1, len(pieces) + 1)
            )
            if hit:
                chosen.append((rel, "/".join(pieces[len(prefix_parts) :])))
        pairs = [(root / rel, posixpath.join(rule.to, out)) for rel, out in chosen]
        return pairs
    src = root / path
    if src.is_symlink() or not src.exists():
        raise CopyError(f"'{rule.source}' does not exist in the source")
    name = parts[-1]
    if src.is_file():
        dest = posixpath.join(rule.to, name) if to_dir else rule.to
        return [(src, dest)]
    # A directory: 'dir/' or a destination ending in '/' copies it as a subdirectory.
    base = posixpath.join(rule.to, name) if (path.endswith("/") or to_dir) else rule.to
    pairs = [(src / rel, posixpath.join(base, rel)) for rel in _files(src)]
    return pairs


def apply_rule(rule: CopyRule, root: Path, out: Path) -> int:
    """Carry out one rule from a source tree into the output tree; the files written."""
    written = 0
    for src, dest in _relative(rule, root):
        target = _inside(out, dest, rule)
        if rule.strategy == "Extract":
            if not src.name.endswith(_TARBALLS):
                if not any(_GLOB_CHARS & set(p) for p in rule.path.split("/")):
                    raise CopyError(f"'{rule.source}' is not a .tar.gz or .tgz file to extract")
                continue
            written += _extract(src, _inside(out, posixpath.dirname(dest), rule), rule)
            continue
        _make_parents(out, target, rule)
        if target.is_dir():
            raise CopyError(
                f"copy '{rule.source}' → '@artifact/{dest}': a directory of the artifact is in "
                "the way (two copy rules overlap)"
            )
        if rule.strategy == "Merge" and target.exists():
            _merge(src, target, rule)
        else:
            shutil.copyfile(src, target)
        written += 1
    return written


def _relative(rule: CopyRule, root: Path) -> list[tuple[Path, str]]:
    """select() with excludes matched against paths relative to the non-glob prefix."""
    pairs = select(rule, root)
    if not rule.exclude:
        return pairs
    parts = [p for p in rule.path.split("/") if p]
    prefix: list[str] = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        prefix.append(part)
    if prefix and prefix == parts and (root / rule.path).is_file():
        prefix = prefix[:-1]
    rules = IgnoreRules(parse_patterns(rule.exclude))
    base = root.joinpath(*prefix) if prefix else root
    return [(src, dest) for src, dest in pairs
            if not rules.ignored(src.relative_to(base).as_posix())]  # fmt: skip


def _inside(out: Path, dest: str, rule: CopyRule) -> Path:
    clean = posixpath.normpath(dest) if dest.strip("/") else "."
    if clean.startswith("..") or clean.startswith("/"):
        raise CopyError(f"copy '{rule.source}' would write outside the artifact")
    return out / clean


def _make_parents(out: Path, target: Path, rule: CopyRule) -> None:
    for parent in reversed(target.relative_to(out).parents[:-1] if target != out else []):
        folder = out / parent
        if folder.exists() and not folder.is_dir():
            raise CopyError(
                f"copy '{rule.source}': '@artifact/{parent.as_posix()}' is a file of the "
                "artifact, not a directory (two copy rules overlap)"
            )
    target.parent.mkdir(parents=True, exist_ok=True)


def _merge(src: Path, target: Path, rule: CopyRule) -> None:
    try:
        base = yaml.safe_load(target.read_text()) or {}
        extra = yaml.safe_load(src.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise CopyError(f"copy '{rule.source}' with strategy Merge: not valid YAML") from err
    if not isinstance(base, dict) or not isinstance(extra, dict):
        raise CopyError(f"copy '{rule.source}' with strategy Merge: both files must be maps")
    target.write_text(yaml.safe_dump(merge(base, extra), sort_keys=False))


def _extract(archive: Path, dest: Path, rule: CopyRule) -> int:
    with tempfile.TemporaryDirectory(prefix="eddy-extract-") as tmp:
        try:
            extract_archive(archive, Path(tmp))
        except (ArtifactError, OSError) as err:
            raise CopyError(f"copy '{rule.source}': cannot extract {archive.name}: {err}") from err
        count = 0
        for rel in _files(Path(tmp)):
            target = dest / rel
            if target.is_dir():
                raise CopyError(f"copy '{rule.source}': '{rel}' is a directory of the artifact")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / rel, target)
            count += 1
        return count
