"""Run the `eddy` command as a user does: a separate process, its exit code and its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


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
