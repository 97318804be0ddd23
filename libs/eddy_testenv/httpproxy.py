"""A real HTTP proxy on loopback (Debian's tinyproxy) that reports the requests it carried.

`proxySecretRef` is only proven when the traffic really went through a proxy: tests
read the proxy's own log of each request (a forwarded `GET http://…` or a
`CONNECT host:port` tunnel) rather than trusting that the server was reached.
"""

from __future__ import annotations

import re
from pathlib import Path

from eddy_testenv.controlplane import free_port
from eddy_testenv.process import Process, Service, find_binary

_START_TIMEOUT = 20.0
# tinyproxy logs one line per request it reads from a client.
_REQUEST = re.compile(r"Request \(file descriptor \d+\): (?P<method>[A-Z]+) (?P<target>\S+) HTTP/")


class HTTPProxy(Service):
    """`tinyproxy` as a child process, on 127.0.0.1, with basic auth when given."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.use_credentials(username, password)
        self.use_workdir(workdir, "eddy-proxy-")
        self.port = free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.log = self.workdir / "requests.log"
        self._process: Process | None = None

    def _config(self) -> Path:
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Allow 127.0.0.1",
            "Timeout 60",
            "MaxClients 100",
            "LogLevel Connect",
            f'LogFile "{self.log}"',
            "DisableViaHeader Yes",
        ]
        if self.username is not None and self.password is not None:
            lines.append(f"BasicAuth {self.username} {self.password}")
        path = self.workdir / "tinyproxy.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> None:
        config = self._config()
        process = Process("tinyproxy", [find_binary("tinyproxy"), "-d", "-c", str(config)],
                          self.workdir / "tinyproxy.out")  # fmt: skip
        process.start()
        self._process = process
        process.wait_listening(self.port, _START_TIMEOUT)

    def stop(self) -> None:
        if self._process:
            self._process.stop()
        self.remove_workdir()

    def requests(self) -> list[str]:
        """Every request the proxy read so far, as `METHOD target`, oldest first."""
        if not self.log.exists():
            return []
        text = self.log.read_text(errors="replace")
        return [f"{m['method']} {m['target']}" for m in _REQUEST.finditer(text)]
