"""The RBAC in manifests/rbac is enough for the controllers, and no more.

The source-, kustomize-, helm- and notification-controllers run as processes that
authenticate as their ServiceAccounts (with tokens the API server issues, as in
their Pods), with only the roles manifests/rbac grants. A GitRepository and a
Kustomization, a HelmRepository and a HelmRelease become Ready and apply their
objects, Events are recorded and alerted on, a Receiver annotates, no call is
refused, and an account cannot do what its role leaves out.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from eddy_testenv import ControlPlane, find_binary, free_port
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.gitserver import GitHTTPServer, GitRepo
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.waiting import until

from .support import (
    Doc,
    build_manifests,
    delete_cluster_rbac,
    dump,
    get,
    kubectl,
    of_kind,
    rename_cluster_rbac,
    service_account_kubeconfig,
    token,
    whoami,
)
from .support import can_i as allowed

pytestmark = pytest.mark.integration

TIMEOUT = 60.0
RBAC_KINDS = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
              "RoleBinding")  # fmt: skip


@dataclass
class Installed:
    namespace: str
    kubeconfigs: dict[str, Path]
    reconciler: Doc


@pytest.fixture
def rbac(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Installed]:
    """manifests/rbac applied into a namespace of its own, minus the cluster-admin
    binding, which the test applies when it wants it."""
    admin = control_plane.kubeconfig
    namespace = f"eddy-rbac-{token()}"
    docs = rename_cluster_rbac(
        of_kind(build_manifests(tmp_path, namespace), *RBAC_KINDS), f"-{namespace}"
    )
    (reconciler,) = [
        d for d in docs if d["metadata"]["name"] == f"eddy-cluster-reconciler-{namespace}"
    ]
    kubectl(admin, "apply", "--server-side", "-f", "-",
            stdin=dump([d for d in docs if d is not reconciler]))  # fmt: skip
    kubeconfigs = {
        name: service_account_kubeconfig(admin, namespace, name, tmp_path / f"{name}.kubeconfig")
        for name in (
            "source-controller",
            "kustomize-controller",
            "helm-controller",
            "notification-controller",
        )
    }
    try:
        yield Installed(namespace, kubeconfigs, reconciler)
    finally:
        delete_cluster_rbac(admin, docs)
        kubectl(admin, "delete", "namespace", namespace, "--wait=false")


def test_accounts_hold_only_their_roles(rbac: Installed) -> None:
    source = rbac.kubeconfigs["source-controller"]
    kustomize = rbac.kubeconfigs["kustomize-controller"]
    assert whoami(source) == f"system:serviceaccount:{rbac.namespace}:source-controller"

    assert allowed(source, "watch", "gitrepositories.source.toolkit.fluxcd.io", "default")
    assert allowed(source, "patch", "helmcharts.source.toolkit.fluxcd.io/status", "default")
    assert allowed(source, "get", "secrets", "default")
    assert allowed(source, "create", "leases.coordination.k8s.io", rbac.namespace)
    assert not allowed(source, "create", "deployments.apps", "default")
    assert not allowed(source, "create", "deployments.apps", rbac.namespace)
    assert not allowed(source, "list", "secrets", "default")
    assert not allowed(source, "delete", "gitrepositories.source.toolkit.fluxcd.io", "default")
    assert not allowed(source, "patch", "kustomizations.kustomize.toolkit.fluxcd.io", "default")
    assert not allowed(source, "create", "leases.coordination.k8s.io", "default")

    assert allowed(kustomize, "impersonate", "serviceaccounts", "default")
    assert not allowed(kustomize, "impersonate", "groups", "")
    assert allowed(kustomize, "patch", "kustomizations.kustomize.toolkit.fluxcd.io", "default")
    assert not allowed(kustomize, "patch", "gitrepositories.source.toolkit.fluxcd.io", "default")
    assert not allowed(kustomize, "create", "deployments.apps", "default")


CONFIG_MAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  greeting: hello
"""


