"""Semantic versions and ranges as ImagePolicy `semver.range` understands them.

Flux users write ranges like `>=1.0.0`, `~1.2`, `^2`, `1.x`, `>=1.0.0-0 <2.0.0`,
`1.0 - 2.0` and `a || b`; tags may carry a `v` prefix or leave out the patch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import total_ordering

_VERSION = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_PARTIAL = re.compile(
    r"^v?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)
_COMPARATOR = re.compile(r"^(?P<op>>=|=>|<=|=<|!=|~>|>|<|=|~|\^)?\s*(?P<ver>\S+)$")
_WILD = ("x", "X", "*", None)


class InvalidRange(ValueError):
    """A range that cannot be parsed; the message says which part."""


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    original: str = ""

    def _pre_key(self) -> tuple[tuple[int, int | str], ...]:
        # Numeric identifiers sort before alphanumeric ones, as SemVer 2 says.
        return tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.prerelease)

    def _cmp(self, other: Version) -> int:
        a, b = (self.major, self.minor, self.patch), (other.major, other.minor, other.patch)
        if a != b:
            return -1 if a < b else 1
        if self.prerelease == other.prerelease:
            return 0
        if not self.prerelease:
            return 1
        if not other.prerelease:
            return -1
        ka, kb = self._pre_key(), other._pre_key()
        return 0 if ka == kb else (-1 if ka < kb else 1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._cmp(other) == 0

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.prerelease))

    def __lt__(self, other: Version) -> bool:
        return self._cmp(other) < 0


def parse_version(text: str) -> Version | None:
    """The version a tag spells, or None when it is not one (e.g. `latest`)."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    pre = tuple(match.group("pre").split(".")) if match.group("pre") else ()
    if any(p.isdigit() and len(p) > 1 and p.startswith("0") for p in pre):
        return None
    return Version(
        int(match.group("major")),
        int(match.group("minor") or 0),
        int(match.group("patch") or 0),
        pre,
        text,
    )


Check = Callable[[Version], bool]


@dataclass(frozen=True)
class _Comparator:
    check: Check
    has_prerelease: bool


def _bound(text: str) -> tuple[list[int | None], tuple[str, ...]]:
    match = _PARTIAL.match(text)
    if match is None:
        raise InvalidRange(f"{text!r} is not a version")
    parts: list[int | None] = []
    for key in ("major", "minor", "patch"):
        value = match.group(key)
        parts.append(None if value in _WILD else int(value))
    # Anything after a wildcard is a wildcard too: 1.x.3 means 1.x.
    for i in range(1, 3):
        if parts[i - 1] is None:
            parts[i] = None
    pre = tuple(match.group("pre").split(".")) if match.group("pre") else ()
    return parts, pre


def _floor(parts: list[int | None], pre: tuple[str, ...] = ()) -> Version:
    return Version(parts[0] or 0, parts[1] or 0, parts[2] or 0, pre)


def _ceiling(parts: list[int | None]) -> Version | None:
    """The first version above everything `parts` (with wildcards) matches."""
    if parts[0] is None:
        return None
    if parts[1] is None:
        return Version(parts[0] + 1, 0, 0, ("0",))
    if parts[2] is None:
        return Version(parts[0], parts[1] + 1, 0, ("0",))
    return None


def _between(low: Version | None, high: Version | None, high_inclusive: bool = False) -> Check:
    def check(v: Version) -> bool:
        if low is not None and v < low:
            return False
        return high is None or (v <= high if high_inclusive else v < high)

    return check


def _comparator(text: str) -> _Comparator:
    match = _COMPARATOR.match(text)
    if match is None:
        raise InvalidRange(f"{text!r} is not a comparison")
    op = match.group("op") or "="
    parts, pre = _bound(match.group("ver"))
    floor = _floor(parts, pre)
    ceiling = _ceiling(parts)
    major, minor = parts[0], parts[1]
    check: Check
    if op == "=":
        check = _between(floor, ceiling) if ceiling or major is None else (lambda v: v == floor)
    elif op == "!=":
        inside = _between(floor, ceiling) if ceiling else (lambda v: v == floor)
        check = lambda v: not inside(v)  # noqa: E731
    elif op in (">=", "=>"):
        check = _between(floor, None)
    elif op == ">":
        check = _between(ceiling, None) if ceiling else (lambda v: v > floor)
    elif op in ("<=", "=<"):
        check = _between(None, ceiling) if ceiling else _between(None, floor, True)
    elif op == "<":
        check = _between(None, floor if major is not None else Version(0, 0, 0, ("0",)))
    elif op in ("~", "~>"):
        if major is None:
            check = _between(None, None)
        elif minor is None:
            check = _between(floor, Version(major + 1, 0, 0, ("0",)))
        else:
            check = _between(floor, Version(major, minor + 1, 0, ("0",)))
    else:  # ^: changes that do not modify the left-most non-zero part
        if major is None:
            check = _between(None, None)
        elif major > 0 or minor is None:
            check = _between(floor, Version(major + 1, 0, 0, ("0",)))
        elif minor > 0 or parts[2] is None:
            check = _between(floor, Version(0, minor + 1, 0, ("0",)))
        else:
            check = _between(floor, Version(0, 0, (parts[2] or 0) + 1, ("0",)))
    return _Comparator(check, bool(pre))


_HYPHEN = re.compile(r"(\S+)\s+-\s+(\S+)")
_OP_SPACE = re.compile(r"(>=|=>|<=|=<|!=|~>|>|<|=|~|\^)\s+")


@dataclass(frozen=True)
class Range:
    """A parsed range: OR of groups, each an AND of comparisons."""

    text: str
    groups: tuple[tuple[_Comparator, ...], ...]

    def allows(self, version: Version) -> bool:
        for group in self.groups:
            # A prerelease is only considered when the group itself names one:
            # `>=1.0.0` must not pick 2.0.0-rc.1, `>=1.0.0-0` may.
            if version.prerelease and not any(c.has_prerelease for c in group):
                continue
            if all(c.check(version) for c in group):
                return True
        return False


def parse_range(text: str) -> Range:
    """Parse a range; InvalidRange with the reason when it is not one."""
    if not text.strip():
        raise InvalidRange("the range is empty")
    groups: list[tuple[_Comparator, ...]] = []
    for part in text.split("||"):
        part = _HYPHEN.sub(r">=\1 <=\2", part.strip())
        part = _OP_SPACE.sub(r"\1", part)
        tokens = [t for t in re.split(r"[\s,]+", part) if t]
        if not tokens:
            raise InvalidRange(f"empty alternative in {text!r}")
        groups.append(tuple(_comparator(t) for t in tokens))
    return Range(text, tuple(groups))
