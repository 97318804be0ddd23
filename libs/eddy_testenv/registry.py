"""A real OCI distribution registry on loopback, for Helm charts pushed with `helm push`.

HelmRepositories of type oci and the charts from them must be tested against the
registry users run, with htpasswd basic auth and TLS, so nothing here imitates one.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from eddy_testenv.controlplane import free_port
from eddy_testenv.gitserver import TLSFiles
from eddy_testenv.helmrepo import HelmRepo, run_helm
from eddy_testenv.process import Process, ProcessError, Service, find_binary

_START_TIMEOUT = 20.0
CHART_LAYER_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def htpasswd_line(username: str, password: str) -> str:
    """One htpasswd entry; the registry accepts bcrypt hashes only."""
    try:
        import bcrypt
    except ImportError as err:  # pragma: no cover - a test dependency
        raise ProcessError(
            "the registry fixture needs the 'bcrypt' package; install eddy with '.[test]'"
        ) from err
    # The lowest cost bcrypt allows: these are throwaway test passwords.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{username}:{hashed}\n"


class Registry(Service):
    """`registry serve` (distribution v3) as a child process with filesystem storage.

    With username/password every request needs basic auth (htpasswd); with tls the
    registry serves HTTPS with a certificate from a throwaway CA at `ca_file`.
    `push_chart` pushes with the pinned helm, as a user publishing a chart would.
    """

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        workdir: Path | None = None,
    ) -> None:
        self.use_credentials(username, password)
        self.use_workdir(workdir, "eddy-registry-")
        self.port = free_port()
        self.tls = TLSFiles.generate(self.workdir / "tls") if tls else None
        self.host = f"127.0.0.1:{self.port}"
        self.base_url = f"{'https' if tls else 'http'}://{self.host}"
        self.helm_home = self.workdir / "helm"
        self._charts = HelmRepo(workdir=self.workdir / "charts")
        self._process: Process | None = None
        self._logged_in = False

    @property
    def ca_file(self) -> Path | None:
        return self.tls.ca_cert if self.tls else None

    def url(self, path: str = "") -> str:
        """The oci:// URL of a path in this registry (what spec.url points at)."""
        return f"oci://{self.host}/{path.strip('/')}".rstrip("/")

    # -- life --------------------------------------------------------------

    def _config(self) -> Path:
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        if self.tls:
            config["http"]["tls"] = {"certificate": str(self.tls.cert), "key": str(self.tls.key)}
        if self.username is not None and self.password is not None:
            htpasswd = self.workdir / "htpasswd"
            htpasswd.write_text(htpasswd_line(self.username, self.password))
            config["auth"] = {"htpasswd": {"realm": "eddy-registry", "path": str(htpasswd)}}
        path = self.workdir / "config.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start(self) -> None:
        config = self._config()
        process = Process("registry", [find_binary("registry"), "serve", str(config)],
                          self.workdir / "registry.log")  # fmt: skip
        # Tracing is on by default in distribution v3; nobody collects it here.
        env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
        process.start(env)
        self._process = process
        process.wait_ready(self._answers, f"did not answer on {self.host}", _START_TIMEOUT)

    def _answers(self) -> bool:
        try:
            status, _, _ = self.request("/v2/", auth=False)
        except (OSError, urllib.error.URLError):
            return False
        return status in (200, 401)

    def stop(self) -> None:
        if self._process:
            self._process.stop()
        self.remove_workdir()

    # -- HTTP API ----------------------------------------------------------

    def request(
        self,
        path: str,
        *,
        auth: bool = True,
        method: str = "GET",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request to the registry API: status, headers and body (errors included)."""
        all_headers = dict(headers or {})
        if auth and self.username is not None and self.password is not None:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            all_headers["Authorization"] = f"Basic {token}"
        req = urllib.request.Request(self.base_url + path, headers=all_headers, method=method)
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.tls else None
        try:
            with urllib.request.urlopen(req, timeout=10, context=context) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def tags(self, repository: str) -> list[str]:
        """The tags of a repository, from /v2/<name>/tags/list."""
        status, _, body = self.request(f"/v2/{repository.strip('/')}/tags/list")
        if status != 200:
            raise ProcessError(f"listing tags of {repository} answered HTTP {status}: {body!r}")
        return list(json.loads(body).get("tags") or [])

    def delete_tag(self, repository: str, tag: str) -> None:
        """Remove a tag (by deleting the manifest it points at), as a registry admin would."""
        accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
        status, headers, _ = self.request(
            f"/v2/{repository}/manifests/{tag}", method="HEAD", headers=accept
        )
        digest = {k.lower(): v for k, v in headers.items()}.get("docker-content-digest")
        if status != 200 or not digest:
            raise ProcessError(f"{repository}:{tag} not found (HTTP {status})")
        status, _, body = self.request(f"/v2/{repository}/manifests/{digest}", method="DELETE")
        if status != 202:
            raise ProcessError(f"deleting {repository}:{tag} answered HTTP {status}: {body!r}")

    # -- charts ------------------------------------------------------------

    def _helm_tls_args(self) -> list[str]:
        return ["--ca-file", str(self.ca_file)] if self.tls else ["--plain-http"]

    def login(self) -> None:
        """`helm registry login`, once, when the registry needs credentials."""
        if self._logged_in or self.username is None or self.password is None:
            return
        args = ["registry", "login", self.host, "--username", self.username,
                "--password", self.password]  # fmt: skip
        args += ["--ca-file", str(self.ca_file)] if self.tls else ["--insecure"]
        run_helm(*args, home=self.helm_home)
        self._logged_in = True

    def push_chart(self, archive: Path, repository: str = "charts") -> str:
        """`helm push` a packaged chart under oci://<host>/<repository>; its manifest digest."""
        self.login()
        out = run_helm("push", str(archive), self.url(repository), *self._helm_tls_args(),
                       home=self.helm_home)  # fmt: skip
        for line in out.splitlines():
            if line.startswith("Digest:"):
                return line.split(":", 1)[1].strip()
        return ""

    def package(self, name: str, version: str, **chart: Any) -> Path:
        """A chart built with `helm package` (not pushed); options as HelmRepo.write_chart."""
        return self._charts.package(name, version, index=False, **chart)

    def publish(self, name: str, version: str, repository: str = "charts", **chart: Any) -> Path:
        """Package and push a chart; the archive that was pushed."""
        archive = self.package(name, version, **chart)
        self.push_chart(archive, repository)
        return archive
