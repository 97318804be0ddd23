"""A real etcd and kube-apiserver on loopback, started and stopped from Python.

Tests, benchmarks and the demo all need a genuine Kubernetes API; this starts
one in a few seconds with its own certificates and an admin kubeconfig.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from eddy_testenv import certs
from eddy_testenv.process import Process, ProcessError, Service, find_binary

DEFAULT_START_TIMEOUT = 60.0


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_timeout() -> float:
    raw = os.environ.get("EDDY_TESTENV_START_TIMEOUT")
    return float(raw) if raw else DEFAULT_START_TIMEOUT


class ControlPlane(Service):
    """etcd, kube-apiserver with RBAC and kube-controller-manager on loopback.

    The controller-manager makes the cluster behave like a real one where eddy
    cares: Deployments report status, namespaces finish deleting, owner
    references cascade. Pass controller_manager=False for a bare API server.

    Use as a context manager, or call start() and stop(). `ControlPlane.existing`
    wraps a cluster someone else runs, so the same tests can target kind or a
    real cluster.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        etcd_port: int | None = None,
        api_port: int | None = None,
        start_timeout: float | None = None,
        controller_manager: bool = True,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="eddy-testenv-"))
        self.etcd_port = etcd_port or free_port()
        self.etcd_peer_port = free_port()
        self.api_port = api_port or free_port()
        self.start_timeout = start_timeout if start_timeout is not None else _start_timeout()
        self.kubeconfig = self.workdir / "kubeconfig"
        self.server = f"https://127.0.0.1:{self.api_port}"
        self._etcd: Process | None = None
        self._apiserver: Process | None = None
        self._controller_manager: Process | None = None
        self._files: certs.CertFiles | None = None
        self._want_controller_manager = controller_manager
        self._external = False

    @classmethod
    def existing(cls, kubeconfig: str | Path) -> ControlPlane:
        """A handle on a cluster this process did not start and will not stop."""
        path = Path(kubeconfig)
        if not path.is_file():
            raise ProcessError(f"kubeconfig {path} does not exist")
        plane = cls.__new__(cls)
        plane._own_workdir = False
        plane.workdir = path.parent
        plane.kubeconfig = path
        plane.server = _server_of(path)
        plane._etcd = None
        plane._apiserver = None
        plane._controller_manager = None
        plane._files = None
        plane._want_controller_manager = False
        plane._external = True
        plane.start_timeout = _start_timeout()
        return plane

    @property
    def external(self) -> bool:
        return self._external

    def processes(self) -> list[Process]:
        candidates = (self._etcd, self._apiserver, self._controller_manager)
        return [p for p in candidates if p is not None]

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        if self._external:
            return
        try:
            self._start_etcd()
            self._start_apiserver()
            if self._want_controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the controllers, the API server, then etcd; remove the working directory."""
        if self._external:
            return
        if self._controller_manager:
            self._controller_manager.stop()
        if self._apiserver:
            self._apiserver.stop()
        if self._etcd:
            self._etcd.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _start_etcd(self) -> None:
        data = self.workdir / "etcd"
        data.mkdir(parents=True, exist_ok=True)
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{self.etcd_peer_port}"
        self._etcd = Process(
            "etcd",
            [
                find_binary("etcd"),
                "--name=eddy",
                f"--data-dir={data}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=eddy={peer_url}",
                "--listen-metrics-urls=",
                # Durability is worthless for a throwaway store; fsync dominates latency.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            self.workdir / "etcd.log",
        )
        self._etcd.start()
        self._wait_ready(self._etcd, self.etcd_port, lambda: _etcd_healthy(client_url))

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver alone; etcd and its data stay, clients see a dead endpoint."""
        if self._external or self._apiserver is None:
            raise ProcessError("this control plane's API server was not started here")
        self._apiserver.stop()

    def start_apiserver(self) -> None:
        """Start a stopped kube-apiserver again on the same port, certificates and etcd data.

        Lets a test prove that clients ride out an API server outage without restarting.
        """
        if self._external or self._apiserver is None or self._files is None:
            raise ProcessError("this control plane's API server was not started here")
        if self._apiserver.exit_code() is None:
            raise ProcessError("kube-apiserver is still running; stop it first")
        self._run_apiserver(self._files)

    def _start_apiserver(self) -> None:
        files = certs.generate(self.workdir / "pki")
        self._files = files
        self._apiserver = Process(
            "kube-apiserver",
            [
                find_binary("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                f"--cert-dir={self.workdir / 'pki'}",
                f"--tls-cert-file={files.serving_cert}",
                f"--tls-private-key-file={files.serving_key}",
                f"--client-ca-file={files.ca_cert}",
                "--service-cluster-ip-range=10.0.0.0/16",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={files.sa_pub}",
                f"--service-account-signing-key-file={files.sa_key}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                *self._admission_flags(),
                "--enable-priority-and-fairness=false",
                "--endpoint-reconciler-type=none",
                # For `kubectl logs` and `exec` when a local node runs (eddy_testenv.node).
                f"--kubelet-client-certificate={files.admin_cert}",
                f"--kubelet-client-key={files.admin_key}",
                "--kubelet-preferred-address-types=Hostname,InternalIP",
                "--v=1",
            ],
            self.workdir / "kube-apiserver.log",
        )
        self._write_kubeconfig(files)
        self._run_apiserver(files)

    def _run_apiserver(self, files: certs.CertFiles) -> None:
        assert self._apiserver is not None
        self._apiserver.start()
        context = ssl.create_default_context(cafile=str(files.ca_cert))
        context.load_cert_chain(str(files.admin_cert), str(files.admin_key))
        self._wait_ready(
            self._apiserver,
            self.api_port,
            lambda: _https_ok(f"{self.server}/readyz", context),
        )

    def _admission_flags(self) -> list[str]:
        if self._want_controller_manager:
            # Pods get their ServiceAccount's token, as in any cluster: the
            # controller-manager creates each namespace's `default` account.
            return []
        # Without a controller-manager nobody creates the default accounts.
        return ["--disable-admission-plugins=ServiceAccount"]

    def _start_controller_manager(self) -> None:
        pki = self.workdir / "pki"
        self._controller_manager = Process(
            "kube-controller-manager",
            [
                find_binary("kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                # Nothing needs its own HTTPS endpoint; it would only ask for more certificates.
                "--secure-port=0",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--concurrent-deployment-syncs=10",
                "--concurrent-namespace-syncs=10",
                "--v=1",
            ],
            self.workdir / "kube-controller-manager.log",
        )
        self._controller_manager.start()
        time.sleep(0.2)
        code = self._controller_manager.exit_code()
        if code is not None:
            raise ProcessError(_died_message(self._controller_manager, code, 0))

    def _wait_ready(self, process: Process, port: int, probe: Any) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = process.exit_code()
            if code is not None:
                raise ProcessError(_died_message(process, code, port))
            if probe():
                return
            time.sleep(0.1)
        raise ProcessError(
            f"{process.name} did not become ready within {self.start_timeout:.0f}s. "
            f"Its last log lines ({process.log_path}):\n{process.tail()}"
        )

    def _write_kubeconfig(self, files: certs.CertFiles) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "eddy",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": b64(files.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "eddy-admin",
                    "user": {
                        "client-certificate-data": b64(files.admin_cert),
                        "client-key-data": b64(files.admin_key),
                    },
                }
            ],
            "contexts": [{"name": "eddy", "context": {"cluster": "eddy", "user": "eddy-admin"}}],
            "current-context": "eddy",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    # -- API helpers ---------------------------------------------------------

    async def install_crds(self, directory: str | Path, timeout: float = 30.0) -> list[str]:
        """Create or update every CRD in directory and wait until each is Established."""
        from eddy_testenv.crds import install_crds

        return await install_crds(self.kubeconfig, Path(directory), timeout=timeout)


def _server_of(kubeconfig: Path) -> str:
    config = yaml.safe_load(kubeconfig.read_text()) or {}
    current = config.get("current-context")
    contexts = {c["name"]: c["context"] for c in config.get("contexts", [])}
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters", [])}
    cluster_name = contexts.get(current, {}).get("cluster")
    server: str = clusters.get(cluster_name, {}).get("server", "")
    return server


def _etcd_healthy(client_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{client_url}/health", timeout=1) as resp:
            return bool(json.load(resp).get("health") == "true")
    except (OSError, ValueError):
        return False


def _https_ok(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _died_message(process: Process, code: int, port: int) -> str:
    tail = process.tail()
    reason = f"{process.name} exited with code {code} before it became ready"
    if "address already in use" in tail:
        reason = (
            f"{process.name} could not listen: port {port} (or its peer port) is already in use"
        )
    return f"{reason}. Its last log lines ({process.log_path}):\n{tail}"
