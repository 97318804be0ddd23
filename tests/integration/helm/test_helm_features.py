"""What a HelmRelease's spec asks for beyond install and upgrade: impersonation, tests,
dependencies, suspension, a created namespace, an existing HelmChart, and refused
cross-namespace references. Asserted as a user sees them: conditions, `helm list`,
and the objects in the cluster."""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.annotations import FINALIZER
from eddy_runtime.finalizers import remove_finalizer
from eddy_runtime.manager import Manager
from eddy_runtime.resources import CONFIG_MAPS, NAMESPACES, Resource, ResourceClient
from eddy_testenv import ControlPlane
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.managers import settled
from eddy_testenv.observe import condition
from eddy_testenv.waiting import eventually
from helm_controller.objects import HELM_CHARTS, HELM_RELEASES, release_name

from .conftest import running_helm_controller
from .support import TEMPLATES, TIMEOUT, HelmCLI, release, repository, wait_condition

pytestmark = pytest.mark.integration

SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")

# A test hook that is not a Pod: helm creates it and, having nothing to wait for,
# counts the test as passed, so tests can pass on a control plane without a kubelet.
TEST_CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-test-ok
  annotations:
    helm.sh/hook: test
data:
  checked: "yes"
"""
# A test Pod never runs without a kubelet: `helm test` times out and fails.
TEST_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test-pod
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  containers:
    - name: check
      image: busybox:1.36
      command: ["true"]
"""


async def released(helm_cli: HelmCLI, namespace: str) -> list[tuple[str, str]]:
    return [(r["name"], r["status"]) for r in await helm_cli.releases(namespace)]


