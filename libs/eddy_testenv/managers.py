"""A controller's Manager in the test's own event loop, against the test control plane.

Every suite starts its controllers the same way: test-friendly options (free ports,
short retries), caches synced before the test goes on, stopped when it ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from eddy_runtime.client import make_client
from eddy_runtime.flags import Options
from eddy_runtime.informer import object_key
from eddy_runtime.manager import Controller, Manager
from eddy_runtime.resources import Obj, Resource
from eddy_testenv.waiting import eventually

TEST_OPTIONS: dict[str, Any] = {
    "metrics_addr": "127.0.0.1:0",
    "health_addr": "127.0.0.1:0",
    "min_retry_delay": 0.1,
    "max_retry_delay": 2.0,
    "graceful_shutdown_timeout": 5.0,
    "requeue_dependency": 1.0,
}


def test_options(**overrides: Any) -> Options:
    return Options(**{**TEST_OPTIONS, **overrides})


@contextlib.asynccontextmanager
async def running_manager(
    name: str,
    kubeconfig: str,
    controllers: Callable[[Manager], list[Controller]],
    **options: Any,
) -> AsyncIterator[Manager]:
    """Run `controllers(manager)` until the block ends; `options` override TEST_OPTIONS."""
    api = await make_client(kubeconfig)
    try:
        manager = Manager(name, test_options(**options), api, handle_signals=False)
        for controller in controllers(manager):
            manager.add(controller)
        async with manager.running():
            yield manager
    finally:
        await api.close()


async def settled(manager: Manager, controller: str, obj: Obj, *seen: tuple[Resource, Obj]) -> None:
    """Wait until the controller has seen these objects and has no work left for `obj`.

    The positive signal a test waits for before it checks that a change (a suspend,
    a status update, a watched object) caused nothing: never a guessed sleep.
    """
    kind = manager.controller(controller).resource

    async def quiet() -> bool:
        return all(manager.has_seen(r, o) for r, o in ((kind, obj), *seen)) and manager.idle(
            controller, object_key(obj)
        )

    await eventually(quiet, timeout=20.0, interval=0.05)
