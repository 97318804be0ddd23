"""docker/Dockerfile ships the kustomize and helm that the tests run.

The image builds both from hack/tools/*; the versions it stamps must be the ones pinned there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"

# wrapper module under hack/tools, the Go module it pins, the Dockerfile ARG stamping it
PINS = [
    ("kustomize", "sigs.k8s.io/kustomize/kustomize/v5", "KUSTOMIZE_VERSION"),
    ("helm", "helm.sh/helm/v3", "HELM_VERSION"),
    ("sops", "github.com/getsops/sops/v3", "SOPS_VERSION"),
]
ENTRY_POINTS = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "image-automation-controller",
]


def pinned(tool: str, module: str) -> str:
    text = (ROOT / "hack" / "tools" / tool / "go.mod").read_text()
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    assert found, f"hack/tools/{tool}/go.mod pins no version of {module}"
    return found.group(1)


def dockerfile_arg(name: str) -> str:
    found = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert found, f"docker/Dockerfile has no ARG {name}=<version>"
    return found.group(1)


@pytest.mark.parametrize(("tool", "module", "arg"), PINS)
def test_image_stamps_the_pinned_version(tool: str, module: str, arg: str) -> None:
    assert dockerfile_arg(arg) == pinned(tool, module), (
        f"docker/Dockerfile {arg} differs from hack/tools/{tool}/go.mod; change both together"
    )


@pytest.mark.parametrize(("tool", "module", "arg"), PINS)
def test_image_builds_from_the_pinned_module(tool: str, module: str, arg: str) -> None:
    text = DOCKERFILE.read_text()
    assert f"COPY hack/tools/{tool} " in text
    assert f"-o /out/{tool} {module}" in text, f"docker/Dockerfile does not build {module}"


def test_base_images() -> None:
    froms = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert froms == ["golang:1.26", "python:3.11-slim"]


def test_image_runs_as_nobody() -> None:
    assert re.search(r"^USER 65534(:65534)?$", DOCKERFILE.read_text(), re.MULTILINE)


def test_entry_points_are_the_installed_scripts() -> None:
    """The Deployments run these commands; pyproject.toml must install each one."""
    scripts = (ROOT / "pyproject.toml").read_text()
    for name in ENTRY_POINTS:
        assert re.search(rf'^{name} = "', scripts, re.MULTILINE), name
        deployment = ROOT / "manifests" / "controllers" / f"{name}.yaml"
        assert f"command: [{name}]" in deployment.read_text()
