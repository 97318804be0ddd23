"""The CRDs of a chart's crds/ directory under `install.crds` and `upgrade.crds`: what
exists in the cluster after each install and upgrade, as `kubectl get crd` shows it,
and what Helm keeps in the release (`helm get manifest`)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from eddy_runtime.manager import Manager
from eddy_runtime.resources import CRDS, Resource, ResourceClient
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.observe import condition
from helm_controller.objects import HELM_RELEASES

from .support import (
    CONFIG,
    HELM_REPOSITORIES,
    HelmCLI,
    release,
    repository,
    wait_condition,
    wait_revision,
)

pytestmark = pytest.mark.integration


def crd(group: str, kind: str, fields: tuple[str, ...]) -> str:
    """A namespaced CRD whose spec has `fields` (strings): the version a chart ships."""
    plural = f"{kind.lower()}s"
    doc = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object",
                             "properties": {f: {"type": "string"} for f in fields}},
                }}},
            }],
        },
    }  # fmt: skip
    return yaml.safe_dump(doc)


def gadget(group: str) -> str:
    """A Gadget made by the chart's templates: it needs the CRD before the install."""
    return (
        f"apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: {{{{ .Release.Name }}}}-one\n"
        "spec:\n  size: {{ .Values.size | quote }}\n"
    )


def package(helm_repo: HelmRepo, version: str, crds: dict[str, str], group: str) -> None:
    templates = {"configmap.yaml": CONFIG, "gadget.yaml": gadget(group)}
    chart_dir = helm_repo.write_chart(
        "app", version, templates=templates, values={"greeting": "hi", "size": "s"}
    )
    (chart_dir / "crds").mkdir()
    for name, text in crds.items():
        (chart_dir / "crds" / name).write_text(text)
    helm_repo.package_dir(chart_dir)


async def properties(kube: ResourceClient, name: str) -> set[str]:
    found = await kube.get(CRDS, name)
    schema = found["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return set(schema["properties"]["spec"]["properties"])


async def upgraded(
    kube: ResourceClient, namespace: str, patch: dict[str, Any], version: int
) -> None:
    """Change the spec (and values, so Helm upgrades) and wait for that revision."""
    await kube.patch(HELM_RELEASES, "app", {"spec": patch}, namespace)
    obj = await wait_revision(kube, namespace, version)
    assert condition(obj, "Ready")["reason"] == "UpgradeSucceeded"


async def test_crds_follow_the_install_and_upgrade_policies(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI, group: str,
) -> None:  # fmt: skip
    gadgets, widgets = f"gadgets.{group}", f"widgets.{group}"
    package(helm_repo, "1.0.0", {"gadget.yaml": crd(group, "Gadget", ("size",))}, group)
    await repository(kube, namespace, helm_repo)
    # No install.crds: Create, the default.
    spec: dict[str, Any] = {"upgrade": {"crds": "Skip"}, "values": {"size": "s"}}
    await kube.create(HELM_RELEASES, release("app", namespace, **spec), namespace)

    await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")
    made = await kube.get(CRDS, gadgets)
    assert made["metadata"]["labels"] == {
        "helm.toolkit.fluxcd.io/name": "app", "helm.toolkit.fluxcd.io/namespace": namespace,
    }  # fmt: skip
    assert await properties(kube, gadgets) == {"size"}
    # The chart's own Gadget was made with it; the CRD is not part of the release.
    one = await kube.get(Resource(group, "v1", "gadgets", "Gadget"), "app-one", namespace)
    assert one["spec"] == {"size": "s"}
    manifest = helm_cli.run("get", "manifest", "app", "-n", namespace)
    assert "kind: Gadget" in manifest and "CustomResourceDefinition" not in manifest

    # 1.1.0 changes the Gadget CRD and brings a Widget CRD.
    changed = {
        "gadget.yaml": crd(group, "Gadget", ("size", "color")),
        "widget.yaml": crd(group, "Widget", ("shape",)),
    }
    package(helm_repo, "1.1.0", changed, group)
    await kube.patch(
        HELM_REPOSITORIES, "charts",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": str(time.time())}}},
        namespace,
    )  # fmt: skip
    obj = await wait_revision(kube, namespace, 2)
    assert obj["status"]["history"][0]["chartVersion"] == "1.1.0"
    # Skip: the changed CRD is left as it was, the new one is not made.
    assert await properties(kube, gadgets) == {"size"}
    assert await kube.get_or_none(CRDS, widgets) is None

    # Create: the missing CRD is made, the existing one still left alone.
    await upgraded(kube, namespace, {"upgrade": {"crds": "Create"}, "values": {"size": "m"}}, 3)
    assert await properties(kube, widgets) == {"shape"}
    assert await properties(kube, gadgets) == {"size"}

    # CreateReplace: the existing CRD becomes the chart's.
    patch = {"upgrade": {"crds": "CreateReplace"}, "values": {"size": "l"}}
    await upgraded(kube, namespace, patch, 4)
    assert await properties(kube, gadgets) == {"size", "color"}
    history = await helm_cli.history("app", namespace)
    assert [h["status"] for h in history] == ["superseded"] * 3 + ["deployed"]


async def test_install_skip_makes_no_crd_and_the_release_fails_on_its_kind(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    group: str,
) -> None:  # fmt: skip
    package(helm_repo, "1.0.0", {"gadget.yaml": crd(group, "Gadget", ("size",))}, group)
    await repository(kube, namespace, helm_repo)
    spec: dict[str, Any] = {"install": {"crds": "Skip"}}
    await kube.create(HELM_RELEASES, release("app", namespace, **spec), namespace)

    obj = await wait_condition(kube, namespace, "app", "Released", "False", "InstallFailed")
    assert "Gadget" in condition(obj, "Released")["message"]
    assert await kube.get_or_none(CRDS, f"gadgets.{group}") is None


async def test_install_create_replace_replaces_an_existing_crd(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    group: str,
) -> None:  # fmt: skip
    gadgets = f"gadgets.{group}"
    await kube.create(CRDS, yaml.safe_load(crd(group, "Gadget", ("size",))))
    package(helm_repo, "1.0.0", {"gadget.yaml": crd(group, "Gadget", ("size", "color"))}, group)
    await repository(kube, namespace, helm_repo)
    # Create leaves the CRD someone else made as it is ...
    await kube.create(HELM_RELEASES, release("kept", namespace), namespace)
    await wait_condition(kube, namespace, "kept", "Ready", "True", "InstallSucceeded")
    assert await properties(kube, gadgets) == {"size"}
    assert "labels" not in (await kube.get(CRDS, gadgets))["metadata"]

    # ... CreateReplace makes it the chart's, labelled with the HelmRelease.
    spec: dict[str, Any] = {"install": {"crds": "CreateReplace"}}
    await kube.create(HELM_RELEASES, release("replaced", namespace, **spec), namespace)
    await wait_condition(kube, namespace, "replaced", "Ready", "True", "InstallSucceeded")
    assert await properties(kube, gadgets) == {"size", "color"}
    labels = (await kube.get(CRDS, gadgets))["metadata"]["labels"]
    assert labels["helm.toolkit.fluxcd.io/name"] == "replaced"
