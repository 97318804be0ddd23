"""A static Helm chart repository on loopback: index.yaml and chart archives over HTTP.

HelmRepository and HelmChart reconcilers must be tested against what `helm`
itself produces and serves, with basic auth and TLS as users configure them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from eddy_testenv.controlplane import free_port
from eddy_testenv.gitserver import TLSFiles, basic_auth_ok, server_ssl_context
from eddy_testenv.process import ProcessError, Service, find_binary

_HELM_TIMEOUT = 60.0

DEFAULT_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
"""


def helm_env(home: Path) -> dict[str, str]:
    """Environment for the helm CLI that keeps its cache, config and data under home."""
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def run_helm(*args: str, home: Path, cwd: Path | None = None) -> str:
    """Run the pinned helm binary; its stdout, or an error quoting its output."""
    done = subprocess.run(
        [find_binary("helm"), *args],
        cwd=cwd,
        env=helm_env(home),
        capture_output=True,
        timeout=_HELM_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        output = (done.stderr or done.stdout).decode(errors="replace").strip()
        raise ProcessError(f"helm {' '.join(args)} failed ({done.returncode}): {output}")
    return done.stdout.decode(errors="replace")


class _Handler(SimpleHTTPRequestHandler):
    server: _HelmHTTPD

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.requests.append(f"{self.command} {self.path} {int(code)}")

    def log_message(self, format: str, *args: object) -> None:
        # Requests are recorded by log_request; nothing goes to stderr.
        pass

    def _authorized(self) -> bool:
        username, password = self.server.username, self.server.password
        if username is None or password is None:
            return True
        if basic_auth_ok(self.headers.get("Authorization"), username, password):
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="eddy-helm"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self) -> None:
        if self._authorized():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self._authorized():
            super().do_HEAD()

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        # A chart repository is not browsable.
        self.send_error(404, "not found")


class _HelmHTTPD(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, root: Path, username: str | None, password: str | None) -> None:
        self.username = username
        self.password = password
        self.requests: list[str] = []
        root_dir = str(root)

        def handler(*args: Any) -> _Handler:
            return _Handler(*args, directory=root_dir)

        super().__init__(("127.0.0.1", port), handler)


class HelmRepo(Service):
    """A chart repository served from a temporary directory in a background thread.

    package() builds charts with the pinned `helm`, index() writes index.yaml with
    `helm repo index`; `url` is what a HelmRepository's spec.url points at.
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
        self.use_workdir(workdir, "eddy-helmrepo-")
        self.root = self.workdir / "charts"
        self.root.mkdir(parents=True, exist_ok=True)
        self.helm_home = self.workdir / "helm"
        self.port = free_port()
        self.tls = TLSFiles.generate(self.workdir / "tls") if tls else None
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._httpd: _HelmHTTPD | None = None
        self._thread: threading.Thread | None = None

    @property
    def ca_file(self) -> Path | None:
        return self.tls.ca_cert if self.tls else None

    @property
    def requests(self) -> list[str]:
        """Requests served so far ("GET /index.yaml 200"), to assert on caching."""
        return list(self._httpd.requests) if self._httpd else []

    def start(self) -> None:
        httpd = _HelmHTTPD(self.port, self.root, self.username, self.password)
        if self.tls:
            httpd.socket = server_ssl_context(self.tls).wrap_socket(
                httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self.remove_workdir()

    # -- content -----------------------------------------------------------

    def write_chart(
        self,
        name: str,
        version: str,
        *,
        app_version: str | None = None,
        values: Mapping[str, Any] | None = None,
        templates: Mapping[str, str] | None = None,
        dependencies: list[dict[str, Any]] | None = None,
    ) -> Path:
        """A chart source directory (not yet packaged) with a ConfigMap template by default."""
        chart_dir = self.workdir / "src" / f"{name}-{version}" / name
        if chart_dir.exists():
            shutil.rmtree(chart_dir)
        (chart_dir / "templates").mkdir(parents=True)
        meta: dict[str, Any] = {
            "apiVersion": "v2",
            "name": name,
            "version": version,
            "appVersion": app_version or version,
            "description": f"test chart {name}",
            "type": "application",
        }
        if dependencies:
            meta["dependencies"] = dependencies
        (chart_dir / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        chart_values = dict(values) if values is not None else {"greeting": "hello"}
        (chart_dir / "values.yaml").write_text(yaml.safe_dump(chart_values, sort_keys=False))
        for rel, text in (templates or {"configmap.yaml": DEFAULT_TEMPLATE}).items():
            (chart_dir / "templates" / rel).write_text(text)
        return chart_dir

    def package(self, name: str, version: str, *, index: bool = True, **chart: Any) -> Path:
        """Build and `helm package` a chart into the repository; reindex unless told not to."""
        chart_dir = self.write_chart(name, version, **chart)
        run_helm("package", str(chart_dir), "--destination", str(self.root), home=self.helm_home)
        archive = self.root / f"{name}-{version}.tgz"
        if not archive.is_file():
            raise ProcessError(f"helm package did not produce {archive}")
        if index:
            self.index()
        return archive

    def package_dir(self, chart_dir: Path, *, index: bool = True) -> Path:
        """`helm package` an existing chart directory into the repository."""
        out = run_helm(
            "package", str(chart_dir), "--destination", str(self.root), home=self.helm_home
        )
        archive = Path(out.strip().rsplit(": ", 1)[-1])
        if index:
            self.index()
        return archive

    def index(self) -> Path:
        """(Re)write index.yaml with `helm repo index`, chart URLs under this server."""
        run_helm("repo", "index", str(self.root), "--url", self.url, home=self.helm_home)
        return self.root / "index.yaml"

    def read_index(self) -> dict[str, Any]:
        loaded = yaml.safe_load((self.root / "index.yaml").read_text())
        return loaded if isinstance(loaded, dict) else {}

    def chart_url(self, name: str, version: str) -> str:
        return f"{self.url}/{name}-{version}.tgz"

    def write_malformed_index(self, kind: str = "yaml") -> Path:
        """Replace index.yaml with a broken one, for failure tests.

        kind: "yaml" (not YAML at all), "empty" (zero bytes), "no-api-version"
        (valid YAML, missing apiVersion), "wrong-type" (entries is a list),
        "missing-chart" (lists a chart whose archive is not there).
        """
        bodies = {
            "yaml": "apiVersion: v1\nentries: {demo: [\n  - name: [unclosed\n",
            "empty": "",
            "no-api-version": "entries:\n  demo:\n  - name: demo\n    version: 1.0.0\n",
            "wrong-type": "apiVersion: v1\nentries:\n- demo\n",
            "missing-chart": yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "entries": {
                        "ghost": [
                            {
                                "apiVersion": "v2",
                                "name": "ghost",
                                "version": "1.0.0",
                                "urls": [f"{self.url}/ghost-1.0.0.tgz"],
                                "digest": "0" * 64,
                            }
                        ]
                    },
                    "generated": "2024-01-01T00:00:00Z",
                }
            ),
        }
        if kind not in bodies:
            raise ValueError(f"unknown malformed index kind {kind!r}; one of {sorted(bodies)}")
        path = self.root / "index.yaml"
        path.write_text(bodies[kind])
        return path
