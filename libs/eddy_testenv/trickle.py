"""A loopback server that answers every connection one byte every few seconds, forever.

The slow server a tenant can point eddy at: read timeouts never fire, because
something always arrives. Tests point Git (HTTP or SSH URLs) and registries at it
and check that the deadline still ends the work and frees its thread.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self

# What it trickles: the start of an HTTP answer whose header never ends. An SSH
# client reads it as lines before the banner that never end, too.
_ANSWER = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000


class TrickleServer:
    """Accepts connections on 127.0.0.1 and sends each one byte every `every` seconds."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.accepted = 0
        self._stopped = threading.Event()

    @property
    def open_connections(self) -> int:
        """Connections whose client has not closed them yet."""
        with self._lock:
            return len(self._open)

    def url(self, path: str = "repo.git", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def start(self) -> Self:
        threading.Thread(target=self._accept, name="trickle-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        with self._lock:
            for conn in self._open:
                conn.close()
            self._open.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._open.add(conn)
                self.accepted += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        conn.settimeout(self.every)
        try:
            for position in range(len(_ANSWER)):
                conn.sendall(_ANSWER[position : position + 1])
                # Waiting on the client, not sleeping: a closed connection is noticed
                # at once (recv returns b"" or fails).
                deadline = time.monotonic() + self.every
                while (left := deadline - time.monotonic()) > 0:
                    conn.settimeout(left)
                    try:
                        if not conn.recv(65536):
                            return
                    except TimeoutError:
                        break
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()
