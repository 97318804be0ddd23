"""A real Prometheus and kube-state-metrics on loopback, for the monitoring tests.

Prometheus scrapes eddy's controllers and kube-state-metrics (which turns eddy's
objects into `gotk_resource_info`); tests and the screenshots ask it what a
Grafana dashboard would.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eddy_testenv.controlplane import free_port
from eddy_testenv.process import Process, Service, find_binary, http_ok

_START_TIMEOUT = 60.0
MONITORING = Path(__file__).resolve().parents[2] / "manifests" / "monitoring"


@dataclass
class Target:
    """One scrape target: `host:port`, and the labels a PodMonitor would give it."""

    job: str
    address: str
    labels: dict[str, str] = field(default_factory=dict)


def _get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


class KubeStateMetrics(Service):
    """kube-state-metrics serving only eddy's custom resource state metrics."""

    def __init__(
        self,
        kubeconfig: Path,
        config: Path = MONITORING / "kube-state-metrics-config.yaml",
        workdir: Path | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.config = config
        self.port = free_port()
        self.telemetry_port = free_port()
        self.use_workdir(workdir, "eddy-ksm-").mkdir(parents=True, exist_ok=True)
        self._process: Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [
            find_binary("kube-state-metrics"),
            f"--kubeconfig={self.kubeconfig}",
            "--custom-resource-state-only=true",
            f"--custom-resource-state-config-file={self.config}",
            "--host=127.0.0.1",
            f"--port={self.port}",
            "--telemetry-host=127.0.0.1",
            f"--telemetry-port={self.telemetry_port}",
        ]
        self._process = Process("kube-state-metrics", argv, self.workdir / "ksm.log")
        self._process.start()
        url = f"http://{self.address}/healthz"
        self._process.wait_ready(lambda: http_ok(url, 2), "did not start", _START_TIMEOUT, 0.1)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://{self.address}/metrics", timeout=10) as resp:
            text: str = resp.read().decode()
            return text

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        self.remove_workdir()


class Prometheus(Service):
    """Prometheus scraping `targets` every `interval`, loading `rule_files`."""

    def __init__(
        self,
        targets: Sequence[Target],
        rule_files: Sequence[Path] = (),
        interval: str = "1s",
        workdir: Path | None = None,
    ) -> None:
        self.targets = list(targets)
        self.rule_files = list(rule_files)
        self.interval = interval
        self.port = free_port()
        self.use_workdir(workdir, "eddy-prometheus-").mkdir(parents=True, exist_ok=True)
        self._process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        jobs: dict[str, list[dict[str, Any]]] = {}
        for target in self.targets:
            jobs.setdefault(target.job, []).append(
                {"targets": [target.address], "labels": target.labels}
            )
        return {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": static} for job, static in jobs.items()
            ],
        }

    def start(self) -> None:
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        argv = [
            find_binary("prometheus"),
            f"--config.file={path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self._process = Process("prometheus", argv, self.workdir / "prometheus.log")
        self._process.start()
        ready = f"{self.url}/-/ready"
        self._process.wait_ready(
            lambda: http_ok(ready, 2), "did not become ready", _START_TIMEOUT, 0.1
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        self.remove_workdir()

    # -- HTTP API ----------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a success, PrometheusError otherwise."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            body = _get_json(url)
        except urllib.error.HTTPError as err:
            body = json.loads(err.read().decode() or "{}")
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; the result vector (or matrix) as Prometheus returns it."""
        data = self.api("query", query=expr)
        result = data["result"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return list(result)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = self.api("query_range", query=expr, start=str(start), end=str(end), step=str(step))
        return list(data["result"])

    def target_health(self) -> dict[str, str]:
        """scrapeUrl -> health ("up", "down", "unknown") of every active target."""
        data = self.api("targets")
        return {t["scrapeUrl"]: t["health"] for t in data["activeTargets"]}

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(self.api("rules")["groups"])


class PrometheusError(RuntimeError):
    """Prometheus refused a query or answered with an error."""