def wait_ready(admin: Path, resource: str, name: str, namespace: str) -> None:
    conditions: list[Doc] = []

    def ready() -> bool:
        nonlocal conditions
        obj = get(admin, resource, name, f"--namespace={namespace}")
        conditions = (obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    try:
        until(f"{resource} {name} is Ready", ready, TIMEOUT)
    except AssertionError as err:
        raise AssertionError(f"{err}; its conditions: {conditions}") from None


def exists(admin: Path, resource: str, name: str, namespace: str) -> bool:
    out = kubectl(admin, "get", resource, name, f"--namespace={namespace}", "--ignore-not-found",
                  "-o", "name")  # fmt: skip
    return bool(out.strip())


def refused_calls(controller: ControllerProcess) -> list[str]:
    lines = [json.dumps(r) for r in controller.log_records()]
    return [line for line in lines if "forbidden" in line.lower() or " 403" in line]


StartControllers = Callable[..., list[ControllerProcess]]


@pytest.fixture
def start_controllers(rbac: Installed, tmp_path: Path) -> Iterator[StartControllers]:
    """Start controllers by name, each as its own ServiceAccount, with leader election."""
    running: list[ControllerProcess] = []
    port = free_port()
    extra = {
        "source-controller": [
            f"--storage-path={tmp_path / 'artifacts'}",
            f"--storage-addr=127.0.0.1:{port}",
            f"--storage-adv-addr=127.0.0.1:{port}",
        ],
        "kustomize-controller": [f"--kustomize-path={find_binary('kustomize')}"],
        "helm-controller": [
            f"--helm-path={find_binary('helm')}",
            f"--helm-server-path={find_binary('eddy-helm-server')}",
            f"--workdir={tmp_path}",
        ],
    }

    def start(*names: str, args: dict[str, list[str]] | None = None) -> list[ControllerProcess]:
        for name in names:
            controller = ControllerProcess(
                name.replace("-", "_"),
                rbac.kubeconfigs[name],
                tmp_path,
                args=[
                    "--enable-leader-election",
                    *extra.get(name, []),
                    *(args or {}).get(name, []),
                ],
                env={"RUNTIME_NAMESPACE": rbac.namespace},
            )
            running.append(controller)
            controller.start()
        return running

    try:
        yield start
    finally:
        for controller in running:
            controller.stop()


@pytest.fixture
def app_namespace(control_plane: ControlPlane) -> Iterator[str]:
    """Where the sources and their objects live, with a tenant account that may
    change only this namespace (the controllers impersonate it)."""
    admin = control_plane.kubeconfig
    app = f"eddy-rbac-app-{token()}"
    kubectl(admin, "create", "namespace", app)
    tenant: list[Doc] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tenant"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "tenant-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": app}],
        },
    ]  # fmt: skip
    kubectl(admin, "apply", f"--namespace={app}", "-f", "-", stdin=dump(tenant))
    yield app
    kubectl(admin, "delete", "namespace", app, "--wait=false")


def assert_nothing_refused(controllers: list[ControllerProcess]) -> None:
    for controller in controllers:
        assert controller.process.exit_code() is None, controller.process.tail()
        assert refused_calls(controller) == [], controller.name


def test_git_to_cluster_with_only_their_rbac(
    rbac: Installed,
    start_controllers: StartControllers,
    app_namespace: str,
    control_plane: ControlPlane,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
) -> None:
    admin, app = control_plane.kubeconfig, app_namespace
    controllers = start_controllers("source-controller", "kustomize-controller")
    git_repo.commit(
        {
            "tenant/configmap.yaml": CONFIG_MAP.format(name="tenant"),
            "platform/configmap.yaml": CONFIG_MAP.format(name="platform"),
        }
    )
    source: Doc = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "app"},
        "spec": {"interval": "10m", "url": git_server.repo_url(git_repo.name),
                 "ref": {"branch": "main"}},
    }  # fmt: skip
    tenant = kustomization("tenant", "./tenant", app, service_account="tenant")
    kubectl(admin, "apply", f"--namespace={app}", "-f", "-", stdin=dump([source, tenant]))

    wait_ready(admin, "gitrepository", "app", app)
    wait_ready(admin, "kustomization", "tenant", app)
    assert exists(admin, "configmap", "tenant", app)

    # Without a service account to impersonate the controller's own identity
    # applies, which holds nothing until the cluster-reconciler binding exists.
    kubectl(admin, "apply", "--server-side", "-f", "-", stdin=dump([rbac.reconciler]))
    kubectl(admin, "apply", f"--namespace={app}", "-f", "-",
            stdin=dump([kustomization("platform", "./platform", app)]))  # fmt: skip
    wait_ready(admin, "kustomization", "platform", app)
    assert exists(admin, "configmap", "platform", app)

    events = get(admin, "events", f"--namespace={app}")["items"]
    reported = {e["involvedObject"]["kind"] for e in events}
    assert {"GitRepository", "Kustomization"} <= reported, reported
    leases = get(admin, "leases", f"--namespace={rbac.namespace}")["items"]
    assert len(leases) == 2

    # Deleting runs the finalizers, through the same accounts.
    kubectl(admin, "delete", "kustomizations,gitrepositories", "--all", f"--namespace={app}",
            "--timeout=30s")  # fmt: skip
    assert_nothing_refused(controllers)


