"""The command itself: help with examples, completion, and errors before any cluster is reached."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from eddy_testenv import ControlPlane

from .support import eddy, one_error_line

pytestmark = pytest.mark.integration

COMMANDS = ["install", "uninstall", "check", "why", "push", "bootstrap", "plan"]


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = eddy("--help")
    assert result.code == 0
    for name in COMMANDS:
        assert f"  {name}" in result.stdout
    assert "Exit codes:" in result.stdout and "_EDDY_COMPLETE" in result.stdout


@pytest.mark.parametrize("command", [["install"], ["uninstall"], ["check"], ["why"],
                                     ["push", "artifact"], ["bootstrap", "git"],
                                     ["plan"]])  # fmt: skip
def test_every_command_has_examples(command: list[str]) -> None:
    result = eddy(*command, "--help")
    assert result.code == 0, result.stderr
    assert "Examples:" in result.stdout and "eddy " in result.stdout


def test_bash_completion_script() -> None:
    result = eddy(env={"_EDDY_COMPLETE": "bash_source"})
    assert result.code == 0
    assert "complete " in result.stdout and "_EDDY_COMPLETE=bash_complete" in result.stdout


def test_no_kubeconfig(tmp_path: Path) -> None:
    line = one_error_line(eddy("check", env={"HOME": str(tmp_path)}))
    assert "no kubeconfig found" in line and "--kubeconfig" in line


def test_unknown_context(control_plane: ControlPlane) -> None:
    line = one_error_line(eddy("--context", "nope", "check", kubeconfig=control_plane.kubeconfig))
    assert "context 'nope' is not in kubeconfig" in line


def test_cluster_not_running(control_plane: ControlPlane, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
    dead = tmp_path / "kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    line = one_error_line(eddy("check", kubeconfig=dead))
    assert f"cannot reach the Kubernetes API at https://127.0.0.1:{port}" in line


def test_usage_errors_exit_2() -> None:
    result = eddy("why", "deployment")
    assert result.code == 2
    assert "not KIND/NAME" in result.stderr
