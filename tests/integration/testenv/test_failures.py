"""The control plane launcher fails fast and clearly, and leaves nothing running.

A port clash, a binary that will not start and an API server that never becomes
ready each end in an error that quotes the program's own last log lines.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from eddy_testenv import ControlPlane, Process, ProcessError


def assert_gone(processes: list[Process]) -> None:
    assert processes, "the launcher should have started something"
    for process in processes:
        assert process.exit_code() is not None, f"{process.name} is still running"
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid or -1, 0)


def fake_binary(path: Path, script: str) -> str:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_port_clash_is_reported_with_the_log(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        plane = ControlPlane(tmp_path / "plane", api_port=port, start_timeout=30)
        with pytest.raises(ProcessError) as caught:
            plane.start()
    message = str(caught.value)
    assert f"port {port}" in message and "already in use" in message
    assert "kube-apiserver" in message
    assert_gone(plane.processes())


def test_binary_that_will_not_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "EDDY_KUBE_APISERVER",
        fake_binary(tmp_path / "broken", 'echo "unknown flag: --bogus" >&2\nexit 3\n'),
    )
    plane = ControlPlane(tmp_path / "plane", start_timeout=30)
    with pytest.raises(ProcessError) as caught:
        plane.start()
    message = str(caught.value)
    assert "exited with code 3" in message
    assert "unknown flag: --bogus" in message
    assert_gone(plane.processes())


def test_api_server_that_never_becomes_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "EDDY_KUBE_APISERVER",
        fake_binary(tmp_path / "stuck", 'echo "waiting for a storage backend"\nexec sleep 300\n'),
    )
    plane = ControlPlane(tmp_path / "plane", start_timeout=2)
    with pytest.raises(ProcessError) as caught:
        plane.start()
    message = str(caught.value)
    assert "did not become ready within 2s" in message
    assert "waiting for a storage backend" in message
    assert_gone(plane.processes())


def test_missing_binary_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDDY_ETCD", str(tmp_path / "nowhere" / "etcd"))
    with pytest.raises(ProcessError) as caught:
        ControlPlane(tmp_path / "plane").start()
    assert "is not an executable file" in str(caught.value)
