"""The source-controller process: GitRepository, HelmRepository, HelmChart, artifacts.

`source-controller` and `python -m source_controller` start here, with Flux's flags.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from eddy_runtime import Manager, entrypoint
from eddy_runtime.flags import _duration

from . import gitrepository, helmchart, helmrepository
from .artifact_server import start_artifact_server
from .storage import Retention, Storage

NAME = "source-controller"


def add_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--storage-path",
        default="",
        metavar="PATH",
        help="The local storage path; ./data when empty.",
    )
    add(
        "--storage-addr",
        default=":9090",
        metavar="ADDR",
        help='The address the artifact server binds to. (default ":9090")',
    )
    add(
        "--storage-adv-addr",
        default="",
        metavar="ADDR",
        help="The advertised address of the artifact server, used in artifact URLs; "
        "the host name and the --storage-addr port when empty.",
    )
    add(
        "--artifact-retention-records",
        type=int,
        default=2,
        help="The maximum number of artifacts kept per object after garbage "
        "collection, the current one included. (default 2)",
    )
    add(
        "--artifact-retention-ttl",
        type=_duration,
        default=60.0,
        metavar="DURATION",
        help="How long artifacts of previous reconciles are kept before garbage "
        "collection. (default 1m0s)",
    )


def advertised_address(storage_addr: str, advertised: str) -> str:
    """Flux's rule: the advertised address, else this host's name with the bind port."""
    if advertised:
        return advertised
    host, _, port = storage_addr.rpartition(":")
    if not host or host in ("0.0.0.0", "::", "[::]"):
        host = socket.gethostname()
    return f"{host}:{port}"


def storage_from(args: argparse.Namespace) -> Storage:
    root = Path(args.storage_path or "data").absolute()
    root.mkdir(parents=True, exist_ok=True)
    retention = Retention(max(1, args.artifact_retention_records), args.artifact_retention_ttl)
    return Storage(root, advertised_address(args.storage_addr, args.storage_adv_addr), retention)


def register(manager: Manager, storage: Storage) -> None:
    """Add the source reconcilers to a manager (used by main and by tests)."""
    manager.add(gitrepository.controller(manager, storage))
    manager.add(helmrepository.controller(manager, storage))
    manager.add(helmchart.controller(manager, storage))


def setup(manager: Manager, args: argparse.Namespace) -> None:
    storage = storage_from(args)
    register(manager, storage)
    # asyncio.run cancels this task at shutdown, which closes the server.
    task = asyncio.get_running_loop().create_task(serve_artifacts(storage.root, args.storage_addr))
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set[asyncio.Task[None]] = set()


async def serve_artifacts(root: Path, addr: str) -> None:
    """Run the artifact server until cancelled."""
    runner, _ = await start_artifact_server(root, addr)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    return entrypoint.run(NAME, setup, argv, concurrent=2, add_flags=add_flags)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
