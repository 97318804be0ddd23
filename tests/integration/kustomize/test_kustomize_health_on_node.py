"""wait and healthChecks against pods that really run on the local node.

A Deployment is healthy when its pods are Ready; one whose readiness probe never
passes fails the check with HealthCheckFailed naming it, within spec.timeout.
"""

from __future__ import annotations

import pytest

from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv.node import Node
from eddy_testenv.observe import condition, events_for
from eddy_testenv.waiting import eventually

from .conftest import StartController
from .support import KUSTOMIZATIONS, Sources, create_kustomization, ready, service

pytestmark = pytest.mark.integration

DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")


def web(name: str, image: str, ready_path: str = "/readyz") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
  progressDeadlineSeconds: 600
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: web
          image: {image}
          args: [--port=9898]
          readinessProbe:
            httpGet: {{path: {ready_path}, port: 9898}}
            periodSeconds: 1
            failureThreshold: 1
"""


async def test_wait_is_healthy_once_the_pods_are_ready(
    node: Node,
    podinfo_image: str,
    kube: ResourceClient,
    sources: Sources,
    start_controller: StartController,
    namespace: str,
) -> None:
    await sources.publish(
        "repo", {"app/deploy.yaml": web("web", podinfo_image), "app/svc.yaml": service("web")}
    )
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", wait=True, timeout="2m")
    obj = await ready(kube, namespace, "app")
    assert condition(obj, "Healthy")["status"] == "True"
    # Ready was only reported once both pods answered their readiness probe.
    deploy = await kube.get(DEPLOYMENTS, "web", namespace)
    assert deploy["status"].get("readyReplicas") == 2


async def test_a_readiness_probe_that_never_passes_fails_the_health_check(
    node: Node,
    podinfo_image: str,
    kube: ResourceClient,
    sources: Sources,
    start_controller: StartController,
    namespace: str,
) -> None:
    await sources.publish(
        "repo",
        {
            "app/good.yaml": web("good", podinfo_image),
            "app/bad.yaml": web("never-ready", podinfo_image, ready_path="/no-such-path"),
        },
    )
    await start_controller()
    await create_kustomization(
        kube, "app", namespace, path="./app", retryInterval="10m", timeout="30s",
        healthChecks=[
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "good"},
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "never-ready"},
        ],
    )  # fmt: skip

    async def failed() -> dict | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        return obj if condition(obj, "Ready").get("reason") == "HealthCheckFailed" else None

    obj = await eventually(failed, timeout=120)
    message = condition(obj, "Ready")["message"]
    assert f"Deployment/{namespace}/never-ready" in message
    assert f"Deployment/{namespace}/good" not in message
    assert condition(obj, "Healthy")["reason"] == "HealthCheckFailed"
    events = await events_for(kube, namespace, "app", "Kustomization")
    assert any(e["reason"] == "HealthCheckFailed" and e["type"] == "Warning" for e in events)
    # The pods do run; they are just never ready.
    bad = await kube.get(DEPLOYMENTS, "never-ready", namespace)
    assert not bad["status"].get("readyReplicas")
    good = await kube.get(DEPLOYMENTS, "good", namespace)
    assert good["status"].get("readyReplicas") == 2
