"""The OCI registry fixture is a real distribution registry: helm pushes and pulls from it.

OCI HelmRepositories are tested against it, so helm and the HTTP API are the judges.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eddy_testenv.helmrepo import run_helm
from eddy_testenv.process import ProcessError
from eddy_testenv.registry import CHART_LAYER_MEDIA_TYPE, Registry

pytestmark = pytest.mark.integration


def test_push_with_helm_and_list_tags(oci_registry: Registry, oci_repository: str) -> None:
    archive = oci_registry.publish("demo", "1.0.0", repository=oci_repository)
    oci_registry.publish("demo", "1.1.0+build.2", repository=oci_repository)
    assert sorted(oci_registry.tags(f"{oci_repository}/demo")) == ["1.0.0", "1.1.0_build.2"]

    status, _, body = oci_registry.request(
        f"/v2/{oci_repository}/demo/manifests/1.0.0",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert status == 200
    layers = json.loads(body)["layers"]
    assert [layer["mediaType"] for layer in layers] == [CHART_LAYER_MEDIA_TYPE]
    status, _, blob = oci_registry.request(f"/v2/{oci_repository}/demo/blobs/{layers[0]['digest']}")
    assert status == 200 and blob == archive.read_bytes()


def test_credentials_are_required(oci_registry: Registry, oci_repository: str) -> None:
    oci_registry.publish("demo", "1.0.0", repository=oci_repository)
    status, headers, _ = oci_registry.request("/v2/", auth=False)
    assert status == 401
    assert {k.lower(): v for k, v in headers.items()}["www-authenticate"].startswith("Basic ")
    status, _, _ = oci_registry.request(f"/v2/{oci_repository}/demo/tags/list", auth=False)
    assert status == 401
    assert oci_registry.request("/v2/")[0] == 200


def test_helm_pulls_what_was_pushed(
    oci_registry: Registry, oci_repository: str, tmp_path: Path
) -> None:
    oci_registry.publish("demo", "2.0.0", repository=oci_repository, values={"greeting": "hi"})
    home = tmp_path / "helm"
    ref = f"{oci_registry.url(oci_repository)}/demo"
    with pytest.raises(ProcessError):
        run_helm("pull", ref, "--version", "2.0.0", "--plain-http", home=home)
    assert oci_registry.password is not None and oci_registry.username is not None
    run_helm("registry", "login", oci_registry.host, "--insecure", "--username",
             oci_registry.username, "--password", oci_registry.password, home=home)  # fmt: skip
    run_helm("pull", ref, "--version", "2.0.0", "--plain-http", "--destination", str(tmp_path),
             home=home)  # fmt: skip
    assert (tmp_path / "demo-2.0.0.tgz").is_file()


def test_tls_with_generated_ca(
    oci_registry_tls: Registry, oci_repository: str, tmp_path: Path
) -> None:
    assert oci_registry_tls.base_url.startswith("https://") and oci_registry_tls.ca_file
    oci_registry_tls.publish("demo", "1.0.0", repository=oci_repository)
    assert oci_registry_tls.tags(f"{oci_repository}/demo") == ["1.0.0"]
    home = tmp_path / "helm"
    with pytest.raises(ProcessError, match="certificate"):
        run_helm("registry", "login", oci_registry_tls.host, "--username", "x", "--password",
                 "y", home=home)  # fmt: skip


def test_anonymous_registry(oci_registry_anonymous: Registry, oci_repository: str) -> None:
    oci_registry_anonymous.publish("demo", "0.1.0", repository=oci_repository)
    assert oci_registry_anonymous.request("/v2/", auth=False)[0] == 200
    assert oci_registry_anonymous.tags(f"{oci_repository}/demo") == ["0.1.0"]
