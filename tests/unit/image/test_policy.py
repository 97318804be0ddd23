"""Choosing the latest tag: semver ranges and prereleases, alphabetical, numerical, filters."""

from __future__ import annotations

import pytest

from eddy_runtime.semver import parse_range, parse_version
from image_automation_controller.policy import InvalidPolicy, latest_tag


def semver(range_: str, **filters: str) -> dict[str, object]:
    spec: dict[str, object] = {"policy": {"semver": {"range": range_}}}
    if filters:
        spec["filterTags"] = filters
    return spec


TAGS = ["1.0.0", "1.1.0", "1.2.0-rc.1", "v1.1.5", "2.0.0", "latest", "1.10.0", "0.9"]


@pytest.mark.parametrize(
    ("range_", "expected"),
    [
        (">=1.0.0", "2.0.0"),
        (">=1.0.0 <2.0.0", "1.10.0"),
        (">=1.0.0, <2.0.0", "1.10.0"),
        ("~1.1", "v1.1.5"),
        ("^1.0", "1.10.0"),
        ("1.x", "1.10.0"),
        ("<1.0.0", "0.9"),
        ("1.0 - 1.1", "v1.1.5"),
        ("<1.0.0 || >=2.0.0", "2.0.0"),
        (">=3.0.0", None),
    ],
)
def test_semver_ranges(range_: str, expected: str | None) -> None:
    assert latest_tag(semver(range_), TAGS) == expected


def test_prereleases_only_when_the_range_asks_for_them() -> None:
    tags = ["1.0.0", "1.1.0-rc.1", "1.1.0-rc.2", "1.1.0-beta.10"]
    assert latest_tag(semver(">=1.0.0"), tags) == "1.0.0"
    assert latest_tag(semver(">=1.0.0-0"), tags) == "1.1.0-rc.2"
    assert latest_tag(semver(">=1.0.0-0"), [*tags, "1.1.0"]) == "1.1.0"


def test_prerelease_precedence_follows_semver() -> None:
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]  # fmt: skip
    versions = [parse_version(v) for v in order]
    assert all(v is not None for v in versions)
    assert sorted(versions) == versions  # type: ignore[type-var]


def test_invalid_range_is_invalid_policy() -> None:
    with pytest.raises(InvalidPolicy, match="invalid semver range"):
        latest_tag(semver(">= one"), TAGS)
    with pytest.raises(ValueError):
        parse_range("")


def test_alphabetical_both_orders() -> None:
    tags = ["RELEASE.2024-01-01", "RELEASE.2024-03-01", "RELEASE.2023-12-31"]
    asc = {"policy": {"alphabetical": {"order": "asc"}}}
    desc = {"policy": {"alphabetical": {"order": "desc"}}}
    assert latest_tag(asc, tags) == "RELEASE.2024-03-01"
    assert latest_tag(desc, tags) == "RELEASE.2023-12-31"
    assert latest_tag({"policy": {"alphabetical": {}}}, tags) == "RELEASE.2024-03-01"


def test_numerical_orders_and_skips_non_numbers() -> None:
    tags = ["9", "10", "100", "2.5", "latest"]
    assert latest_tag({"policy": {"numerical": {"order": "asc"}}}, tags) == "100"
    assert latest_tag({"policy": {"numerical": {"order": "desc"}}}, tags) == "2.5"
    assert latest_tag({"policy": {"numerical": {}}}, ["latest"]) is None


def test_filter_and_extract_named_group() -> None:
    tags = ["main-abc123-1700000100", "main-def456-1700000200", "dev-fff-1800000000", "1.0.0"]
    spec = {
        "policy": {"numerical": {"order": "asc"}},
        "filterTags": {"pattern": r"^main-[a-f0-9]+-(?P<ts>\d+)$", "extract": "$ts"},
    }
    assert latest_tag(spec, tags) == "main-def456-1700000200"


def test_filter_with_semver_extract_and_numbered_group() -> None:
    tags = ["app-v1.2.0", "app-v1.10.0", "other-v9.0.0"]
    spec = {**semver(">=1.0.0"), "filterTags": {"pattern": r"^app-v(.*)$", "extract": "${1}"}}
    assert latest_tag(spec, tags) == "app-v1.10.0"


def test_invalid_regex_and_policy_shapes() -> None:
    with pytest.raises(InvalidPolicy, match=r"filterTags\.pattern"):
        latest_tag({**semver("*"), "filterTags": {"pattern": "(unclosed"}}, TAGS)
    with pytest.raises(InvalidPolicy, match="exactly one"):
        latest_tag({"policy": {}}, TAGS)
