"""Semantic versions and version ranges, as Flux users write them in specs.

GitRepository `spec.ref.semver`, HelmChart `spec.version` and ImagePolicy
`spec.policy.semver.range` all use the Masterminds range syntax
(`>=1.0.0 <2.0.0`, `^1.2`, `~1.2.3`, `1.x`, `1.0 - 1.4`, `a || b`); the highest
version in range wins, and a pre-release only matches where every comparison
of its alternative names a pre-release.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import total_ordering
from typing import TypeVar

T = TypeVar("T")

_VERSION = re.compile(
    r"v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_WILD = {"x", "X", "*"}
_PART = r"(?:0|[1-9]\d*|x|X|\*)"
_PARTIAL = re.compile(
    rf"v?(?P<major>{_PART})(?:\.(?P<minor>{_PART}))?(?:\.(?P<patch>{_PART}))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_TERM = re.compile(r"(?P<op>>=|<=|!=|=>|=<|==|=|>|<|~>|~|\^)?\s*(?P<ver>\S+)")


class InvalidVersion(ValueError):
    """Text that is neither a version nor a range."""


def _pre_key(pre: tuple[str, ...]) -> tuple[tuple[int, int | str], ...]:
    # Numeric identifiers sort before alphanumeric ones (semver 2.0 section 11).
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre)


@total_ordering
@dataclass(frozen=True)
class Version:
    """A parsed version; `original` keeps the text it came from (e.g. a tag `v1.2.0`)."""

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: str = ""
    original: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.fullmatch(text.strip())
        if match is None:
            raise InvalidVersion(f"{text!r} is not a semantic version")
        pre = match["pre"]
        return cls(
            int(match["major"]),
            int(match["minor"] or 0),
            int(match["patch"] or 0),
            tuple(pre.split(".")) if pre else (),
            match["build"] or "",
            text,
        )

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # A release sorts after its pre-releases.
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, _pre_key(self.pre))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(self.pre)
        if self.build:
            text += "+" + self.build
        return text


def parse_version(text: str) -> Version | None:
    try:
        return Version.parse(text)
    except InvalidVersion:
        return None


def versions_of(items: Iterable[T], text_of: Callable[[T], str]) -> dict[Version, T]:
    """The items whose text is a semantic version, keyed by that version.

    Tags, chart index entries and registry tags all become candidates this way,
    for `Range.best`; of two items with equal versions the later one is kept.
    """
    found: dict[Version, T] = {}
    for item in items:
        version = parse_version(text_of(item))
        if version is not None:
            found[version] = item
    return found


Check = Callable[[Version], bool]


@dataclass(frozen=True)
class _Term:
    check: Check
    # Whether the version written in the term names a pre-release. As in the
    # Masterminds library Flux uses, a pre-release version passes only terms
    # that name one: `>=1.0.0-0` admits 1.1.0-rc.1, `>=1.0.0-0 <2.0.0` does not.
    names_pre: bool


def _partial(text: str) -> tuple[list[int | None], tuple[str, ...]]:
    match = _PARTIAL.fullmatch(text)
    if match is None:
        raise InvalidVersion(f"{text!r} is not a version or a version pattern")
    parts: list[int | None] = []
    for name in ("major", "minor", "patch"):
        value = match[name]
        parts.append(None if value is None or value in _WILD else int(value))
    # Once a part is a wildcard, everything after it is too: 1.x.3 means 1.x.
    for i in range(3):
        if parts[i] is None:
            parts[i + 1 :] = [None] * (2 - i)
            break
    pre = match["pre"]
    return parts, tuple(pre.split(".")) if pre else ()


def _lower(parts: list[int | None], pre: tuple[str, ...]) -> Version:
    return Version(parts[0] or 0, parts[1] or 0, parts[2] or 0, pre)


def _next_upper(parts: list[int | None]) -> Version | None:
    """The first version past a partial one (1.2 -> 1.3.0, 1 -> 2.0.0); None for `*`."""
    major, minor, patch = parts
    if major is None:
        return None
    if minor is None:
        return Version(major + 1, 0, 0, ("0",))
    if patch is None:
        return Version(major, minor + 1, 0, ("0",))
    return None


def _term(op: str, text: str) -> _Term:
    parts, pre = _partial(text)
    major, minor, patch = parts
    lower = _lower(parts, pre)
    upper = _next_upper(parts)
    exact = patch is not None
    check: Check
    if op in ("", "=", "=="):
        if major is None:
            check = lambda v: True  # noqa: E731
        elif exact:
            check = lambda v: v == lower  # noqa: E731
        else:
            check = lambda v: lower <= v and (upper is None or v < upper)  # noqa: E731
    elif op == "!=":
        if exact:
            check = lambda v: v != lower  # noqa: E731
        else:
            check = lambda v: not (lower <= v and (upper is None or v < upper))  # noqa: E731
    elif op == ">":
        if exact:
            check = lambda v: v > lower  # noqa: E731
        elif upper is None:
            check = lambda v: False  # noqa: E731
        else:
            check = lambda v: v >= upper  # noqa: E731
    elif op in (">=", "=>"):
        check = lambda v: v >= lower  # noqa: E731
    elif op == "<":
        check = lambda v: v < lower  # noqa: E731
    elif op in ("<=", "=<"):
        if exact:
            check = lambda v: v <= lower  # noqa: E731
        elif upper is None:
            check = lambda v: True  # noqa: E731
        else:
            check = lambda v: v < upper  # noqa: E731
    elif op in ("~", "~>"):
        # ~1.2.3 := >=1.2.3 <1.3.0; ~1 := >=1.0.0 <2.0.0
        if major is None:
            check = lambda v: True  # noqa: E731
        else:
            top = (
                Version(major + 1, 0, 0, ("0",))
                if minor is None
                else Version(major, minor + 1, 0, ("0",))
            )
            check = lambda v: lower <= v < top  # noqa: E731
    elif op == "^":
        # ^1.2.3 := <2.0.0; ^0.2.3 := <0.3.0; ^0.0.3 := <0.0.4
        if major is None:
            check = lambda v: True  # noqa: E731
        else:
            if major > 0 or minor is None:
                top = Version(major + 1, 0, 0, ("0",))
            elif minor > 0 or patch is None:
                top = Version(0, minor + 1, 0, ("0",))
            else:
                top = Version(0, 0, patch + 1, ("0",))
            check = lambda v: lower <= v < top  # noqa: E731
    else:  # pragma: no cover - the regex admits nothing else
        raise InvalidVersion(f"unknown operator {op!r}")
    return _Term(check, bool(pre))


def _hyphen(low: str, high: str) -> list[_Term]:
    lower_parts, lower_pre = _partial(low)
    high_parts, high_pre = _partial(high)
    lower = _lower(lower_parts, lower_pre)
    top = _next_upper(high_parts)
    if top is None and high_parts[0] is not None:
        upper = _lower(high_parts, high_pre)
        upper_check: Check = lambda v: v <= upper  # noqa: E731
    elif top is None:
        upper_check = lambda v: True  # noqa: E731
    else:
        bound = top
        upper_check = lambda v: v < bound  # noqa: E731
    return [_Term(lambda v: v >= lower, bool(lower_pre)), _Term(upper_check, bool(high_pre))]


@dataclass(frozen=True)
class Range:
    """Alternatives (`||`) of conjunctions of terms."""

    text: str
    alternatives: tuple[tuple[_Term, ...], ...]

    def matches(self, version: Version) -> bool:
        for terms in self.alternatives:
            if version.pre and not all(t.names_pre for t in terms):
                continue
            if all(t.check(version) for t in terms):
                return True
        return False

    def best(self, candidates: Iterable[Version]) -> Version | None:
        """The highest candidate in range, or None."""
        found = [v for v in candidates if self.matches(v)]
        return max(found) if found else None


def parse_range(text: str) -> Range:
    """Parse a range; InvalidVersion says what is wrong with it."""
    if not text.strip():
        raise InvalidVersion("the version range is empty")
    alternatives: list[tuple[_Term, ...]] = []
    for alternative in text.split("||"):
        alt = alternative.strip()
        if not alt:
            raise InvalidVersion(f"{text!r} has an empty alternative around '||'")
        hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", alt)
        if hyphen:
            alternatives.append(tuple(_hyphen(hyphen[1], hyphen[2])))
            continue
        # Operators may be separated from their version by spaces: ">= 1.0".
        alt = re.sub(r"(>=|<=|!=|=>|=<|==|~>|[=<>~^])\s+", r"\1", alt)
        terms: list[_Term] = []
        for chunk in re.split(r"[\s,]+", alt):
            if not chunk:
                continue
            match = _TERM.fullmatch(chunk)
            if match is None:
                raise InvalidVersion(f"{chunk!r} in {text!r} is not a version constraint")
            try:
                terms.append(_term(match["op"] or "", match["ver"]))
            except InvalidVersion as err:
                raise InvalidVersion(f"invalid version range {text!r}: {err}") from err
        alternatives.append(tuple(terms))
    return Range(text, tuple(alternatives))
