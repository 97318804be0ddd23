"""Runs controllers: informers, work queues, workers, servers, leader election, shutdown.

A controller is registered as a reconciler plus what it watches; the manager owns
everything around it (including any HTTP server a controller needs, and closing the
reconcilers at shutdown) so every eddy controller has one way of running.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client import ApiClient

from . import logs, tracing
from .annotations import is_suspended, requested_at
from .events import EventRecorder
from .finalizers import is_deleting
from .flags import Options
from .informer import ADDED, DELETED, IndexFunc, Informer, object_key
from .leader import LeaderElector
from .metrics import ControllerMetrics, count_requests, metrics_app, serve
from .probes import probes_app
from .ratelimit import TokenBucket
from .reconciler import Closable, Reconciler, Result
from .resources import Obj, Resource, ResourceClient
from .status import StatusPatcher
from .workqueue import Backoff, ShutDown, WorkQueue, jittered

log = logging.getLogger("eddy.manager")

MapFunc = Callable[[Obj], Iterable[str]]
Predicate = Callable[[Obj | None, Obj], bool]


def ref_key(kind: str, namespace: str, name: str) -> str:
    """The value secondary indexes use for "refers to this object"."""
    return f"{kind}/{namespace}/{name}"


def spec_or_request_changed(old: Obj | None, new: Obj) -> bool:
    """Reconcile on a new generation, a new requestedAt, or the start of deletion.

    Status-only updates (including our own status patches) do not trigger a reconcile.
    """
    if old is None:
        return True
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    return (
        old_meta.get("generation") != new_meta.get("generation")
        or requested_at(old) != requested_at(new)
        or bool(old_meta.get("deletionTimestamp")) != bool(new_meta.get("deletionTimestamp"))
    )


def any_change(old: Obj | None, new: Obj) -> bool:
    return True


@dataclass
class Watch:
    """A secondary resource whose changes map to keys of the controller's objects.

    Either `map` (object -> primary keys "ns/name") or `index` (the name of one of the
    controller's indexes; the watched object is looked up there by `ref_key`).
    A kind that this process also reconciles is seen through --watch-label-selector.
    """

    resource: Resource
    map: MapFunc | None = None
    index: str = ""
    predicate: Predicate = any_change
    # Only objects with matching labels are listed, watched and cached ("" for all).
    label_selector: str = ""


@dataclass
class Controller:
    """One reconciler and what it watches: its own kind plus secondary resources.

    `trace_parent(obj)` names the trace a pass continues (the W3C traceparent of a
    source revision the object has yet to take up, see `tracing.parent_of`); None
    starts a trace of its own.
    """

    name: str
    resource: Resource
    reconciler: Reconciler
    watches: list[Watch] = field(default_factory=list)
    indexes: dict[str, IndexFunc] = field(default_factory=dict)
    predicate: Predicate = spec_or_request_changed
    trace_parent: Callable[[Obj], str | None] | None = None


@dataclass
class Server:
    """An HTTP server the manager runs beside the controllers (the artifact server).

    It serves from start to shutdown, leader or not; `port` is the bound port once
    serving (useful with an address ending in ":0").
    """

    name: str
    app: web.Application
    addr: str
    port: int = 0


@dataclass
class _Running:
    controller: Controller
    informer: Informer
    queue: WorkQueue[str]
    in_flight: set[str] = field(default_factory=set)


class Manager:
    """Owns one process's API client, caches, queues, workers and servers."""

    def __init__(
        self, name: str, options: Options, api: ApiClient, handle_signals: bool = True
    ) -> None:
        self.name = name
        self.handle_signals = handle_signals
        self.options = options
        self.api = api
        limiter = TokenBucket(options.kube_api_qps, options.kube_api_burst)
        self.client = ResourceClient(api, field_manager=name, limiter=limiter)
        self.status = StatusPatcher(self.client)
        self.events = EventRecorder(self.client, name, events_addr=options.events_addr)
        self.metrics = ControllerMetrics()
        self.metrics.registry.add_collector(self._collect)
        count_requests(api, self.metrics.rest_requests)
        self.metrics_port = 0
        self.health_port = 0
        self.elector: LeaderElector | None = None
        self._controllers: list[Controller] = []
        self._running: dict[str, _Running] = {}
        self._informers: dict[tuple[Resource, str], Informer] = {}
        self._servers: list[Server] = []
        self._stop = asyncio.Event()
        self._started = False
        self.done = False

    # Registration -----------------------------------------------------------------

    def add(self, controller: Controller) -> None:
        if self._started:
            raise RuntimeError("register controllers before run()")
        self._controllers.append(controller)

    def add_server(self, name: str, app: web.Application, addr: str) -> Server:
        """Serve `app` on `addr` ("host:port", ":port") while the manager runs."""
        if self._started:
            raise RuntimeError("register servers before run()")
        server = Server(name, app, addr)
        self._servers.append(server)
        return server

    def server(self, name: str) -> Server:
        """A server registered with add_server, e.g. to read the port it bound."""
        return next(s for s in self._servers if s.name == name)

    def informer(self, resource: Resource, label_selector: str = "") -> Informer:
        """The shared cache of a resource in the watched namespaces, created on first use.

        One per resource: a kind this process reconciles is listed through
        --watch-label-selector (set when the controllers are wired), for every reader.
        With `label_selector`, a cache of its own holding only the matching objects.
        """
        found = self._informers.get((resource, label_selector))
        if found is None:
            found = Informer(
                self.client, resource, self.watch_namespace, label_selector, max_backoff=10.0
            )
            self._informers[(resource, label_selector)] = found
        return found

    def controller(self, name: str) -> Controller:
        return self._running[name].controller

    @property
    def watch_namespace(self) -> str | None:
        return None if self.options.watch_all_namespaces else self.options.runtime_namespace

    # Running ----------------------------------------------------------------------

    def stop(self) -> None:
        """Begin graceful shutdown (what SIGTERM does)."""
        self._stop.set()

    def ready(self) -> bool:
        return self._started and all(i.synced.is_set() for i in self._informers.values())

    def has_seen(self, resource: Resource, obj: Obj, label_selector: str = "") -> bool:
        """Whether this process's cache of `resource` holds `obj` at its version or later.

        Event handlers run as the cache is updated: once seen, the change has been
        mapped to whatever work it causes.
        """
        cached = self.informer(resource, label_selector).get_by_key(object_key(obj))
        if cached is None:
            return False
        have = str((cached.get("metadata") or {}).get("resourceVersion", ""))
        want = str((obj.get("metadata") or {}).get("resourceVersion", ""))
        if have.isdigit() and want.isdigit():
            return int(have) >= int(want)
        return have == want

    def idle(self, controller: str, key: str) -> bool:
        """Whether no reconcile of `key` is queued or running for that controller.

        With has_seen, the positive signal that a change caused no work.
        """
        running = self._running[controller]
        return not running.queue.is_queued(key) and key not in running.in_flight

    @contextlib.asynccontextmanager
    async def running(self, timeout: float = 60.0) -> AsyncIterator[Manager]:
        """Run in the background until the block ends; enter once caches are synced.

        For tests and benchmarks that run a controller inside their own event loop.
        """
        task = asyncio.create_task(self.run())
        try:
            async with asyncio.timeout(timeout):
                while not self.ready():
                    if task.done():
                        task.result()
                        raise RuntimeError(f"{self.name} stopped before it was ready")
                    await asyncio.sleep(0.05)
            yield self
        finally:
            self.stop()
            try:
                await asyncio.wait_for(
                    asyncio.shield(task), self.options.graceful_shutdown_timeout + 5
                )
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> int:
        """Run until stop() or SIGTERM; returns a process exit code."""
        self._started = True
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT) if self.handle_signals else ():
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        self._wire()
        runners: list[web.AppRunner] = []
        tasks: list[asyncio.Task[Any]] = []
        workers: list[asyncio.Task[None]] = []
        code = 0
        try:
            runner, self.metrics_port = await serve(
                metrics_app(self.metrics.registry), self.options.metrics_addr
            )
            runners.append(runner)
            runner, self.health_port = await serve(probes_app(self.ready), self.options.health_addr)
            runners.append(runner)
            log.info(
                "serving metrics on :%d and probes on :%d", self.metrics_port, self.health_port
            )
            for server in self._servers:
                runner, server.port = await serve(server.app, server.addr)
                runners.append(runner)
                log.info("serving %s on :%d", server.name, server.port)
            tasks += [asyncio.create_task(i.run()) for i in self._informers.values()]
            hold: asyncio.Task[None] | None = None
            if self.options.enable_leader_election:
                if not await self._lead():
                    return 0
                hold = asyncio.create_task(self.elector.hold())  # type: ignore[union-attr]
                tasks.append(hold)
            for name in self._running:
                self.metrics.controller_started(name, self.options.concurrent)
            workers += [
                asyncio.create_task(self._worker(running))
                for running in self._running.values()
                for _ in range(self.options.concurrent)
            ]
            stopping = asyncio.create_task(self._stop.wait())
            waiting: set[asyncio.Task[Any]] = {stopping} | ({hold} if hold else set())
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if hold is not None and hold in done and not self._stop.is_set():
                log.error("leader election lost, shutting down")
                code = 1
            stopping.cancel()
            await self._drain(workers)
            if hold is not None:
                hold.cancel()
                await asyncio.gather(hold, return_exceptions=True)
            if self.elector is not None and code == 0:
                await self.elector.release()
        finally:
            for task in [*workers, *tasks]:
                task.cancel()
            await asyncio.gather(*workers, *tasks, return_exceptions=True)
            for runner in runners:
                await runner.cleanup()
            await self._close_reconcilers()
            await self.events.close()
            self.done = True
        log.info("stopped")
        return code

    async def _close_reconcilers(self) -> None:
        """Release what reconcilers hold (HTTP sessions, scratch directories)."""
        for ctl in self._controllers:
            if isinstance(ctl.reconciler, Closable):
                try:
                    await ctl.reconciler.close()
                except Exception:
                    log.exception("closing the %s reconciler failed", ctl.name)

    async def _lead(self) -> bool:
        self.elector = LeaderElector(
            self.client,
            namespace=self.options.runtime_namespace,
            name=f"{self.name}-leader-election",
            lease_duration=self.options.leader_election_lease_duration,
            renew_deadline=self.options.leader_election_renew_deadline,
            retry_period=self.options.leader_election_retry_period,
            release_on_cancel=self.options.leader_election_release_on_cancel,
        )
        log.info("waiting for lease %s", self.elector.name)
        acquire = asyncio.create_task(self.elector.acquire())
        stopping = asyncio.create_task(self._stop.wait())
        await asyncio.wait({acquire, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not acquire.done():
            acquire.cancel()
            return False
        self.metrics.leader.set(1.0, name=self.elector.name)
        return True

    async def _drain(self, workers: list[asyncio.Task[None]]) -> None:
        """Stop handing out keys; give in-flight reconciles until the deadline."""
        for running in self._running.values():
            running.queue.shut_down()
        busy = sum(len(r.in_flight) for r in self._running.values())
        log.info("shutting down, waiting for %d in-flight reconciles", busy)
        deadline = self.options.graceful_shutdown_timeout
        _, pending = await asyncio.wait(workers, timeout=deadline) if workers else (set(), set())
        if pending:
            log.error("reconciles still running after %.0fs, cancelling them", deadline)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _wire(self) -> None:
        for ctl in self._controllers:
            primary = self.informer(ctl.resource)
            # Sharding: every reader of a kind this process reconciles sees the same
            # selected subset (the informer has not listed anything yet).
            primary.label_selector = self.options.watch_label_selector
            for name, func in ctl.indexes.items():
                primary.add_index(name, func)
            backoff = Backoff(self.options.min_retry_delay, self.options.max_retry_delay)
            waited = functools.partial(
                self.metrics.queue_latency.observe, name=ctl.name, controller=ctl.name
            )
            running = _Running(ctl, primary, WorkQueue(backoff, on_wait=waited))
            self._running[ctl.name] = running
            primary.add_handler(self._primary_handler(running))
            for watch in ctl.watches:
                informer = self.informer(watch.resource, watch.label_selector)
                informer.add_handler(self._watch_handler(running, watch))

    def _primary_handler(self, running: _Running) -> Callable[[str, Obj | None, Obj], None]:
        ctl = running.controller
        kind = ctl.resource.kind

        def handle(event: str, old: Obj | None, new: Obj) -> None:
            key = object_key(new)
            if event == DELETED:
                meta = new.get("metadata") or {}
                self.metrics.record_deleted(kind, meta.get("namespace", ""), meta["name"])
                running.queue.forget(key)
                return
            self.metrics.record_conditions(kind, new)
            if event == ADDED or ctl.predicate(old, new):
                running.queue.add(key)

        return handle

    def _watch_handler(
        self, running: _Running, watch: Watch
    ) -> Callable[[str, Obj | None, Obj], None]:
        def handle(event: str, old: Obj | None, new: Obj) -> None:
            if event not in (ADDED, DELETED) and not watch.predicate(old, new):
                return
            if watch.map is not None:
                keys = list(watch.map(new))
            else:
                meta = new.get("metadata") or {}
                value = ref_key(watch.resource.kind, meta.get("namespace", ""), meta["name"])
                keys = [object_key(o) for o in running.informer.by_index(watch.index, value)]
            for key in keys:
                running.queue.add(key)

        return handle

    async def _worker(self, running: _Running) -> None:
        queue = running.queue
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            running.in_flight.add(key)
            started = time.perf_counter()
            try:
                await self._process(running, key)
            finally:
                running.in_flight.discard(key)
                queue.done(key)
                name = running.controller.name
                self.metrics.work_duration.observe(
                    time.perf_counter() - started, name=name, controller=name
                )

    async def _process(self, running: _Running, key: str) -> None:
        ctl = running.controller
        obj = running.informer.get_by_key(key)
        if obj is None:
            running.queue.forget(key)
            return
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta["name"])
        kind = ctl.resource.kind
        with logs.object_context(kind, namespace, name):
            if is_suspended(obj) and not is_deleting(obj):
                log.info("reconciliation is suspended for this object")
                running.queue.forget(key)
                return
            started = time.perf_counter()
            outcome = "success"
            self.metrics.active_workers.set(len(running.in_flight), controller=ctl.name)
            try:
                parent = self._trace_parent(ctl, obj)
                with tracing.span(
                    "reconcile", parent, kind=kind, namespace=namespace, name=name
                ) as current:
                    try:
                        result = await ctl.reconciler.reconcile(obj)
                    except Exception as err:
                        tracing.ended(current, tracing.ERROR, type(err).__name__)
                        raise
                    failed = isinstance(result, Result) and (result.backoff or result.failed)
                    tracing.ended(current, tracing.ERROR if failed else tracing.SUCCESS)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                outcome = "error"
                delay = running.queue.add_rate_limited(key)
                self.metrics.reconcile_errors.inc(controller=ctl.name)
                self.metrics.reconcile_panics.inc(controller=ctl.name)
                log.error(
                    "reconciliation failed, retrying in %.2fs", delay,
                    exc_info=err, extra={"retry_in": round(delay, 3)},
                )  # fmt: skip
            else:
                if not isinstance(result, Result):
                    result = Result()
                if result.backoff:
                    # The failure is in status already; only its schedule is the queue's.
                    outcome = "error"
                    delay = running.queue.add_rate_limited(key, result.requeue_after)
                    self.metrics.reconcile_errors.inc(controller=ctl.name)
                    log.info("retrying in %.2fs", delay, extra={"retry_in": round(delay, 3)})
                else:
                    running.queue.forget(key)
                    if result.failed:
                        outcome = "error"
                        self.metrics.reconcile_errors.inc(controller=ctl.name)
                    if result.requeue_after is not None and result.requeue_after >= 0:
                        outcome = "error" if result.failed else "requeue_after"
                        running.queue.add_after(
                            key,
                            jittered(result.requeue_after, self.options.interval_jitter_percentage),
                        )
            finally:
                elapsed = time.perf_counter() - started
                self.metrics.reconcile_duration.observe(
                    elapsed, kind=kind, name=name, namespace=namespace
                )
                self.metrics.reconcile_time.observe(elapsed, controller=ctl.name)
                self.metrics.reconcile_total.inc(controller=ctl.name, result=outcome)
                self.metrics.active_workers.set(len(running.in_flight) - 1, controller=ctl.name)

    @staticmethod
    def _trace_parent(ctl: Controller, obj: Obj) -> str | None:
        if ctl.trace_parent is None:
            return None
        try:
            return ctl.trace_parent(obj)
        except Exception:
            # A trace is worth less than the reconcile it would describe.
            log.debug("cannot tell which trace this pass continues", exc_info=True)
            return None

    def _collect(self) -> None:
        m = self.metrics
        for name, running in self._running.items():
            queue = running.queue
            labels = dict(name=name, controller=name)
            m.queue_depth.set(float(len(queue)), priority="", **labels)
            m.queue_adds.inc(queue.adds_total - m.queue_adds.value(**labels), **labels)
            m.queue_retries.inc(queue.retries_total - m.queue_retries.value(**labels), **labels)
            busy = queue.processing_for()
            m.unfinished_work.set(sum(busy), **labels)
            m.longest_running.set(max(busy, default=0.0), **labels)