async def test_service_account_is_impersonated(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "hi"})
    await repository(kube, namespace, helm_repo)
    await kube.create(SERVICE_ACCOUNTS, {"metadata": {"name": "deployer"}}, namespace)
    spec: dict[str, Any] = {"serviceAccountName": "deployer"}
    await kube.create(HELM_RELEASES, release("app", namespace, **spec), namespace)

    async def refused() -> dict[str, Any] | None:
        got = await kube.get(HELM_RELEASES, "app", namespace)
        return got if "forbidden" in condition(got, "Ready").get("message", "").lower() else None

    obj = await eventually(refused, timeout=TIMEOUT)
    message = condition(obj, "Ready")["message"]
    assert condition(obj, "Ready")["status"] == "False"
    assert f"system:serviceaccount:{namespace}:deployer" in message
    assert condition(obj, "Stalled") == {}
    assert await released(helm_cli, namespace) == []

    # A release that never got to Helm can be deleted although its account can
    # read nothing: its finalizer does not hold the deletion forever.
    await kube.delete(HELM_RELEASES, "app", namespace)

    async def deleted() -> bool:
        return await kube.get_or_none(HELM_RELEASES, "app", namespace) is None

    await eventually(deleted, timeout=TIMEOUT)
    await kube.create(HELM_RELEASES, release("app", namespace, **spec), namespace)
    await eventually(refused, timeout=TIMEOUT)

    # Rights for the account in its namespace: the next retry installs as it.
    await kube.create(ROLES, {
        "metadata": {"name": "deployer"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }, namespace)  # fmt: skip
    await kube.create(ROLE_BINDINGS, {
        "metadata": {"name": "deployer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
    }, namespace)  # fmt: skip
    await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")
    settings = await kube.get(CONFIG_MAPS, "app-settings", namespace)
    assert settings["data"]["greeting"] == "hi"
    assert await released(helm_cli, namespace) == [("app", "deployed")]


async def test_helm_tests_pass_fail_and_are_remediated(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates={**TEMPLATES, "test.yaml": TEST_CONFIG},
                      values={"greeting": "hi"})  # fmt: skip
    helm_repo.package("pod", "1.0.0", templates={**TEMPLATES, "test.yaml": TEST_POD},
                      values={"greeting": "hi"})  # fmt: skip
    await repository(kube, namespace, helm_repo)
    passing = release("passing", namespace, test={"enable": True})
    remediate = {"remediation": {"retries": 0, "remediateLastFailure": True}}
    failing = release("failing", namespace, test={"enable": True, "timeout": "2s"},
                      install=remediate)  # fmt: skip
    ignored = release("ignored", namespace, test={"enable": True, "timeout": "2s",
                                                  "ignoreFailures": True})  # fmt: skip
    for obj in (failing, ignored):
        obj["spec"]["chart"]["spec"]["chart"] = "pod"
    for obj in (passing, failing, ignored):
        await kube.create(HELM_RELEASES, obj, namespace)

    obj = await wait_condition(kube, namespace, "passing", "Ready", "True", "TestSucceeded")
    assert condition(obj, "TestSuccess")["status"] == "True"
    assert condition(obj, "Released")["reason"] == "InstallSucceeded"
    assert obj["status"]["history"][0].get("testHooks")

    # The failed test counts as a failed install: with no retries left it is
    # remediated (uninstalled) and the release stalls until something changes.
    obj = await wait_condition(kube, namespace, "failing", "Stalled", "True", "RetriesExceeded")
    assert condition(obj, "Ready")["reason"] == "TestFailed"
    assert condition(obj, "TestSuccess")["status"] == "False"
    assert condition(obj, "Remediated")["reason"] == "UninstallSucceeded"
    assert obj["status"]["installFailures"] == 1

    obj = await wait_condition(kube, namespace, "ignored", "Ready", "True")
    assert condition(obj, "TestSuccess")["status"] == "False"
    assert condition(obj, "TestSuccess")["reason"] == "TestFailed"

    listed = dict(await released(helm_cli, namespace))
    assert listed["passing"] == "deployed"
    assert listed["ignored"] == "deployed"
    assert "failing" not in listed


async def test_depends_on_waits_for_the_other_release(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "hi"})
    await repository(kube, namespace, helm_repo)
    # The dependency cannot become Ready until its ConfigMap exists.
    base = release("base", namespace, valuesFrom=[{"kind": "ConfigMap", "name": "later"}])
    await kube.create(HELM_RELEASES, base, namespace)
    await kube.create(HELM_RELEASES, release("top", namespace, dependsOn=[{"name": "base"}]),
                      namespace)  # fmt: skip

    obj = await wait_condition(kube, namespace, "top", "Ready", "False", "DependencyNotReady")
    assert f"'{namespace}/base' is not ready" in condition(obj, "Ready")["message"]
    assert condition(obj, "Reconciling")["status"] == "True"
    assert await released(helm_cli, namespace) == []

    await kube.create(CONFIG_MAPS, {
        "metadata": {"name": "later"}, "data": {"values.yaml": "greeting: base\n"},
    }, namespace)  # fmt: skip
    await wait_condition(kube, namespace, "base", "Ready", "True", "InstallSucceeded")
    await wait_condition(kube, namespace, "top", "Ready", "True", "InstallSucceeded")
    assert sorted(await released(helm_cli, namespace)) == [
        ("base", "deployed"), ("top", "deployed")
    ]  # fmt: skip


async def test_depends_on_ready_expr_decides_instead_of_ready(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "hi"})
    await repository(kube, namespace, helm_repo)
    # The dependency is suspended and never Ready: only the expression can let "top" go.
    base = release("base", namespace, suspend=True)
    base["metadata"]["annotations"] = {"app/version": "v1"}
    await kube.create(HELM_RELEASES, base, namespace)
    expr = "dep.metadata.annotations['app/version'] == self.spec.values.version"
    top = release("top", namespace, values={"version": "v2"},
                  dependsOn=[{"name": "base", "readyExpr": expr}])  # fmt: skip
    await kube.create(HELM_RELEASES, top, namespace)

    obj = await wait_condition(kube, namespace, "top", "Ready", "False", "DependencyNotReady")
    message = condition(obj, "Ready")["message"]
    assert f"'{namespace}/base' is not ready according to readyExpr {expr!r}" in message
    assert await released(helm_cli, namespace) == []

    await kube.patch(HELM_RELEASES, "base", {"metadata": {"annotations": {"app/version": "v2"}}},
                     namespace)  # fmt: skip
    await wait_condition(kube, namespace, "top", "Ready", "True", "InstallSucceeded")
    assert await released(helm_cli, namespace) == [("top", "deployed")]

    bad = "dep.metadata.annotations['app/version'] =="
    await kube.patch(HELM_RELEASES, "top", {"spec": {"dependsOn": [
        {"name": "base", "readyExpr": bad}]}}, namespace)  # fmt: skip
    obj = await wait_condition(kube, namespace, "top", "Stalled", "True", "InvalidCELExpression")
    ready = condition(obj, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "InvalidCELExpression"
    assert "spec.dependsOn[0].readyExpr" in ready["message"] and bad in ready["message"]
    assert await released(helm_cli, namespace) == [("top", "deployed")]


async def test_suspended_release_is_left_alone(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "hi"})
    await repository(kube, namespace, helm_repo)
    created = await kube.create(HELM_RELEASES, release("app", namespace, suspend=True), namespace)
    await settled(helm_controller, "helmrelease", created)
    obj = await kube.get(HELM_RELEASES, "app", namespace)
    assert not (obj.get("status") or {}).get("conditions")
    assert await kube.get_or_none(HELM_CHARTS, f"{namespace}-app", namespace) is None
    assert await released(helm_cli, namespace) == []

    await kube.patch(HELM_RELEASES, "app", {"spec": {"suspend": False}}, namespace)
    await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")

    # Suspended again, a change of values is not released until resumed.
    change = {"spec": {"suspend": True, "values": {"greeting": "new"}}}
    changed = await kube.patch(HELM_RELEASES, "app", change, namespace)
    await settled(helm_controller, "helmrelease", changed)
    assert len(await helm_cli.history("app", namespace)) == 1
    settings = await kube.get(CONFIG_MAPS, "app-settings", namespace)
    assert settings["data"]["greeting"] == "hi"

    await kube.patch(HELM_RELEASES, "app", {"spec": {"suspend": False}}, namespace)
    await wait_condition(kube, namespace, "app", "Ready", "True", "UpgradeSucceeded")
    settings = await kube.get(CONFIG_MAPS, "app-settings", namespace)
    assert settings["data"]["greeting"] == "new"


