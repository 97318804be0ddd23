"""Controllers read eddy's own kinds through eddy_api's types where a rule is written there.

A spec walked by hand three levels deep, or a field whose rule the typed API holds
(release names, timeouts, the deletion policy) read raw again, is a second copy of
that rule, free to drift from the first; these checks keep it to one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CONTROLLERS = Path(__file__).resolve().parents[2] / "controllers"

# `((x.get("a") or {}).get("b") or {}).get("c")`
RAW_WALK = re.compile(r"\.get\([^()]*\) or \{\}\)\.get\([^()]*\) or \{\}\)\.get\(")

# Fields whose rule lives in a typed method, per controller package.
TYPED_RULES = {
    "kustomize_controller": {
        '"deletionPolicy"': "KustomizationSpec.deletes_on_deletion()",
        '"retryInterval"': "KustomizationSpec.retry_interval_seconds()",
        '"timeout"': "KustomizationSpec.timeout_seconds()",
        '"interval"': "KustomizationSpec.interval_seconds()",
    },
    "helm_controller": {
        '"releaseName"': "HelmRelease.release_name()",
        '"targetNamespace"': "HelmRelease.release_namespace()",
    },
}


def sources() -> list[Path]:
    return sorted(CONTROLLERS.rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(CONTROLLERS)))
def test_no_spec_is_walked_three_levels_deep(path: Path) -> None:
    walks = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if RAW_WALK.search(line)
    ]
    assert not walks, "read it through the eddy_api type instead:\n" + "\n".join(walks)


@pytest.mark.parametrize("package", sorted(TYPED_RULES))
def test_typed_rules_are_not_read_raw_again(package: str) -> None:
    found = [
        f"{path.relative_to(CONTROLLERS)}:{number}: {field} (use {method})"
        for path in sorted((CONTROLLERS / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for field, method in TYPED_RULES[package].items()
        if field in line
    ]
    assert not found, "\n".join(found)


def test_the_checks_can_fail() -> None:
    assert RAW_WALK.search('((spec.get("chart") or {}).get("spec") or {}).get("sourceRef")')
    assert not RAW_WALK.search('(spec.get("chart") or {}).get("spec")')
