"""Run the `eddy` command as a user does: a separate process, its exit code and its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.controlplane import free_port
from eddy_testenv.observe import condition
from eddy_testenv.process import find_binary
from eddy_testenv.registry import Registry

from ..install.support import get, kubectl

TIMEOUT = 60.0


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def yaml(self) -> Any:
        return yaml.safe_load(self.stdout)


def eddy(
    *args: str,
    kubeconfig: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Result:
    """`eddy ARGS…` (as `python -m eddy_cli`), with the kubeconfig given by --kubeconfig."""
    argv = [sys.executable, "-m", "eddy_cli"]
    if kubeconfig is not None:
        argv.append(f"--kubeconfig={kubeconfig}")
    environment = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    environment.update(env or {})
    done = subprocess.run(
        [*argv, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        stdin=subprocess.DEVNULL,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def one_error_line(result: Result) -> str:
    """The command failed with exit code 2 and one `✗ …` line, its last, and no traceback
    (progress lines may come before it)."""
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("✗ ")]
    assert errors == lines[-1:], result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


@contextmanager
def run_controllers(kubeconfig: Path, *names: str) -> Iterator[list[ControllerProcess]]:
    """Controllers (`source-controller`, …) as processes, watching every namespace.

    The test control plane has no node, so what `eddy install` creates as
    Deployments runs here instead.
    """
    with tempfile.TemporaryDirectory(prefix="eddy-cli-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        args = {
            "source-controller": [
                f"--storage-path={workdir / 'artifacts'}",
                f"--storage-addr=127.0.0.1:{port}",
                f"--storage-adv-addr=127.0.0.1:{port}",
            ],
            "kustomize-controller": [f"--kustomize-path={find_binary('kustomize')}"],
            "helm-controller": [
                f"--helm-path={find_binary('helm')}",
                f"--helm-server-path={find_binary('eddy-helm-server')}",
                f"--workdir={workdir}",
            ],
        }
        running = [
            ControllerProcess(name.replace("-", "_"), kubeconfig, workdir, args=args[name])
            for name in names
        ]
        try:
            for controller in running:
                controller.start()
            yield running
        finally:
            for controller in running:
                controller.stop()


def wait_ready(kubeconfig: Path, resource: str, name: str, namespace: str) -> dict[str, Any]:
    """The object once its Ready condition is True; fails with its status after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    obj: dict[str, Any] = {}
    while time.monotonic() < deadline:
        obj = get(kubeconfig, resource, name, f"--namespace={namespace}")
        if condition(obj).get("status") == "True":
            return obj
        time.sleep(0.3)
    raise AssertionError(f"{resource} {name} not Ready within {TIMEOUT:.0f}s: {obj.get('status')}")


def registry_secret(kubeconfig: Path, namespace: str, registry: Registry) -> None:
    """Secret `registry` with the registry's login, made as a user makes it with kubectl."""
    kubectl(kubeconfig, "create", "secret", "docker-registry", "registry", "-n", namespace,
            f"--docker-server={registry.host}", f"--docker-username={registry.username}",
            f"--docker-password={registry.password}")  # fmt: skip