async def test_install_creates_the_target_namespace(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "hi"})
    await repository(kube, namespace, helm_repo)
    target = f"{namespace}-made"[:63]
    spec: dict[str, Any] = {"targetNamespace": target, "install": {"createNamespace": True}}
    made = release("app", namespace, **spec)
    await kube.create(HELM_RELEASES, made, namespace)
    name = release_name(made)
    try:
        obj = await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")
        assert obj["status"]["storageNamespace"] == namespace
        assert await kube.get_or_none(NAMESPACES, target) is not None
        assert await released(helm_cli, namespace) == [(name, "deployed")]
        settings = await kube.get(CONFIG_MAPS, f"{name}-settings", target)
        assert settings["data"]["greeting"] == "hi"
    finally:
        await kube.delete(HELM_RELEASES, "app", namespace)

        async def uninstalled() -> bool:
            return await kube.get_or_none(HELM_RELEASES, "app", namespace) is None

        await eventually(uninstalled, timeout=TIMEOUT)
        await kube.delete(NAMESPACES, target)


async def test_chart_ref_uses_an_existing_helm_chart(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "shared"})
    await repository(kube, namespace, helm_repo)
    await kube.create(HELM_CHARTS, {
        "apiVersion": HELM_CHARTS.api_version, "kind": HELM_CHARTS.kind,
        "metadata": {"name": "shared"},
        "spec": {"chart": "app", "version": "1.x", "interval": "1h",
                 "sourceRef": {"kind": "HelmRepository", "name": "charts"}},
    }, namespace)  # fmt: skip
    obj = release("app", namespace, chartRef={"kind": "HelmChart", "name": "shared"})
    del obj["spec"]["chart"]
    await kube.create(HELM_RELEASES, obj, namespace)

    obj = await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")
    assert obj["status"]["helmChart"] == f"{namespace}/shared"
    assert obj["status"]["history"][0]["chartVersion"] == "1.0.0"
    assert await released(helm_cli, namespace) == [("app", "deployed")]
    # The release made no HelmChart of its own, and deleting it leaves the user's.
    assert await kube.get_or_none(HELM_CHARTS, f"{namespace}-app", namespace) is None
    await kube.delete(HELM_RELEASES, "app", namespace)

    async def gone() -> bool:
        return await kube.get_or_none(HELM_RELEASES, "app", namespace) is None

    await eventually(gone, timeout=TIMEOUT)
    assert await kube.get_or_none(HELM_CHARTS, "shared", namespace) is not None
    assert await released(helm_cli, namespace) == []


