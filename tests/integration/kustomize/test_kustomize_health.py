"""Health checks (wait, healthChecks) and dependsOn, including apps of apps.

A Kustomization is Ready only when what it applied is healthy by kstatus rules, and
only after the Kustomizations it depends on are Ready at their latest generation.
"""

from __future__ import annotations

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.observe import condition, events_for

from .conftest import StartController
from .support import (
    CONFIG_MAPS,
    KUSTOMIZATIONS,
    Sources,
    config_map,
    create_kustomization,
    deployment,
    eventually,
    kustomization,
    ready,
    service,
)

pytestmark = pytest.mark.integration

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.testing.eddy.dev
spec:
  group: testing.eddy.dev
  names: {kind: Gadget, plural: gadgets, singular: gadget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""

BROKEN_GADGET = """apiVersion: testing.eddy.dev/v1
kind: Gadget
metadata:
  name: broken
status:
  conditions:
    - type: Ready
      status: "False"
      reason: Broken
      message: the gadget is broken
    - type: Stalled
      status: "True"
      reason: Broken
      message: the gadget is broken on purpose
"""


async def test_wait_reports_healthy(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish(
        "repo", {"app/deploy.yaml": deployment("web", replicas=0), "app/svc.yaml": service("web")}
    )
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", wait=True)
    obj = await ready(kube, namespace, "app")
    healthy = condition(obj, "Healthy")
    assert healthy["status"] == "True"
    assert healthy["message"].startswith("Health check passed in")


async def test_failed_health_check_names_the_object(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish(
        "repo", {"app/crd.yaml": CRD, "app/gadget.yaml": BROKEN_GADGET,
                 "app/cm.yaml": config_map("fine", a="b")},
    )  # fmt: skip
    await start_controller()
    await create_kustomization(
        kube, "app", namespace, path="./app", retryInterval="1m",
        healthChecks=[{"apiVersion": "testing.eddy.dev/v1", "kind": "Gadget", "name": "broken"}],
    )  # fmt: skip

    async def failed() -> dict | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        return obj if condition(obj, "Ready").get("reason") == "HealthCheckFailed" else None

    obj = await eventually(failed)
    message = condition(obj, "Ready")["message"]
    assert f"Gadget/{namespace}/broken" in message
    assert "broken on purpose" in message
    assert condition(obj, "Healthy")["status"] == "False"
    assert condition(obj, "Healthy")["reason"] == "HealthCheckFailed"
    events = await events_for(kube, namespace, "app", "Kustomization")
    assert any(e["reason"] == "HealthCheckFailed" and e["type"] == "Warning" for e in events)
    # The CRD came first and was Established, so the Gadget could be applied at all.
    ids = {e["id"] for e in obj["status"]["inventory"]["entries"]}
    assert f"{namespace}_broken_testing.eddy.dev_Gadget" in ids


async def test_depends_on_waits_for_the_dependency(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish(
        "repo", {"infra/cm.yaml": config_map("infra", a="b"), "app/cm.yaml": config_map("app")}
    )
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", dependsOn=[{"name": "infra"}])

    async def blocked() -> dict | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        return obj if condition(obj, "Ready").get("reason") == "DependencyNotReady" else None

    obj = await eventually(blocked)
    assert f"'{namespace}/infra'" in condition(obj, "Ready")["message"]
    await create_kustomization(kube, "infra", namespace, path="./infra")
    await ready(kube, namespace, "infra")
    await ready(kube, namespace, "app")


async def test_app_of_apps(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    child = f"""apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: child
spec:
  interval: 10m
  prune: true
  path: ./app
  targetNamespace: {namespace}
  sourceRef:
    kind: GitRepository
    name: apps
"""
    repo = """apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: apps
spec:
  interval: 1h
  url: https://example.invalid/apps.git
"""
    await sources.publish("repo", {"clusters/child.yaml": child, "clusters/repo.yaml": repo})
    await start_controller()
    await create_kustomization(kube, "parent", namespace, path="./clusters")
    await ready(kube, namespace, "parent")
    # The parent created the GitRepository; now it gets an artifact, as if fetched.
    revision = await sources.publish("apps", {"app/cm.yaml": config_map("from-child", a="b")})
    await ready(kube, namespace, "child", revision)


async def test_wait_checks_what_was_applied_not_skipped_objects(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    mark = "\n  annotations:\n    kustomize.toolkit.fluxcd.io/ssa: Ignore"
    ignored = config_map("ignored", a="b").replace("name: ignored", "name: ignored" + mark)
    await sources.publish(
        "repo", {"app/cm.yaml": config_map("applied", a="b"), "app/ignored.yaml": ignored}
    )
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", wait=True, timeout="3s")
    obj = await ready(kube, namespace, "app")
    assert condition(obj, "Healthy")["status"] == "True"


async def test_wait_does_not_wait_on_itself(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    """A Kustomization that applies itself (as a bootstrap one does) with wait: true
    must recover from a failure: its own Ready is False until this very pass ends."""
    itself = f"""apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: itself
  namespace: {namespace}
spec:
  interval: 10m
  retryInterval: 1s
  timeout: 3s
  prune: false
  wait: true
  path: ./self
  targetNamespace: {namespace}
  sourceRef:
    kind: GitRepository
    name: repo
"""
    rejected = service("bad").replace("port: 80", "port: 70000")
    await sources.publish("repo", {"self/ks.yaml": itself, "self/svc.yaml": rejected})
    await start_controller()
    await create_kustomization(
        kube, "itself", namespace, path="./self", wait=True, timeout="3s", retryInterval="1s",
        prune=False,
    )  # fmt: skip

    async def failing() -> dict | None:
        obj = await kube.get(KUSTOMIZATIONS, "itself", namespace)
        return obj if condition(obj, "Ready").get("reason") == "ReconciliationFailed" else None

    await eventually(failing)
    fixed = await sources.publish(
        "repo", {"self/ks.yaml": itself, "self/cm.yaml": config_map("fine", a="b")}
    )
    obj = await ready(kube, namespace, "itself", fixed)
    assert condition(obj, "Healthy")["status"] == "True"


async def test_depends_on_ready_expr_replaces_the_ready_rule(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    # A dependency that is never Ready (suspended, never reconciled) still counts once
    # its expression is true; a change of it is looked at at once, not after an hour.
    await sources.publish(
        "repo", {"infra/cm.yaml": config_map("infra"), "app/cm.yaml": config_map("app", a="b")}
    )
    await start_controller(requeue_dependency=3600.0)
    infra = kustomization("infra", namespace, path="./infra", suspend=True)
    infra["metadata"]["labels"] = {"app/version": "v1"}
    await kube.create(KUSTOMIZATIONS, infra)
    expr = "dep.metadata.labels['app/version'] == self.metadata.labels['app/version']"
    app = kustomization("app", namespace, path="./app", targetNamespace=namespace,
                        dependsOn=[{"name": "infra", "readyExpr": expr}])  # fmt: skip
    app["metadata"]["labels"] = {"app/version": "v2"}
    await kube.create(KUSTOMIZATIONS, app)

    obj = await reason_is(kube, namespace, "app", "DependencyNotReady")
    assert f"'{namespace}/infra' is not ready according to readyExpr {expr!r}" in \
        condition(obj, "Ready")["message"]  # fmt: skip
    assert await kube.get_or_none(CONFIG_MAPS, "app", namespace) is None

    await kube.patch(KUSTOMIZATIONS, "infra", {"metadata": {"labels": {"app/version": "v2"}}},
                     namespace)  # fmt: skip
    await ready(kube, namespace, "app")
    assert (await kube.get(CONFIG_MAPS, "app", namespace))["data"] == {"a": "b"}

    # An expression that does not compile stalls the Kustomization, named; what it
    # applied stays.
    for bad, why in (
        ("dep.metadata.(", "invalid CEL expression"),
        ("self.generation == deps.generation", "undeclared reference to 'deps'"),
    ):
        await kube.patch(KUSTOMIZATIONS, "app", {"spec": {"dependsOn": [
            {"name": "infra", "readyExpr": bad}]}}, namespace)  # fmt: skip
        obj = await reason_is(kube, namespace, "app", "InvalidCELExpression", bad)
        message = condition(obj, "Ready")["message"]
        assert "spec.dependsOn[0].readyExpr" in message and why in message, message
        assert condition(obj, "Ready")["status"] == "False"
        assert condition(obj, "Stalled")["status"] == "True"
    assert (await kube.get(CONFIG_MAPS, "app", namespace))["data"] == {"a": "b"}


async def reason_is(
    kube: ResourceClient, namespace: str, name: str, reason: str, mentioned: str = ""
) -> dict:
    async def probe() -> dict | None:
        obj = await kube.get(KUSTOMIZATIONS, name, namespace)
        ready = condition(obj, "Ready")
        if ready.get("reason") == reason and mentioned in ready.get("message", ""):
            return obj
        return None

    return await eventually(probe)
