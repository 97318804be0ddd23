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
from .helm.cache import IndexCache, cache_events
from .storage import Retention, Storage

NAME = "source-controller"


@dataclass(frozen=True)
class Settings:
    storage_path: str = ""
    storage_addr: str = ":9090"
    storage_adv_addr: str = ""
    retention: Retention = field(default_factory=Retention)
    no_cross_namespace_refs: bool = False
    helm_cache_max_size: int = 0
    helm_cache_ttl: float = 900.0
    helm_cache_purge_interval: float = 60.0


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
    add(
        "--helm-cache-max-size",
        type=int,
        default=0,
        help="The maximum size of the cache in number of indexes; 0 turns it off. (default 0)",
    )
    add(
        "--helm-cache-ttl",
        type=duration_flag,
        default=900.0,
        metavar="DURATION",
        help="The TTL of an index in the cache. (default 15m0s)",
    )
    add(
        "--helm-cache-purge-interval",
        type=duration_flag,
        default=60.0,
        metavar="DURATION",
        help="The interval at which the cache is purged. (default 1m0s)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        storage_path=args.storage_path,
        storage_addr=args.storage_addr,
        storage_adv_addr=args.storage_adv_addr,
        retention=Retention(max(1, args.artifact_retention_records), args.artifact_retention_ttl),
        no_cross_namespace_refs=options_from(args).no_cross_namespace_refs,
        helm_cache_max_size=args.helm_cache_max_size,
        helm_cache_ttl=args.helm_cache_ttl,
        helm_cache_purge_interval=args.helm_cache_purge_interval,
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


def index_cache(manager: Manager, settings: Settings) -> IndexCache | None:
    """The Helm index cache the flags ask for; its series is served either way, as Flux's."""
    events = cache_events(manager.metrics.registry)
    if settings.helm_cache_max_size <= 0:
        return None
    return IndexCache(
        settings.helm_cache_max_size, settings.helm_cache_ttl,
        settings.helm_cache_purge_interval, events,
    )  # fmt: skip


def source_controllers(
    manager: Manager,
    storage: Storage,
    no_cross_namespace_refs: bool = False,
    cache: IndexCache | None = None,
) -> list[Controller]:
    return [
        gitrepository.controller(manager, storage),
        ocirepository.controller(manager, storage),
        bucket.controller(manager, storage),
        helmrepository.controller(manager, storage, cache),
        helmchart.controller(manager, storage, cache),
        artifactgenerator.controller(manager, storage, no_cross_namespace_refs),
    ]


def controllers(manager: Manager, settings: Settings) -> list[Controller]:
    storage = serve_storage(manager, settings)
    cache = index_cache(manager, settings)
    return source_controllers(manager, storage, settings.no_cross_namespace_refs, cache)
