"""The install manifests the eddy command ships, and what its options change in them."""

from __future__ import annotations

import pytest

from eddy_cli.errors import CliError
from eddy_cli.manifests import Options, controllers, render


def test_every_controller_once_source_first() -> None:
    names = controllers()
    assert len(names) == len(set(names)) and names[0] == "source-controller"
    assert {"kustomize-controller", "helm-controller"} <= set(names)


def test_a_subset_keeps_only_its_controllers_and_their_bindings() -> None:
    docs = render(Options("gitops", ["source-controller", "kustomize-controller"], "r.test", "1"))
    deployments = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    assert deployments == {"source-controller", "kustomize-controller"}
    crd_groups = {d["spec"]["group"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert "helm.toolkit.fluxcd.io" not in crd_groups
    for doc in docs:
        for subject in doc.get("subjects") or []:
            assert subject["name"] in deployments and subject["namespace"] == "gitops"
        if doc["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole",
                               "ClusterRoleBinding"):  # fmt: skip
            assert doc["metadata"]["namespace"] == "gitops"


def test_render_does_not_change_what_is_shipped() -> None:
    render(Options("first"))
    names = {d["metadata"]["name"] for d in render(Options()) if d["kind"] == "Namespace"}
    assert names == {"flux-system"}


@pytest.mark.parametrize(
    ("components", "message"),
    [(["helm-controller"], "add source-controller"), (["nope"], "unknown component nope")],
)
def test_refused_components(components: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message):
        render(Options(components=components))
