"""`eddy push artifact` into a real registry, read back through the registry's own API."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from eddy_testenv.registry import Registry

from .support import eddy, one_error_line

pytestmark = pytest.mark.integration

SHA = "0123456789abcdef0123456789abcdef01234567"


def _tree(root: Path) -> Path:
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "app.yaml").write_text("kind: ConfigMap\nmetadata:\n  name: app\n")
    (root / "kustomization.yaml").write_text("resources: [apps/app.yaml]\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root


def test_push_in_flux_format(oci_registry: Registry, oci_repository: str, tmp_path: Path) -> None:
    root = _tree(tmp_path / "deploy")
    url = oci_registry.url(f"{oci_repository}:v1")
    creds = f"{oci_registry.username}:{oci_registry.password}"
    result = eddy(
        "push",
        "artifact",
        url,
        "--path",
        str(root),
        "--source",
        "https://git.example.com/app.git",
        "--revision",
        f"main/{SHA}",
        "-a",
        "team=apps",
        "--creds",
        creds,
        "--insecure-registry",
        "-o",
        "json",
    )
    assert result.code == 0, result.stderr
    pushed = result.json()

    status, headers, body = oci_registry.request(
        f"/v2/{oci_repository}/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["docker-content-digest"] == pushed["digest"]
    manifest = json.loads(body)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.flux.config.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.cncf.flux.content.v1.tar+gzip"
    notes = manifest["annotations"]
    assert notes["org.opencontainers.image.source"] == "https://git.example.com/app.git"
    assert notes["org.opencontainers.image.revision"] == f"main@sha1:{SHA}"
    assert notes["org.opencontainers.image.created"].endswith("Z")
    assert notes["team"] == "apps"

    status, _, blob = oci_registry.request(f"/v2/{oci_repository}/blobs/{layer['digest']}")
    assert status == 200 and len(blob) == layer["size"]
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["apps/app.yaml", "kustomization.yaml"]

    again = eddy(
        "push",
        "artifact",
        oci_registry.url(f"{oci_repository}:v2"),
        "--path",
        str(root),
        "--creds",
        creds,
        "--insecure-registry",
        "-o",
        "json",
    )
    assert again.code == 0, again.stderr
    assert again.json()["layerDigest"] == pushed["layerDigest"], "same files, same layer"
    assert sorted(oci_registry.tags(oci_repository)) == ["v1", "v2"]


def test_wrong_credentials(oci_registry: Registry, oci_repository: str, tmp_path: Path) -> None:
    root = _tree(tmp_path / "deploy")
    result = eddy(
        "push",
        "artifact",
        oci_registry.url(oci_repository),
        "--path",
        str(root),
        "--creds",
        "eddy:wrong",
        "--insecure-registry",
    )
    line = one_error_line(result)
    assert "refused the credentials" in line and "wrong" not in line


def test_plain_http_registry_without_the_flag(
    oci_registry_anonymous: Registry, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "deploy")
    result = eddy("push", "artifact", oci_registry_anonymous.url("app"), "--path", str(root))
    assert "--insecure-registry" in one_error_line(result)


def test_bad_input(tmp_path: Path) -> None:
    line = one_error_line(eddy("push", "artifact", "https://r.io/app", "--path", str(tmp_path)))
    assert "is not an OCI URL" in line
    missing = tmp_path / "missing"
    line = one_error_line(eddy("push", "artifact", "oci://r.io/app", "--path", str(missing)))
    assert "is not a directory" in line
