"""The Helm repository is what `helm` itself expects: repo add, pull, auth and TLS.

HelmRepository reconcilers are tested against it, so the helm CLI is the judge.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from eddy_testenv.helmrepo import HelmRepo, run_helm
from eddy_testenv.process import ProcessError

pytestmark = pytest.mark.integration


def test_repo_add_and_pull(helm_repo: HelmRepo, tmp_path: Path) -> None:
    helm_repo.package("demo", "1.0.0")
    helm_repo.package("demo", "1.2.0", values={"greeting": "hi"})
    index = helm_repo.read_index()
    versions = [entry["version"] for entry in index["entries"]["demo"]]
    assert versions == ["1.2.0", "1.0.0"]
    assert index["entries"]["demo"][0]["urls"] == [helm_repo.chart_url("demo", "1.2.0")]

    home = tmp_path / "helm"
    run_helm("repo", "add", "eddy", helm_repo.url, home=home)
    found = run_helm("search", "repo", "eddy/demo", "--versions", home=home)
    assert "1.2.0" in found and "1.0.0" in found
    out = tmp_path / "pulled"
    out.mkdir()
    run_helm(
        "pull", "eddy/demo", "--version", "1.2.0", "--untar", "--destination", str(out), home=home
    )
    assert yaml.safe_load((out / "demo/values.yaml").read_text()) == {"greeting": "hi"}
    assert "GET /index.yaml 200" in helm_repo.requests


def test_basic_auth(helm_repo_factory: Callable[..., HelmRepo], tmp_path: Path) -> None:
    repo = helm_repo_factory(username="helm", password="s3cret")
    repo.package("demo", "1.0.0")
    home = tmp_path / "helm"
    with pytest.raises(ProcessError, match="401"):
        run_helm("repo", "add", "anon", repo.url, home=home)
    with pytest.raises(ProcessError, match="401"):
        run_helm(
            "repo", "add", "wrong", repo.url, "--username", "helm", "--password", "nope", home=home
        )
    run_helm("repo", "add", "ok", repo.url, "--username", "helm", "--password", "s3cret", home=home)
    out = tmp_path / "pulled"
    out.mkdir()
    run_helm("pull", "ok/demo", "--destination", str(out), home=home)
    assert (out / "demo-1.0.0.tgz").is_file()


def test_tls_with_generated_ca(helm_repo_factory: Callable[..., HelmRepo], tmp_path: Path) -> None:
    repo = helm_repo_factory(tls=True)
    repo.package("demo", "1.0.0")
    assert repo.url.startswith("https://") and repo.ca_file is not None
    home = tmp_path / "helm"
    with pytest.raises(ProcessError, match="certificate"):
        run_helm("repo", "add", "untrusted", repo.url, home=home)
    run_helm("repo", "add", "trusted", repo.url, "--ca-file", str(repo.ca_file), home=home)


@pytest.mark.parametrize("kind", ["yaml", "empty", "no-api-version"])
def test_malformed_index_is_rejected_by_helm(
    helm_repo: HelmRepo, tmp_path: Path, kind: str
) -> None:
    helm_repo.package("demo", "1.0.0")
    helm_repo.write_malformed_index(kind)
    with pytest.raises(ProcessError):
        run_helm("repo", "add", "broken", helm_repo.url, home=tmp_path / "helm")


def test_missing_chart_archive_is_a_404(helm_repo: HelmRepo, tmp_path: Path) -> None:
    helm_repo.write_malformed_index("missing-chart")
    home = tmp_path / "helm"
    run_helm("repo", "add", "ghosts", helm_repo.url, home=home)
    with pytest.raises(ProcessError, match="404"):
        run_helm("pull", "ghosts/ghost", "--destination", str(tmp_path), home=home)
