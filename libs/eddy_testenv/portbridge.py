"""TCP forwarding between the host's loopback and the local node's network namespace.

The node runs in a network namespace of its own, so nothing it does (bridges,
iptables rules, sysctls) touches the host. The few ports that must cross are
forwarded by this program: the API server and the registry into the node, the
kubelet out of it. Run as `python -m eddy_testenv.portbridge --netns PATH RULE...`.

A rule `in:PORT` listens on every address inside the node and connects to
127.0.0.1:PORT on the host; `out:PORT` listens on the host's 127.0.0.1:PORT and
connects to 127.0.0.1:PORT inside the node; `out:PORT:ADDRESS:TARGET` connects
to ADDRESS:TARGET inside the node instead (a Service's cluster IP, say).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import socket
import sys
from collections.abc import Callable, Iterator

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def inside(netns_fd: int, host_fd: int) -> Iterator[None]:
    """Sockets created in this block belong to the node's network namespace."""
    _setns(netns_fd)
    try:
        yield
    finally:
        _setns(host_fd)


def _listener(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _handler(
    connect: Callable[[], socket.socket], port: int, address: str = "127.0.0.1"
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        upstream = connect()
        try:
            await loop.sock_connect(upstream, (address, port))
            up_reader, up_writer = await asyncio.open_connection(sock=upstream)
        except OSError:
            upstream.close()
            writer.close()
            return
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))

    return handle


def _plain_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock


async def serve(netns: str, rules: list[str]) -> None:
    netns_fd = os.open(netns, os.O_RDONLY)
    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY)

    def node_socket() -> socket.socket:
        with inside(netns_fd, host_fd):
            return _plain_socket()

    servers = []
    for rule in rules:
        direction, _, rest = rule.partition(":")
        raw_port, _, target = rest.partition(":")
        port = int(raw_port)
        if direction == "in":
            with inside(netns_fd, host_fd):
                listener = _listener("0.0.0.0", port)
            handle = _handler(_plain_socket, port)
        elif direction == "out":
            listener = _listener("127.0.0.1", port)
            address, _, target_port = target.partition(":")
            handle = _handler(node_socket, int(target_port or port), address or "127.0.0.1")
        else:
            raise SystemExit(f"portbridge: unknown rule {rule!r} (in:PORT or out:PORT)")
        servers.append(await asyncio.start_server(handle, sock=listener))  # type: ignore[arg-type]
    print("ready", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eddy_testenv.portbridge")
    parser.add_argument("--netns", required=True, help="the node's /proc/<pid>/ns/net")
    parser.add_argument("rules", nargs="+", help="in:PORT or out:PORT")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.netns, args.rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
