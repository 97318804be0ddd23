"""Hostile kubeconfigs, as a tenant would write them, and an HTTPS listener that records
who called it.

A kubeconfig that runs a program, reads a file or skips TLS verification must be
refused before anything connects; tests prove it with a marker file that the
program would create and with the requests this listener records (none).
"""

from __future__ import annotations

import base64
import json
import shlex
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from eddy_testenv.controlplane import ControlPlane, free_port
from eddy_testenv.gitserver import TLSFiles, server_ssl_context
from eddy_testenv.process import Service

EXEC_API = "client.authentication.k8s.io/v1"
# The token the "tenant" hopes to steal; the listener would see it.
CONTROLLER_TOKEN = "controller-token-that-must-not-leave"


class RecordingHTTPS(Service):
    """An HTTPS server on loopback that answers 401 and records every request's headers."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="eddy-recording-https-")
        self.tls = TLSFiles.generate(Path(self._dir.name))
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def ca_data(self) -> str:
        return base64.b64encode(self.tls.ca_cert.read_bytes()).decode()

    def recorded(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self.requests)

    def start(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                with recorder._lock:
                    recorder.requests.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _record

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.socket = server_ssl_context(self.tls).wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._dir.cleanup()


def kubeconfig(cluster: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }


def exec_plugin(marker: Path, credential: dict[str, str]) -> dict[str, Any]:
    """An exec credential plugin that creates `marker`, then prints `credential`."""
    answer = json.dumps({"apiVersion": EXEC_API, "kind": "ExecCredential", "status": credential})
    script = f"touch {shlex.quote(str(marker))} && printf '%s' {shlex.quote(answer)}"
    return {
        "apiVersion": EXEC_API,
        "command": "/bin/sh",
        "args": ["-c", script],
        "interactiveMode": "Never",
    }


def admin_credential(remote: ControlPlane) -> dict[str, str]:
    """The remote's admin client pair, as an exec plugin returns it (PEM text)."""
    pki = remote.workdir / "pki"
    return {
        "clientCertificateData": (pki / "admin.crt").read_text(),
        "clientKeyData": (pki / "admin.key").read_text(),
    }


@dataclass(frozen=True)
class Hostile:
    """A kubeconfig a tenant should not get away with, and the field a refusal names."""

    name: str
    field: str
    document: dict[str, Any]


def hostile_kubeconfigs(
    listener: RecordingHTTPS, remote: ControlPlane, token_file: Path, marker: Path
) -> list[Hostile]:
    """Each way a kubeconfig reaches past its data. Those aimed at `listener` would
    send it an Authorization header if obeyed; those aimed at `remote` would reach
    it with the controller's files if obeyed."""
    pki = remote.workdir / "pki"
    listener_tls = {"server": listener.url, "certificate-authority-data": listener.ca_data}
    remote_tls = {
        "server": remote.server,
        "certificate-authority-data": base64.b64encode((pki / "ca.crt").read_bytes()).decode(),
    }
    remote_user = {
        "client-certificate-data": base64.b64encode((pki / "admin.crt").read_bytes()).decode(),
        "client-key-data": base64.b64encode((pki / "admin.key").read_bytes()).decode(),
    }
    stolen = {"token": "stolen"}
    return [
        Hostile("exec", "exec", kubeconfig(
            listener_tls, {"exec": exec_plugin(marker, {"token": "from-exec"})})),
        Hostile("auth-provider", "auth-provider", kubeconfig(listener_tls, {"auth-provider": {
            "name": "oidc",
            "config": {"id-token": "from-provider", "idp-issuer-url": listener.url,
                       "client-id": "eddy", "refresh-token": "r"},
        }})),
        Hostile("token-file", "tokenFile",
                kubeconfig(listener_tls, {"tokenFile": str(token_file)})),
        Hostile("client-cert-path", "client-certificate", kubeconfig(remote_tls, {
            "client-certificate": str(pki / "admin.crt"),
            "client-key-data": remote_user["client-key-data"],
        })),
        Hostile("client-key-path", "client-key", kubeconfig(remote_tls, {
            "client-certificate-data": remote_user["client-certificate-data"],
            "client-key": str(pki / "admin.key"),
        })),
        Hostile("ca-path", "certificate-authority", kubeconfig(
            {"server": remote.server, "certificate-authority": str(pki / "ca.crt")}, remote_user)),
        Hostile("skip-tls", "insecure-skip-tls-verify", kubeconfig(
            {"server": listener.url, "insecure-skip-tls-verify": True}, stolen)),
    ]  # fmt: skip


def secret_of(document: dict[str, Any], name: str, namespace: str) -> dict[str, Any]:
    raw = yaml.safe_dump(document).encode()
    return {
        "metadata": {"name": name, "namespace": namespace},
        "data": {"value": base64.b64encode(raw).decode()},
    }
