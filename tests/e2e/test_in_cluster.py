"""eddy installed in a cluster: the image `make images` builds, running in pods on the node.

manifests/ (with the image pointed at the local registry) and, separately,
charts/eddy are installed into namespaces that enforce the restricted Pod
Security level; every controller becomes Available with its own ServiceAccount.
Then Git flows to the cluster with the controllers in pods: the artifact URL is
the source-controller's Service, and a controller pod deleted mid-reconcile
comes back and finishes the job.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from eddy_runtime.client import load_configuration, new_client
from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepo
from eddy_testenv.node import NODE_ADDRESS, Node
from eddy_testenv.process import find_binary
from eddy_testenv.registry import Registry
from eddy_testenv.waiting import until
from eddy_web.controllers import health as controller_health

from .support import settings_map

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONTROLLERS = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "image-automation-controller",
    "notification-controller",
]
TIMEOUT = 240.0

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def eddy_image(node_registry: Registry) -> str:
    """eddy's image from `hack/images.sh` (what `make images` runs), in the node's registry."""
    reference = f"{node_registry.host}/eddy:0.1.0-e2e"
    done = subprocess.run(
        [str(ROOT / "hack" / "images.sh"), "push", reference],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, f"building eddy's image failed:\n{done.stderr}{done.stdout}"
    return reference


def kubectl(node: Node, *args: str, stdin: str | None = None) -> str:
    return node.kubectl(*args, stdin=stdin)


def get_json(node: Node, *args: str) -> Doc:
    found: Doc = json.loads(node.kubectl("get", "-o", "json", *args))
    return found


def restricted_namespace(node: Node, name: str) -> None:
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    node.kubectl("apply", "-f", "-", stdin=json.dumps(namespace))


def own_cluster_rbac(docs: list[Doc], suffix: str) -> list[Doc]:
    """Cluster-scoped RBAC named for this install only, so installs never share it."""
    own = {d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRole"}
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            doc["metadata"]["name"] += suffix
            ref = doc.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole" and ref.get("name") in own:
                ref["name"] += suffix
    return docs


def cleanup(node: Node, namespace: str, docs: list[Doc]) -> None:
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            node.kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"],
                         "--ignore-not-found", "--wait=false")  # fmt: skip
    node.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")


def wait_available(node: Node, namespace: str) -> None:
    def available() -> bool:
        items = get_json(node, "deployments", f"--namespace={namespace}")["items"]
        names = set()
        for item in items:
            conditions = (item.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Available" and c["status"] == "True" for c in conditions):
                names.add(item["metadata"]["name"])
        return names >= set(CONTROLLERS)

    try:
        until(f"every controller in {namespace} is Available", available, TIMEOUT, 1.0)
    except AssertionError:
        pods = node.kubectl("get", "pods", f"--namespace={namespace}", "-o", "wide")
        events = node.kubectl("get", "events", f"--namespace={namespace}")
        raise AssertionError(f"controllers not Available:\n{pods}\n{events}") from None


def assert_runs_as_its_service_account(node: Node, namespace: str) -> None:
    pods = get_json(node, "pods", f"--namespace={namespace}")["items"]
    for name in CONTROLLERS:
        pod = next(p for p in pods if p["metadata"]["name"].startswith(name + "-"))
        assert pod["spec"]["serviceAccountName"] == name
        assert pod["status"]["phase"] == "Running"
        security = pod["spec"]["containers"][0]["securityContext"]
        assert security["readOnlyRootFilesystem"] is True


def assert_eddy_check_passes(node: Node, namespace: str) -> None:
    """`eddy check` finds every controller's Pod running, its /healthz and /metrics answering."""
    done = subprocess.run(
        [sys.executable, "-m", "eddy_cli", f"--kubeconfig={node.control_plane.kubeconfig}",
         "-n", namespace, "check", "-o", "json"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    checks = {c["name"]: c for c in json.loads(done.stdout or "[]")}
    failed = {name: c["message"] for name, c in checks.items() if not c["ok"]}
    assert done.returncode == 0 and not failed, f"eddy check failed: {failed}\n{done.stderr}"
    for name in CONTROLLERS:
        assert checks[f"deployment/{name}"]["message"].startswith("available")
        assert checks[f"health/{name}"]["message"].endswith(":9440/healthz answered 200")
        assert checks[f"metrics/{name}"]["message"].endswith(":8080/metrics answered 200")


def assert_dashboard_sees_controllers_ready(node: Node, namespace: str) -> None:
    """The dashboard's cluster overview: each controller ready, its /readyz answering."""

    async def overview() -> dict[str, Any]:
        api = new_client(await load_configuration(str(node.control_plane.kubeconfig)))
        try:
            return await controller_health(ResourceClient(api))
        finally:
            await api.close()

    rows = {r["name"]: r for r in asyncio.run(overview())["controllers"]
            if r["namespace"] == namespace}  # fmt: skip
    assert {name: (rows[name]["state"], rows[name].get("readyz")) for name in CONTROLLERS} == {
        name: ("Ready", "ok") for name in CONTROLLERS
    }


def manifests_install(tmp_path: Path, namespace: str, image: str) -> list[Doc]:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    repository, tag = image.rsplit(":", 1)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": namespace,
                "resources": [os.path.relpath(ROOT / "manifests", overlay)],
                "images": [
                    {"name": "ghcr.io/eddy-gitops/eddy", "newName": repository, "newTag": tag}
                ],
            }
        )
    )
    built = subprocess.run(
        [find_binary("kustomize"), "build", str(overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    docs = [d for d in yaml.safe_load_all(built) if d]
    return own_cluster_rbac(docs, f"-{namespace}")


@pytest.fixture
def install_namespace(node: Node) -> Iterator[str]:
    name = f"eddy-{secrets.token_hex(3)}"
    restricted_namespace(node, name)
    yield name


def test_manifests_run_eddy_in_pods_from_git_to_cluster(
    node: Node,
    eddy_image: str,
    install_namespace: str,
    git_server: GitHTTPServer,
    git_repo: GitRepo,
    tmp_path: Path,
) -> None:
    namespace = install_namespace
    docs = manifests_install(tmp_path, namespace, eddy_image)
    rest = [d for d in docs if d["kind"] not in ("Namespace", "CustomResourceDefinition")]
    try:
        node.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                     stdin=yaml.safe_dump_all(rest))  # fmt: skip
        wait_available(node, namespace)
        assert_runs_as_its_service_account(node, namespace)
        assert_eddy_check_passes(node, namespace)
        assert_dashboard_sees_controllers_ready(node, namespace)

        # Git to cluster, with every controller in a pod: the pods reach the Git
        # server through the node's address, the artifact through the Service.
        node.expose(git_server.port)
        url = git_server.repo_url(git_repo.name).replace("127.0.0.1", NODE_ADDRESS)
        target = f"{namespace}-app"
        node.kubectl("create", "namespace", target)
        git_repo.commit({"app/settings.yaml": settings_map("hello")})
        node.kubectl("apply", "-f", "-", stdin=sync(namespace, target, url))
        until("the first revision is applied", lambda: greeting(node, target) == "hello",
              TIMEOUT, 1.0)  # fmt: skip
        source = get_json(node, "gitrepository", "app", f"--namespace={namespace}")
        artifact_url = source["status"]["artifact"]["url"]
        assert artifact_url.startswith(f"http://source-controller.{namespace}.svc.cluster.local.")

        # A kustomize-controller pod deleted mid-reconcile: its replacement applies the commit.
        git_repo.commit({"app/settings.yaml": settings_map("again")})
        node.kubectl("annotate", "--overwrite", f"--namespace={namespace}", "gitrepository/app",
                     f"reconcile.fluxcd.io/requestedAt={time.time()}")  # fmt: skip
        node.kubectl("delete", "pod", f"--namespace={namespace}", "-l",
                     "app=kustomize-controller", "--wait=false")  # fmt: skip
        until("the new revision is applied by the new pod",
              lambda: greeting(node, target) == "again", TIMEOUT, 1.0)  # fmt: skip
        wait_available(node, namespace)
        node.kubectl("delete", "namespace", target, "--wait=false")
    finally:
        cleanup(node, namespace, rest)


def test_chart_runs_eddy_in_pods(node: Node, eddy_image: str, install_namespace: str) -> None:
    repository, tag = eddy_image.rsplit(":", 1)
    suffix = f"-{install_namespace}"
    rendered = subprocess.run(
        [
            find_binary("helm"),
            "template",
            "eddy",
            str(ROOT / "charts" / "eddy"),
            f"--namespace={install_namespace}",
            f"--set=image.repository={repository}",
            f"--set=image.tag={tag}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    docs = own_cluster_rbac([d for d in yaml.safe_load_all(rendered) if d], suffix)
    try:
        node.kubectl("apply", "--server-side", "--force-conflicts",
                     f"--namespace={install_namespace}", "-f", "-",
                     stdin=yaml.safe_dump_all(docs))  # fmt: skip
        wait_available(node, install_namespace)
        assert_runs_as_its_service_account(node, install_namespace)
    finally:
        cleanup(node, install_namespace, docs)


def greeting(node: Node, namespace: str) -> str:
    found = node.kubectl("get", "configmap", "settings", f"--namespace={namespace}",
                         "-o", "jsonpath={.data.greeting}", "--ignore-not-found")  # fmt: skip
    return found.strip()


def sync(namespace: str, target: str, url: str) -> str:
    return f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: app
  namespace: {namespace}
spec:
  interval: 1h
  url: {url}
  ref: {{branch: main}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: {namespace}
spec:
  interval: 1h
  path: ./app
  prune: true
  targetNamespace: {target}
  sourceRef: {{kind: GitRepository, name: app}}
"""