def test_helm_release_with_only_their_rbac(
    start_controllers: StartControllers,
    app_namespace: str,
    control_plane: ControlPlane,
    helm_repo: HelmRepo,
) -> None:
    admin, app = control_plane.kubeconfig, app_namespace
    controllers = start_controllers("source-controller", "helm-controller")
    helm_repo.package("hello", "1.0.0")
    repository: Doc = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "charts"},
        "spec": {"interval": "10m", "url": helm_repo.url},
    }
    release: Doc = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "hello"},
        "spec": {
            "interval": "10m",
            "serviceAccountName": "tenant",
            "chart": {
                "spec": {
                    "chart": "hello",
                    "version": "1.0.0",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                }
            },
        },
    }
    kubectl(admin, "apply", f"--namespace={app}", "-f", "-", stdin=dump([repository, release]))

    wait_ready(admin, "helmrelease", "hello", app)
    assert exists(admin, "configmap", "hello-hello", app)
    stored = get(admin, "secrets", f"--namespace={app}", "--selector=owner=helm,name=hello")
    assert len(stored["items"]) == 1

    # Uninstalling and deleting the HelmChart run through the same accounts.
    kubectl(admin, "delete", "helmreleases,helmrepositories", "--all", f"--namespace={app}",
            "--timeout=30s")  # fmt: skip
    assert not exists(admin, "configmap", "hello-hello", app)
    # The HelmChart goes once the source-controller has let go of it (its finalizer).
    kubectl(admin, "wait", "--for=delete", f"helmchart/{app}-hello", f"--namespace={app}",
            "--timeout=30s")  # fmt: skip
    assert get(admin, "helmcharts", f"--namespace={app}")["items"] == []
    assert_nothing_refused(controllers)


def kustomization(name: str, path: str, namespace: str, service_account: str = "") -> Doc:
    spec: Doc = {
        "interval": "10m",
        "path": path,
        "prune": True,
        "targetNamespace": namespace,
        "sourceRef": {"kind": "GitRepository", "name": "app"},
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name},
        "spec": spec,
    }


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[Doc]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def test_alerts_and_receivers_with_only_their_rbac(
    rbac: Installed,
    start_controllers: StartControllers,
    app_namespace: str,
    control_plane: ControlPlane,
) -> None:
    admin, app = control_plane.kubeconfig, app_namespace
    events_port, receiver_port = free_port(), free_port()
    service = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.received = []
    threading.Thread(target=service.serve_forever, daemon=True).start()
    try:
        controllers = start_controllers(
            "source-controller",
            "notification-controller",
            args={
                "source-controller": [f"--events-addr=http://127.0.0.1:{events_port}/"],
                "notification-controller": [f"--events-addr=127.0.0.1:{events_port}",
                                            f"--receiver-addr=127.0.0.1:{receiver_port}"],
            },
        )  # fmt: skip
        address = f"http://127.0.0.1:{service.server_address[1]}/alerts"
        docs: list[Doc] = [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hook"},
             "stringData": {"address": address, "token": "receiver-token"}},
            {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
             "metadata": {"name": "hook"},
             "spec": {"type": "generic", "secretRef": {"name": "hook"}}},
            {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
             "metadata": {"name": "sources"},
             "spec": {"providerRef": {"name": "hook"}, "eventSeverity": "error",
                      "eventSources": [{"kind": "GitRepository", "name": "*"}]}},
            {"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
             "metadata": {"name": "push"},
             "spec": {"type": "generic", "secretRef": {"name": "hook"},
                      "resources": [{"kind": "GitRepository", "name": "broken"}]}},
        ]  # fmt: skip
        kubectl(admin, "apply", f"--namespace={app}", "-f", "-", stdin=dump(docs))
        for kind, name in (("provider", "hook"), ("alert", "sources"), ("receiver", "push")):
            wait_ready(admin, kind, name, app)
        broken: Doc = {
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "broken"},
            "spec": {"interval": "10m", "url": "http://127.0.0.1:1/nothing.git",
                     "ref": {"branch": "main"}},
        }  # fmt: skip
        kubectl(admin, "apply", f"--namespace={app}", "-f", "-", stdin=dump([broken]))
        deadline = time.monotonic() + TIMEOUT
        while not _Recorder.received and time.monotonic() < deadline:
            time.sleep(0.2)
        (first, *_) = _Recorder.received
        assert first["involvedObject"]["name"] == "broken" and first["severity"] == "error"

        path = get(admin, "receiver", "push", f"--namespace={app}")["status"]["webhookPath"]
        request = urllib.request.Request(f"http://127.0.0.1:{receiver_port}{path}", data=b"{}")
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
        annotations = get(admin, "gitrepository", "broken", f"--namespace={app}")["metadata"]
        assert "reconcile.fluxcd.io/requestedAt" in annotations.get("annotations", {})
        kubectl(admin, "delete", "receivers,alerts,providers,gitrepositories", "--all",
                f"--namespace={app}", "--timeout=30s")  # fmt: skip
        assert_nothing_refused(controllers)
    finally:
        service.shutdown()
