"""Jaeger, a real OTLP receiver with a query API, on loopback: where the tracing tests look.

The controllers export spans to its OTLP/HTTP endpoint; tests and the screenshot
tooling read whole traces back from its HTTP query API (`/api/traces/<id>`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from eddy_testenv.controlplane import free_port
from eddy_testenv.process import Process, ProcessError, Service, find_binary

_START_TIMEOUT = 60.0


class Jaeger(Service):
    """`jaeger` (v2) with in-memory storage: OTLP/HTTP in, the query API out."""

    def __init__(self) -> None:
        self.otlp_port = free_port()
        self.query_port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="eddy-jaeger-"))
        self._process: Process | None = None

    @property
    def otlp_endpoint(self) -> str:
        """The value for OTEL_EXPORTER_OTLP_ENDPOINT (OTLP over HTTP)."""
        return f"http://127.0.0.1:{self.otlp_port}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    def exporter_env(self) -> dict[str, str]:
        """What a controller's environment needs to send its spans here, promptly."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            # Batches leave every 200ms instead of every 5s, so a test need not wait.
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }

    def _config(self) -> dict[str, object]:
        grpc_port = free_port()
        return {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query"],
                "pipelines": {
                    "traces": {"receivers": ["otlp"], "exporters": ["jaeger_storage_exporter"]}
                },
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
            },
            "extensions": {
                "jaeger_storage": {"backends": {"memory": {"memory": {"max_traces": 10000}}}},
                "jaeger_query": {
                    "storage": {"traces": "memory"},
                    "http": {"endpoint": f"127.0.0.1:{self.query_port}"},
                    "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
                },
            },
            "receivers": {
                "otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{self.otlp_port}"}}}
            },
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memory"}},
        }

    def start(self) -> None:
        config = self.workdir / "config.yaml"
        config.write_text(yaml.safe_dump(self._config()))
        self._process = Process(
            "jaeger",
            [find_binary("jaeger"), f"--config=file:{config}"],
            self.workdir / "jaeger.log",
        )
        self._process.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.exit_code() is not None:
                raise ProcessError(f"jaeger exited while starting:\n{self._process.tail()}")
            try:
                self.services()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise ProcessError(f"jaeger did not answer within {_START_TIMEOUT:.0f}s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.query_url + path, timeout=5) as resp:
            return json.load(resp)

    def services(self) -> list[str]:
        """The service names that have sent spans."""
        return list(self._get("/api/services").get("data") or [])

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """One trace as the query API gives it (spans, processes), or None if unknown."""
        try:
            data = self._get(f"/api/traces/{trace_id}").get("data") or []
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise
        return data[0] if data else None


def spans_of(found: dict[str, Any]) -> list[dict[str, Any]]:
    """A trace's spans, each with `service`, `parent` (span id or None) and `attributes`."""
    processes = found.get("processes") or {}
    out = []
    for span in found.get("spans") or []:
        parents = [r["spanID"] for r in span.get("references") or [] if r["refType"] == "CHILD_OF"]
        out.append(
            {
                **span,
                "service": (processes.get(span.get("processID")) or {}).get("serviceName"),
                "parent": parents[0] if parents else None,
                "attributes": {t["key"]: t["value"] for t in span.get("tags") or []},
            }
        )
    return out
