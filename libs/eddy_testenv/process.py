"""Child processes that never outlive the Python process that started them.

Tests get interrupted, fail and get killed; etcd or an API server left running
would hold ports and disk, so every child is tied to its parent's life.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

_PR_SET_PDEATHSIG = 1


class Service:
    """Something a test starts and stops: usable as `with Server() as server:`.

    It works in `workdir`: the one given, or a temporary directory of its own that
    `remove_workdir` deletes when it stops.
    """

    workdir: Path
    _own_workdir = False
    username: str | None = None
    password: str | None = None

    def use_credentials(self, username: str | None, password: str | None) -> None:
        """Basic auth the server asks for: both halves, or neither (no auth)."""
        check_credentials(username, password)
        self.username = username
        self.password = password

    def use_workdir(self, workdir: Path | None, prefix: str) -> Path:
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=prefix))
        return self.workdir

    def remove_workdir(self) -> None:
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def check_credentials(username: str | None, password: str | None) -> None:
    """A server that asks for basic auth needs both halves of it."""
    if (username is None) != (password is None):
        raise ValueError("set both username and password, or neither")


class ProcessError(RuntimeError):
    """A child process would not start, died early or never became ready."""


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the parent dies, even by
    # SIGKILL, the kernel sends this child SIGKILL.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.setpgrp()


def _checkout_tools_bin() -> Path | None:
    """`.tools/bin` of the checkout this package runs from, where `make tools` links."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "hack" / "tools.sh").is_file():
            return parent / ".tools" / "bin"
    return None


def find_binary(name: str) -> str:
    """The path of a pinned tool.

    Looked up in $EDDY_<NAME>, then $EDDY_TOOLS_BIN, then the `.tools/bin` that
    `make tools` fills in this checkout (and in the current directory), then PATH.
    """
    env_name = "EDDY_" + name.upper().replace("-", "_")
    explicit = os.environ.get(env_name)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ProcessError(f"{env_name}={explicit} is not an executable file")
        return explicit
    folders = [os.environ.get("EDDY_TOOLS_BIN"), _checkout_tools_bin(), Path(".tools", "bin")]
    for folder in folders:
        if folder:
            candidate = Path(folder) / name
            if os.access(candidate, os.X_OK):
                return str(candidate.absolute())
    found = shutil.which(name)
    if found:
        return found
    raise ProcessError(
        f"{name} not found. Run 'make tools' to build the pinned binaries, "
        f"or point {env_name} or EDDY_TOOLS_BIN at them."
    )


class Process:
    """One child with its output captured to a log file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            try:
                self._popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,
                    env=env,
                )
            except OSError as err:
                raise ProcessError(f"{self.name} could not be started: {err}") from err

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def exit_code(self) -> int | None:
        """None while running; the exit code once it has ended."""
        return self._popen.poll() if self._popen else None

    def tail(self, lines: int = 20) -> str:
        """The last lines the program wrote, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(
        self, ready: Callable[[], bool], what: str, timeout: float, interval: float = 0.05
    ) -> None:
        """Poll `ready` until it says yes; if the program ends first or `timeout` passes,
        stop it and raise ProcessError with `what` it failed to do and its last log lines."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.exit_code()
            if code is not None:
                raise ProcessError(f"{self.name} exited with {code} while starting:\n{self.tail()}")
            if ready():
                return
            time.sleep(interval)
        self.stop()
        raise ProcessError(f"{self.name} {what} within {timeout:g}s:\n{self.tail()}")

    def wait_listening(self, port: int, timeout: float) -> None:
        """wait_ready until something accepts connections on 127.0.0.1:`port`."""
        self.wait_ready(lambda: port_open(port), f"did not listen on port {port}", timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would end it; no chance to clean up."""
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            popen.kill()
        popen.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after timeout; safe to call twice."""
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
            popen.wait()


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """Whether `url` answers 200 (plain HTTP, a start-up probe such as /readyz)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
