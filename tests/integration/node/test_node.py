"""The local node runs pods: images from the local registry, Services and cluster DNS.

What a user checks after `kubectl apply`: the Deployment Available, its pods
answering on the Service's DNS name from another pod, and `kubectl logs`.
"""

from __future__ import annotations

import pytest

from eddy_testenv.node import Node

pytestmark = pytest.mark.integration


def web_app(image: str) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
        - name: web
          image: {image}
          args: [--port=9898]
          ports: [{{containerPort: 9898}}]
          readinessProbe:
            httpGet: {{path: /readyz, port: 9898}}
            periodSeconds: 1
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {{drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 9898}}]
"""


def client_job(image: str, url: str) -> str:
    return f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: client
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: client
          image: {image}
          command: [/podcli, check, http, "{url}", --retry=20, --delay=1s]
"""


def test_a_deployment_runs_and_answers_on_its_service_name(
    node: Node, podinfo_image: str, namespace: str
) -> None:
    node.kubectl("-n", namespace, "apply", "-f", "-", stdin=web_app(podinfo_image))
    node.kubectl("-n", namespace, "wait", "--for=condition=Available", "deployment/web",
                 "--timeout=120s")  # fmt: skip
    pods = node.kubectl("-n", namespace, "get", "pods", "-l", "app=web", "-o",
                        "jsonpath={.items[*].status.phase}")  # fmt: skip
    assert pods.split() == ["Running", "Running"]

    url = f"http://web.{namespace}.svc.cluster.local/version"
    node.kubectl("-n", namespace, "apply", "-f", "-", stdin=client_job(podinfo_image, url))
    node.kubectl("-n", namespace, "wait", "--for=condition=Complete", "job/client",
                 "--timeout=120s")  # fmt: skip
    logs = node.kubectl("-n", namespace, "logs", "job/client")
    assert "200" in logs or "OK" in logs.upper(), logs
