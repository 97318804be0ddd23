"""The `main` of every eddy controller process: flags, logs, tracing, client, manager.

Each controller's __main__ calls `run(name, setup)`; the process wiring is identical
for all four and lives here once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Sequence

from . import logs, tracing
from .client import make_client
from .flags import add_runtime_flags, options_from
from .manager import Manager

log = logging.getLogger("eddy")

Setup = Callable[[Manager, argparse.Namespace], None]


def run(
    name: str,
    setup: Setup,
    argv: Sequence[str] | None = None,
    concurrent: int = 4,
    add_flags: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Parse flags, run the manager until SIGTERM, return the exit code.

    `setup(manager, args)` registers the controller's reconcilers and watches;
    `add_flags(parser)` adds the controller's own flags beside the shared ones.
    """
    parser = argparse.ArgumentParser(prog=name)
    add_runtime_flags(parser, concurrent=concurrent)
    if add_flags is not None:
        add_flags(parser)
    args = parser.parse_args(argv)
    options = options_from(args)
    logs.setup(options.log_level, options.log_encoding, controller=name)
    try:
        return asyncio.run(_main(name, setup, args))
    except KeyboardInterrupt:
        return 130


async def _main(name: str, setup: Setup, args: argparse.Namespace) -> int:
    options = options_from(args)
    tracing.setup(name)
    api = await make_client(options.kubeconfig)
    try:
        manager = Manager(name, options, api)
        setup(manager, args)
        return await manager.run()
    except Exception:
        log.exception("controller failed to start")
        return 1
    finally:
        await api.close()
        tracing.shutdown()
