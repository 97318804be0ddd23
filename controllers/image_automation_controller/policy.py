"""Choose the latest tag by an ImagePolicy's rule: semver, alphabetical or numerical.

Pure functions over a list of tags, so every rule and filter is tested without a
registry; a spec that can never work raises InvalidPolicy (the object is Stalled).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eddy_runtime.semver import InvalidVersion, parse_range, parse_version


class InvalidPolicy(ValueError):
    """The spec cannot select anything whatever the tags are; fix the spec."""


@dataclass(frozen=True)
class TagFilter:
    pattern: re.Pattern[str] | None = None
    extract: str = ""

    def apply(self, tags: Iterable[str]) -> dict[str, str]:
        """Tag -> the value the policy compares (the tag, or what `extract` builds)."""
        out: dict[str, str] = {}
        for tag in tags:
            if self.pattern is None:
                out[tag] = tag
                continue
            match = self.pattern.search(tag)
            if match is None:
                continue
            out[tag] = expand(self.extract, match) if self.extract else tag
        return out


_REF = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<name>[A-Za-z0-9_]+)|(?P<dollar>\$))")


def expand(template: str, match: re.Match[str]) -> str:
    """Fill `$name`, `${name}` and `$1` from a match, the way Go's Regexp.Expand does.

    An unknown group expands to nothing, and `$$` is a literal dollar sign.
    """

    def group(ref: re.Match[str]) -> str:
        if ref.group("dollar"):
            return "$"
        key = ref.group("braced") if ref.group("braced") is not None else ref.group("name")
        try:
            value = match.group(int(key)) if key.isdigit() else match.group(key)
        except IndexError:
            return ""
        return value or ""

    return _REF.sub(group, template)


def compile_filter(spec: dict[str, Any]) -> TagFilter:
    filter_tags = spec.get("filterTags") or {}
    pattern = filter_tags.get("pattern") or ""
    extract = str(filter_tags.get("extract") or "")
    if not pattern:
        if extract:
            raise InvalidPolicy("filterTags.extract needs filterTags.pattern")
        return TagFilter()
    # Go's named groups are spelled (?P<name>…), which Python reads the same way.
    try:
        compiled = re.compile(str(pattern))
    except re.error as err:
        raise InvalidPolicy(f"invalid filterTags.pattern {pattern!r}: {err}") from err
    return TagFilter(compiled, extract)


Chooser = Callable[[dict[str, str]], str | None]


def chooser(spec: dict[str, Any]) -> Chooser:
    """The function that picks the latest tag from {tag: compared value}."""
    policy = spec.get("policy") or {}
    set_ = [k for k in ("semver", "alphabetical", "numerical") if policy.get(k) is not None]
    if len(set_) != 1:
        raise InvalidPolicy(
            "set exactly one of spec.policy.semver, spec.policy.alphabetical or "
            f"spec.policy.numerical (found {', '.join(set_) or 'none'})"
        )
    kind = set_[0]
    if kind == "semver":
        text = str((policy["semver"] or {}).get("range") or "")
        try:
            wanted = parse_range(text)
        except InvalidVersion as err:
            raise InvalidPolicy(f"invalid semver range {text!r}: {err}") from err

        def semver(values: dict[str, str]) -> str | None:
            best: tuple[Any, str] | None = None
            for tag, value in values.items():
                version = parse_version(value)
                if version is None or not wanted.matches(version):
                    continue
                # Equal versions (1.0 and 1.0.0): the tag that sorts last wins, so
                # the choice does not depend on the registry's order.
                if best is None or (version, tag) > best:
                    best = (version, tag)
            return best[1] if best else None

        return semver
    order = str((policy[kind] or {}).get("order") or "asc")
    if order not in ("asc", "desc"):
        raise InvalidPolicy(f"spec.policy.{kind}.order must be asc or desc, not {order!r}")
    if kind == "alphabetical":

        def alphabetical(values: dict[str, str]) -> str | None:
            if not values:
                return None
            pick = max if order == "asc" else min
            return pick(values, key=lambda tag: (values[tag], tag))

        return alphabetical

    def numerical(values: dict[str, str]) -> str | None:
        numbers: dict[str, float] = {}
        for tag, value in values.items():
            try:
                numbers[tag] = float(value)
            except ValueError:
                continue  # not a number: cannot be ordered numerically, so not a candidate
        if not numbers:
            return None
        pick = max if order == "asc" else min
        return pick(numbers, key=lambda tag: (numbers[tag], tag))

    return numerical


def validate(spec: dict[str, Any]) -> tuple[TagFilter, Chooser]:
    return compile_filter(spec), chooser(spec)


def latest_tag(spec: dict[str, Any], tags: Iterable[str]) -> str | None:
    """The tag the policy picks from `tags`, or None when none qualifies."""
    tag_filter, choose = validate(spec)
    return choose(tag_filter.apply(tags))


def describe_rule(spec: dict[str, Any]) -> str:
    policy = spec.get("policy") or {}
    if policy.get("semver") is not None:
        return f"semver range '{(policy['semver'] or {}).get('range', '')}'"
    for kind in ("alphabetical", "numerical"):
        if policy.get(kind) is not None:
            return f"{kind} order '{(policy[kind] or {}).get('order') or 'asc'}'"
    return "policy"
