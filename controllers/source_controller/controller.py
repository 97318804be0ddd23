"""The source-controller as the runtime runs it: flags, settings, storage, the source kinds.

Storage is the one thing the kinds share: the artifact server (run by the manager,
like every long-running piece) serves the directory their reconcilers write to.
"""

from __future__ import annotations

import argparse
import socket
from dataclasses import dataclass, field
from pathlib import Path

from eddy_runtime import Controller, Manager
from eddy_runtime.flags import duration_flag, options_from

from . import artifactgenerator, bucket, gitrepository, helmchart, helmrepository, ocirepository
from .artifact_server import artifact_app
from .storage import Retention, Storage

NAME = "source-controller"


@dataclass(frozen=True)
class Settings:
    storage_path: str = ""
    storage_addr: str = ":9090"
    storage_adv_addr: str = ""
    retention: Retention = field(default_factory=Retention)
    no_cross_namespace_refs: bool = False


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
        type=duration_flag,
        default=60.0,
        metavar="DURATION",
        help="How long artifacts of previous reconciles are kept before garbage "
        "collection. (default 1m0s)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        storage_path=args.storage_path,
        storage_addr=args.storage_addr,
        storage_adv_addr=args.storage_adv_addr,
        retention=Retention(max(1, args.artifact_retention_records), args.artifact_retention_ttl),
        no_cross_namespace_refs=options_from(args).no_cross_namespace_refs,
    )


def advertised_address(storage_addr: str, advertised: str) -> str:
    """Flux's rule: the advertised address, else this host's name with the bind port."""
    if advertised:
        return advertised
    host, _, port = storage_addr.rpartition(":")
    if not host or host in ("0.0.0.0", "::", "[::]"):
        host = socket.gethostname()
    return f"{host}:{port}"


def serve_storage(manager: Manager, settings: Settings) -> Storage:
    """The storage directory, with the manager serving it over HTTP while it runs."""
    root = Path(settings.storage_path or "data").absolute()
    root.mkdir(parents=True, exist_ok=True)
    server = manager.add_server("artifacts", artifact_app(root), settings.storage_addr)
    address = advertised_address(settings.storage_addr, settings.storage_adv_addr)
    return Storage(root, address, settings.retention, server)


def source_controllers(
    manager: Manager, storage: Storage, no_cross_namespace_refs: bool = False
) -> list[Controller]:
    return [
        gitrepository.controller(manager, storage),
        ocirepository.controller(manager, storage),
        bucket.controller(manager, storage),
        helmrepository.controller(manager, storage),
        helmchart.controller(manager, storage),
        artifactgenerator.controller(manager, storage, no_cross_namespace_refs),
    ]


def controllers(manager: Manager, settings: Settings) -> list[Controller]:
    storage = serve_storage(manager, settings)
    return source_controllers(manager, storage, settings.no_cross_namespace_refs)
