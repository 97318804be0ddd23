"""The `main` of every eddy controller process: flags, logs, tracing, client, manager.

Each controller's __main__ calls `run(NAME, controllers, settings_from, add_flags)`
from its controller.py; the process wiring is identical for every controller and
lives here once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from eddy_artifacts import limits

from . import logs, tracing
from .client import make_client
from .flags import add_runtime_flags, options_from
from .manager import Controller, Manager

log = logging.getLogger("eddy")

S = TypeVar("S")


def run(
    name: str,
    controllers: Callable[[Manager, S], list[Controller]],
    settings_from: Callable[[argparse.Namespace], S],
    add_flags: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: Sequence[str] | None = None,
    concurrent: int = 4,
) -> int:
    """Parse flags, run the manager until SIGTERM, return the exit code.

    `add_flags(parser)` adds the controller's own flags beside the shared ones;
    `settings_from(args)` reads them; `controllers(manager, settings)` returns the
    process's controllers, one per kind, which the manager runs.
    """
    parser = argparse.ArgumentParser(prog=name)
    add_runtime_flags(parser, concurrent=concurrent)
    limits.add_flags(parser)
    if add_flags is not None:
        add_flags(parser)
    args = parser.parse_args(argv)
    options = options_from(args)
    limits.configure_from(args)
    logs.setup(options.log_level, options.log_encoding, controller=name)
    try:
        return asyncio.run(_main(name, lambda m: controllers(m, settings_from(args)), args))
    except KeyboardInterrupt:
        return 130


async def _main(
    name: str, build: Callable[[Manager], list[Controller]], args: argparse.Namespace
) -> int:
    options = options_from(args)
    tracing.setup(name)
    api = await make_client(options.kubeconfig)
    try:
        manager = Manager(name, options, api)
        for controller in build(manager):
            manager.add(controller)
        return await manager.run()
    except Exception:
        log.exception("controller failed to start")
        return 1
    finally:
        await api.close()
        tracing.shutdown()
