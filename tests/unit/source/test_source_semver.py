"""Version ranges as Flux users write them: which tag or chart version wins."""

from __future__ import annotations

import pytest

from eddy_runtime.semver import InvalidVersion, Version, parse_range

VERSIONS = ["v0.9.0", "1.0.0", "v1.0.1", "1.1.0", "1.2.0-rc.1", "1.2.0", "2.0.0-alpha", "2.0.0"]


@pytest.mark.parametrize(
    ("text", "best"),
    [
        ("*", "2.0.0"),
        (">=1.0.0 <2.0.0", "1.2.0"),
        (">=1.0.0, <1.2.0", "1.1.0"),
        ("~1.0", "v1.0.1"),
        ("~1.0.0", "v1.0.1"),
        ("^1.0.0", "1.2.0"),
        ("^0.9", "v0.9.0"),
        ("1.x", "1.2.0"),
        ("1.0.x", "v1.0.1"),
        ("1.0 - 1.1", "1.1.0"),
        ("<1.0.0 || >=2.0.0", "2.0.0"),
        ("= 1.1.0", "1.1.0"),
        ("!=2.0.0", "1.2.0"),
        (">1.2.0-rc.0 <=1.2.0-rc.9", "1.2.0-rc.1"),
        (">=2.0.0-alpha", "2.0.0"),
        (">3", None),
    ],
)
def test_highest_matching_version(text: str, best: str | None) -> None:
    found = parse_range(text).best(Version.parse(v) for v in VERSIONS)
    assert (found.original if found else None) == best


def test_pre_releases_only_match_ranges_that_name_one() -> None:
    assert not parse_range(">=1.0.0").matches(Version.parse("1.2.0-rc.1"))
    assert parse_range(">=1.2.0-rc.0").matches(Version.parse("1.2.0-rc.1"))


def test_ordering_follows_semver() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
               "1.0.0"]  # fmt: skip
    parsed = [Version.parse(v) for v in ordered]
    assert sorted(reversed(parsed)) == parsed


@pytest.mark.parametrize("text", ["", "not a range", ">=1.0.0 ||", "1.0.0.0"])
def test_invalid_ranges_are_refused(text: str) -> None:
    with pytest.raises(InvalidVersion):
        parse_range(text)


def test_every_comparison_must_name_a_pre_release() -> None:
    # Flux's semver library checks pre-releases per comparison, not per range.
    assert parse_range(">=1.0.0-0").matches(Version.parse("1.1.0-rc.1"))
    assert not parse_range(">=1.0.0-0 <2.0.0").matches(Version.parse("1.1.0-rc.1"))
    assert parse_range(">=1.0.0-0 <2.0.0-0").matches(Version.parse("1.1.0-rc.1"))
    assert parse_range("1.0.0 || >=1.1.0-0").matches(Version.parse("1.1.0-rc.1"))
