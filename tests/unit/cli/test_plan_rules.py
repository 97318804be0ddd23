"""The pure rules of `eddy plan`: what --revision names in a registry, and which fields a
new Helm release drops."""

from __future__ import annotations

from pathlib import Path

import pytest

from eddy_cli.errors import CliError
from eddy_cli.helmplan import _without_dropped
from eddy_cli.ocisource import split_revision
from eddy_helm.manifest import kept
from eddy_helm.render import dry_run_args

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        ("v1.2.0", ("v1.2.0", "")),
        (DIGEST, ("", DIGEST)),
        (f"v1.2.0@{DIGEST}", ("v1.2.0", DIGEST)),
    ],
)
def test_a_revision_is_a_tag_a_digest_or_both(revision: str, expected: tuple[str, str]) -> None:
    assert split_revision(revision) == expected


@pytest.mark.parametrize("revision", ["v1@sha256:nope", "-v1", "a/b", f"{DIGEST}@{DIGEST}"])
def test_anything_else_is_refused(revision: str) -> None:
    with pytest.raises(CliError, match="neither a tag nor a digest"):
        split_revision(revision)


def test_fields_the_previous_release_rendered_and_this_one_does_not_are_dropped() -> None:
    previous = {"data": {"a": "1", "b": "2"}, "metadata": {"labels": {"x": "1", "y": "2"}}}
    rendered = {"data": {"a": "1"}, "metadata": {"labels": {"x": "1"}}}
    # The dry run keeps what another manager set (z) and what Helm set before (b, y).
    dry = {"data": {"a": "1", "b": "2"}, "metadata": {"labels": {"x": "1", "y": "2", "z": "3"}}}
    assert _without_dropped(dry, previous, rendered) == {
        "data": {"a": "1"},
        "metadata": {"labels": {"x": "1", "z": "3"}},
    }
    assert dry["data"] == {"a": "1", "b": "2"}, "the answer itself is left alone"


def test_helm_keeps_objects_with_the_keep_policy() -> None:
    assert kept({"metadata": {"annotations": {"helm.sh/resource-policy": "keep"}}})
    assert not kept({"metadata": {"annotations": {}}})


def test_the_dry_run_is_the_controllers_command_line_without_waiting() -> None:
    spec = {"upgrade": {"force": True}, "install": {"createNamespace": True}}
    args = dry_run_args(spec, "web", "apps", Path("/chart"), Path("/v.json"), upgrade=True)
    assert args[:3] == ["upgrade", "web", "/chart"]
    assert "--force" in args and "--wait" not in args and "--wait-for-jobs" not in args
    assert args[-3:] == ["--dry-run=server", "--output", "json"]
    install = dry_run_args(spec, "web", "apps", Path("/chart"), Path("/v.json"), upgrade=False)
    assert install[0] == "install" and "--create-namespace" in install
