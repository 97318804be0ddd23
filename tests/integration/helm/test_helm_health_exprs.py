"""spec.healthCheckExprs: a release's custom objects judged by CEL while Helm waits.

The chart ships a Widget CRD (with a status subresource) and a Widget; the test
plays the Widget's controller by writing its status, and checks what a user sees:
the HelmRelease's conditions and Helm's own history.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from eddy_runtime.manager import Manager
from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.observe import condition
from eddy_testenv.waiting import eventually
from helm_controller.objects import HELM_RELEASES

from .support import CONFIG, TIMEOUT, HelmCLI, release, repository, wait_condition

pytestmark = pytest.mark.integration

WIDGET = """\
apiVersion: {group}/v1
kind: Widget
metadata:
  name: {{{{ .Release.Name }}}}-one
spec:
  size: small
"""


def widget_crd(group: str) -> str:
    doc = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                }}},
            }],
        },
    }  # fmt: skip
    return yaml.safe_dump(doc)


def package(helm_repo: HelmRepo, group: str) -> None:
    templates = {"configmap.yaml": CONFIG, "widget.yaml": WIDGET.format(group=group)}
    chart_dir = helm_repo.write_chart(
        "app", "1.0.0", templates=templates, values={"greeting": "hi"}
    )
    (chart_dir / "crds").mkdir()
    (chart_dir / "crds" / "widget.yaml").write_text(widget_crd(group))
    helm_repo.package_dir(chart_dir)


def exprs(group: str, current: str = "status.phase == 'Ready'") -> list[dict[str, str]]:
    return [{
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "inProgress": "status.phase == 'Pending'",
        "failed": "status.phase == 'Broken'",
        "current": current,
    }]  # fmt: skip


def widgets(group: str) -> Resource:
    return Resource(group, "v1", "widgets", "Widget")


async def waiting_on(kube: ResourceClient, group: str, name: str, namespace: str) -> None:
    """Wait until Helm made the Widget and still waits for it: the HelmRelease is
    Reconciling and Helm's record is pending-install."""

    async def probe() -> bool:
        made = await kube.get_or_none(widgets(group), f"{name}-one", namespace)
        obj = await kube.get(HELM_RELEASES, name, namespace)
        return made is not None and condition(obj, "Reconciling").get("status") == "True"

    await eventually(probe, timeout=TIMEOUT)


async def install_waiting_on_widget(
    kube: ResourceClient, namespace: str, helm_repo: HelmRepo, group: str
) -> None:
    """Install release `app` judged by `exprs`, and wait until Helm waits on its Widget."""
    package(helm_repo, group)
    await repository(kube, namespace, helm_repo)
    spec: dict[str, Any] = {"healthCheckExprs": exprs(group), "timeout": "2m"}
    await kube.create(HELM_RELEASES, release("app", namespace, **spec), namespace)
    await waiting_on(kube, group, "app", namespace)


async def set_phase(
    kube: ResourceClient, group: str, name: str, namespace: str, phase: str
) -> None:
    await kube.patch_status(widgets(group), f"{name}-one", {"status": {"phase": phase}}, namespace)


async def test_release_is_ready_only_once_its_widget_is_current(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI, group: str,
) -> None:  # fmt: skip
    await install_waiting_on_widget(kube, namespace, helm_repo, group)
    await set_phase(kube, group, "app", namespace, "Pending")
    # Helm is still waiting: the first expression says the Widget is in progress.
    assert [h["status"] for h in await helm_cli.history("app", namespace)] == ["pending-install"]
    obj = await kube.get(HELM_RELEASES, "app", namespace)
    assert condition(obj, "Ready").get("status") != "True"

    await set_phase(kube, group, "app", namespace, "Ready")
    obj = await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")
    assert [h["status"] for h in await helm_cli.history("app", namespace)] == ["deployed"]

    # The Widget breaks; the next upgrade waits for it too, and fails naming it.
    await set_phase(kube, group, "app", namespace, "Broken")
    await kube.patch(HELM_RELEASES, "app", {"spec": {"values": {"greeting": "ho"}}}, namespace)
    obj = await wait_condition(kube, namespace, "app", "Ready", "False", "UpgradeFailed")
    message = condition(obj, "Ready")["message"]
    assert f"Widget/{namespace}/app-one status: 'Failed'" in message, message
    history = await helm_cli.history("app", namespace)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "deployed"), (2, "failed")]


async def test_a_failed_widget_fails_the_install_naming_it(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI, group: str,
) -> None:  # fmt: skip
    await install_waiting_on_widget(kube, namespace, helm_repo, group)
    await set_phase(kube, group, "app", namespace, "Broken")
    obj = await wait_condition(kube, namespace, "app", "Ready", "False", "InstallFailed")
    message = condition(obj, "Ready")["message"]
    assert f"Widget/{namespace}/app-one status: 'Failed'" in message, message
    assert "status.phase == 'Broken'" in message, message
    assert condition(obj, "Released")["reason"] == "InstallFailed"
    # Helm recorded the failed wait as a failed release.
    assert [h["status"] for h in await helm_cli.history("app", namespace)] == ["failed"]


async def test_bad_expressions_stall_before_helm_and_disable_wait_skips_them(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI, group: str,
) -> None:  # fmt: skip
    package(helm_repo, group)
    await repository(kube, namespace, helm_repo)
    bad: dict[str, Any] = {"healthCheckExprs": exprs(group, current="status.phase ==")}
    await kube.create(HELM_RELEASES, release("bad", namespace, **bad), namespace)
    # Without wait, Helm does not wait, so no expression is asked: the Widget that
    # never gets a status does not hold the release.
    quiet: dict[str, Any] = {"healthCheckExprs": exprs(group), "install": {"disableWait": True}}
    await kube.create(HELM_RELEASES, release("quiet", namespace, **quiet), namespace)

    obj = await wait_condition(kube, namespace, "bad", "Ready", "False", "InvalidCELExpression")
    message = condition(obj, "Ready")["message"]
    assert "spec.healthCheckExprs[0].current" in message, message
    assert condition(obj, "Stalled")["reason"] == "InvalidCELExpression"
    await wait_condition(kube, namespace, "quiet", "Ready", "True", "InstallSucceeded")
    assert (await kube.get(widgets(group), "quiet-one", namespace)).get("status") is None
    assert [r["name"] for r in await helm_cli.releases(namespace)] == ["quiet"]
