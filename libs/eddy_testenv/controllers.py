"""eddy's controllers as separate processes, the way a cluster runs them.

The demo and the end-to-end tests start each controller with `python -m`, on
free loopback ports, bound to the life of the process that started it.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from eddy_testenv.controlplane import _start_timeout as start_timeout
from eddy_testenv.controlplane import free_port
from eddy_testenv.process import Process, http_ok


class ControllerProcess:
    """One controller process (`python -m <module>`) with its metrics and probes ports."""

    def __init__(
        self,
        module: str,
        kubeconfig: Path,
        log_dir: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        self.module = module
        # Other ports its arguments name, by purpose (e.g. "receiver"), for clients.
        self.ports = dict(ports or {})
        self.name = module.replace("_", "-")
        self.metrics_port = free_port()
        self.health_port = free_port()
        argv = [
            sys.executable,
            "-m",
            module,
            f"--kubeconfig={kubeconfig}",
            f"--metrics-addr=127.0.0.1:{self.metrics_port}",
            f"--health-addr=127.0.0.1:{self.health_port}",
            *args,
        ]
        self.env = {**os.environ, **(env or {})}
        self.process = Process(self.name, argv, log_dir / f"{self.name}.log")

    def start(self, timeout: float | None = None) -> None:
        """Start the process and wait until its /readyz answers 200."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting; call it on the thread that should own it."""
        self.process.start(env=self.env)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until /readyz answers 200; safe to run in another thread.

        By default 30s, or EDDY_TESTENV_START_TIMEOUT when that is longer (a busy machine).
        """
        if timeout is None:
            timeout = max(30.0, start_timeout())
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        self.process.wait_ready(lambda: http_ok(url), "did not become ready", timeout, 0.1)

    def stop(self, timeout: float = 15.0) -> None:
        self.process.stop(timeout)

    def kill(self) -> None:
        """kill -9: the process ends mid-work; start() runs it again on the same ports."""
        self.process.kill()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        """Still running and its /readyz answers 200."""
        if self.process.exit_code() is not None:
            return False
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text: str = resp.read().decode()
            return text

    def log_records(self) -> list[dict[str, object]]:
        """The JSON log lines written so far (other lines are skipped)."""
        records: list[dict[str, object]] = []
        try:
            text = self.process.log_path.read_text(errors="replace")
        except OSError:
            return records
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records