async def test_cross_namespace_references_are_refused_when_disabled(
    control_plane: ControlPlane, source_controller: ControllerProcess, kube: ResourceClient,
    namespace: str, helm_repo: HelmRepo, helm_cli: HelmCLI,
) -> None:  # fmt: skip
    other = f"{namespace}-other"[:63]
    await kube.create(NAMESPACES, {"metadata": {"name": other}})
    try:
        helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "hi"})
        await repository(kube, other, helm_repo)
        by_source = release("by-source", namespace)
        by_source["spec"]["chart"]["spec"]["sourceRef"]["namespace"] = other
        by_ref = release("by-ref", namespace, chartRef={
            "kind": "HelmChart", "name": "anything", "namespace": other,
        })  # fmt: skip
        del by_ref["spec"]["chart"]
        by_oci = release("by-oci", namespace, chartRef={
            "kind": "OCIRepository", "name": "anything", "namespace": other,
        })  # fmt: skip
        del by_oci["spec"]["chart"]
        by_dependency = release("by-dependency", namespace,
                                dependsOn=[{"name": "base", "namespace": other}])  # fmt: skip
        async with running_helm_controller(
            control_plane, namespace, kube, no_cross_namespace_refs=True
        ):
            for obj in (by_source, by_ref, by_oci, by_dependency):
                await kube.create(HELM_RELEASES, obj, namespace)
            for name in ("by-source", "by-ref", "by-oci"):
                obj = await wait_condition(kube, namespace, name, "Stalled", "True", "AccessDenied")
                assert condition(obj, "Ready")["reason"] == "AccessDenied"
                assert "cross-namespace references are disabled" in \
                    condition(obj, "Ready")["message"]  # fmt: skip
            obj = await wait_condition(
                kube, namespace, "by-dependency", "Ready", "False", "DependencyNotReady"
            )
            assert "cross-namespace references are disabled" in condition(obj, "Ready")["message"]
            # Nothing was created on the other side of the boundary.
            assert not (await kube.list(HELM_CHARTS, other)).get("items")
            assert await released(helm_cli, namespace) == []
    finally:
        await kube.delete(NAMESPACES, other)


async def test_a_finalizer_removed_from_a_stale_copy_of_a_gone_release_is_not_an_error(
    kube: ResourceClient, namespace: str
) -> None:
    # The worker may start a second deletion pass from a cache that has not yet seen
    # the object go; letting go of it then must not fail and be retried.
    obj = release("gone", namespace)
    obj["metadata"]["finalizers"] = [FINALIZER]
    stale = await kube.create(HELM_RELEASES, obj, namespace)
    await kube.patch(HELM_RELEASES, "gone", {"metadata": {"finalizers": None}}, namespace)
    await kube.delete(HELM_RELEASES, "gone", namespace)
    assert await kube.get_or_none(HELM_RELEASES, "gone", namespace) is None
    assert await remove_finalizer(kube, HELM_RELEASES, stale) is stale
