"""HelmRelease waits for its pods on the local node: Ready only once they are.

An install waits (Helm's `--wait`) until the release's Deployment has its pods
Ready; one whose readiness probe never passes fails the install when
`install.timeout` runs out, the release is left failed in Helm's history, and
the HelmRelease says so instead of claiming success.
"""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.manager import Manager
from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.node import Node
from eddy_testenv.observe import condition, events_for
from helm_controller.objects import HELM_RELEASES

from .support import HelmCLI, release, repository, wait_condition

pytestmark = pytest.mark.integration

DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: 2
  progressDeadlineSeconds: 600
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: web
          image: {{ .Values.image }}
          args: [--port=9898]
          readinessProbe:
            httpGet: {path: {{ .Values.readyPath }}, port: 9898}
            periodSeconds: 1
            failureThreshold: 1
"""


async def test_install_is_ready_once_the_pods_are(
    node: Node, podinfo_image: str, helm_controller: Manager, kube: ResourceClient,
    namespace: str, helm_repo: HelmRepo,
) -> None:  # fmt: skip
    values = {"image": podinfo_image, "readyPath": "/readyz"}
    helm_repo.package("app", "1.0.0", templates={"deployment.yaml": WEB}, values=values)
    await repository(kube, namespace, helm_repo)
    await kube.create(
        HELM_RELEASES, release("web", namespace, install={"timeout": "2m"}), namespace
    )

    await wait_condition(kube, namespace, "web", "Ready", "True", "InstallSucceeded")
    # Ready was reported only after both pods answered their readiness probe.
    deployment = await kube.get(DEPLOYMENTS, "web-web", namespace)
    assert deployment["status"].get("readyReplicas") == 2


async def test_pods_that_never_get_ready_fail_the_install(
    node: Node, podinfo_image: str, helm_controller: Manager, kube: ResourceClient,
    namespace: str, helm_repo: HelmRepo, helm_cli: HelmCLI,
) -> None:  # fmt: skip
    values = {"image": podinfo_image, "readyPath": "/no-such-path"}
    helm_repo.package("app", "1.0.0", templates={"deployment.yaml": WEB}, values=values)
    await repository(kube, namespace, helm_repo)
    spec: dict[str, Any] = {"install": {"timeout": "20s", "remediation": {"retries": 0}}}
    await kube.create(HELM_RELEASES, release("stuck", namespace, **spec), namespace)

    obj = await wait_condition(kube, namespace, "stuck", "Ready", "False", "InstallFailed")
    assert condition(obj, "Released")["reason"] == "InstallFailed"
    assert condition(obj, "Stalled").get("status") == "True"
    events = await events_for(kube, namespace, "stuck", "HelmRelease")
    assert any(e["reason"] == "InstallFailed" and e["type"] == "Warning" for e in events)
    history = await helm_cli.history("stuck", namespace)
    assert [(h["chart"], h["status"]) for h in history] == [("app-1.0.0", "failed")]
    # The pods do run on the node; they are just never ready.
    deployment = await kube.get(DEPLOYMENTS, "stuck-web", namespace)
    assert deployment["status"].get("replicas") == 2
    assert not deployment["status"].get("readyReplicas")
