"""Prometheus metrics in the text exposition format, with Flux's series names.

Flux dashboards and alerts read `gotk_reconcile_*`; a small registry here avoids a
client library while keeping the output byte-compatible with what Prometheus scrapes.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

LabelValues = tuple[str, ...]

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)

    def _key(self, labels: dict[str, str]) -> LabelValues:
        # On every status change and API request: no sets built, no generator.
        try:
            if len(labels) == len(self.label_names):
                return tuple([str(labels[n]) for n in self.label_names])
        except KeyError:
            pass
        raise ValueError(f"{self.name} takes labels {self.label_names}, got {sorted(labels)}")

    def samples(self) -> Iterable[str]:
        raise NotImplementedError

    def expose(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.samples())


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def remove(self, **labels: str) -> None:
        self._values.pop(self._key(labels), None)

    def samples(self) -> Iterable[str]:
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}

    def set(self, value: float, **labels: str) -> None:
        self._values[self._key(labels)] = value

    def value(self, **labels: str) -> float | None:
        return self._values.get(self._key(labels))

    def remove(self, **labels: str) -> None:
        self._values.pop(self._key(labels), None)

    def samples(self) -> Iterable[str]:
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[LabelValues, list[int]] = {}
        self._sums: dict[LabelValues, float] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
        counts[-1] += 1
        self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: str) -> int:
        counts = self._counts.get(self._key(labels))
        return counts[-1] if counts else 0

    def remove(self, **labels: str) -> None:
        key = self._key(labels)
        self._counts.pop(key, None)
        self._sums.pop(key, None)

    def samples(self) -> Iterable[str]:
        for key, counts in sorted(self._counts.items()):
            for bound, count in zip(self.buckets, counts, strict=False):
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(self.label_names, key, le)} {count}"
            inf = _labels(self.label_names, key, 'le="+Inf"')
            yield f"{self.name}_bucket{inf} {counts[-1]}"
            yield f"{self.name}_sum{_labels(self.label_names, key)} {_number(self._sums[key])}"
            yield f"{self.name}_count{_labels(self.label_names, key)} {counts[-1]}"


M = TypeVar("M", bound=_Metric)


class Registry:
    """The set of metrics one process exposes."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._collectors: list[Callable[[], None]] = []

    def add_collector(self, collect: Callable[[], None]) -> None:
        """`collect` runs before each exposition, to refresh gauges read from state."""
        self._collectors.append(collect)

    def register(self, metric: M) -> M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric
        return metric

    def expose(self) -> str:
        for collect in self._collectors:
            collect()
        return "".join(m.expose() for m in self._metrics.values())


# Flux's gotk_reconcile_duration_seconds: ten exponential buckets from 10ms to 30 minutes.
FLUX_DURATION_BUCKETS: tuple[float, ...] = tuple(0.01 * (1800 / 0.01) ** (i / 9) for i in range(10))
# controller-runtime's controller_runtime_reconcile_time_seconds buckets.
RECONCILE_TIME_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
    0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30,
    40, 50, 60,
)  # fmt: skip
# client-go's work queue histograms: powers of ten from 10ns to 1000s.
QUEUE_BUCKETS: tuple[float, ...] = tuple(1e-8 * 10**i for i in range(12))
# Time from a source storing a revision to a consumer applying it.
APPLY_DELAY_BUCKETS: tuple[float, ...] = (
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip
RESULTS = ("error", "requeue", "requeue_after", "success")
CONDITION_STATUSES = ("True", "False", "Unknown")


class ControllerMetrics:
    """The series every eddy controller exports, named as Flux and controller-runtime do.

    Names, label sets and types are those of Flux's controllers (controller-runtime's
    `controller_runtime_*` and client-go's `workqueue_*` and `rest_client_*` series,
    Flux's `gotk_*`), so Flux's dashboards and alerts read eddy unchanged; `eddy_*`
    series are eddy's own.
    """

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        reg = self.registry
        by_controller = ("controller",)
        by_queue = ("name", "controller")
        self.reconcile_duration = reg.register(
            Histogram(
                "gotk_reconcile_duration_seconds",
                "The duration in seconds of a GitOps Toolkit resource reconciliation.",
                ("kind", "name", "namespace"),
                FLUX_DURATION_BUCKETS,
            )
        )
        self.reconcile_condition = reg.register(
            Gauge(
                "gotk_reconcile_condition",
                "The current condition status of a GitOps Toolkit resource reconciliation.",
                ("kind", "name", "namespace", "type", "status"),
            )
        )
        self.suspend_status = reg.register(
            Gauge(
                "gotk_suspend_status",
                "The current suspend status of a GitOps Toolkit resource.",
                ("kind", "name", "namespace"),
            )
        )
        self.reconcile_total = reg.register(
            Counter(
                "controller_runtime_reconcile_total",
                "Total number of reconciliations per controller",
                ("controller", "result"),
            )
        )
        self.reconcile_errors = reg.register(
            Counter(
                "controller_runtime_reconcile_errors_total",
                "Total number of reconciliation errors per controller",
                by_controller,
            )
        )
        self.reconcile_panics = reg.register(
            Counter(
                "controller_runtime_reconcile_panics_total",
                "Total number of reconciliation panics per controller "
                "(in eddy: unexpected exceptions out of a reconciler)",
                by_controller,
            )
        )
        self.reconcile_time = reg.register(
            Histogram(
                "controller_runtime_reconcile_time_seconds",
                "Length of time per reconciliation per controller",
                by_controller,
                RECONCILE_TIME_BUCKETS,
            )
        )
        self.max_concurrent = reg.register(
            Gauge(
                "controller_runtime_max_concurrent_reconciles",
                "Maximum number of concurrent reconciles per controller",
                by_controller,
            )
        )
        self.active_workers = reg.register(
            Gauge(
                "controller_runtime_active_workers",
                "Number of currently used workers per controller",
                by_controller,
            )
        )
        self.queue_depth = reg.register(
            Gauge(
                "workqueue_depth",
                "Current depth of workqueue by workqueue and priority",
                ("name", "controller", "priority"),
            )
        )
        self.queue_adds = reg.register(
            Counter("workqueue_adds_total", "Total number of adds handled by workqueue", by_queue)
        )
        self.queue_latency = reg.register(
            Histogram(
                "workqueue_queue_duration_seconds",
                "How long in seconds an item stays in workqueue before being requested",
                by_queue,
                QUEUE_BUCKETS,
            )
        )
        self.work_duration = reg.register(
            Histogram(
                "workqueue_work_duration_seconds",
                "How long in seconds processing an item from workqueue takes.",
                by_queue,
                QUEUE_BUCKETS,
            )
        )
        self.unfinished_work = reg.register(
            Gauge(
                "workqueue_unfinished_work_seconds",
                "How many seconds of work has been done that is in progress and hasn't "
                "been observed by work_duration.",
                by_queue,
            )
        )
        self.longest_running = reg.register(
            Gauge(
                "workqueue_longest_running_processor_seconds",
                "How many seconds has the longest running processor for workqueue been running.",
                by_queue,
            )
        )
        self.queue_retries = reg.register(
            Counter(
                "workqueue_retries_total",
                "Total number of items added to the workqueue with a non-zero delay",
                by_queue,
            )
        )
        self.rest_requests = reg.register(
            Counter(
                "rest_client_requests_total",
                "Number of HTTP requests, partitioned by status code, method, and host.",
                ("code", "method", "host"),
            )
        )
        self.leader = reg.register(
            Gauge("leader_election_master_status", "1 if this process holds the lease", ("name",))
        )
        self.apply_delay = reg.register(
            Histogram(
                "eddy_revision_apply_delay_seconds",
                "Seconds from a source storing a revision (its artifact's lastUpdateTime) "
                "to a consumer applying it for the first time.",
                ("kind",),
                APPLY_DELAY_BUCKETS,
            )
        )
        self.drift_corrections = reg.register(
            Counter(
                "eddy_drift_corrections_total",
                "Objects put back to what the source says after they changed in the "
                "cluster, at a revision already applied.",
                ("kind", "name", "namespace"),
            )
        )
        self.artifact_size = reg.register(
            Gauge(
                "eddy_artifact_size_bytes",
                "Size in bytes of the artifact a source object publishes (status.artifact.size).",
                ("kind", "name", "namespace"),
            )
        )
        add_process_metrics(reg)

    def controller_started(self, controller: str, workers: int) -> None:
        """Zero every per-controller series, as controller-runtime does, so that rates
        and `result="error"` panels read 0, not "no data", before the first error."""
        for result in RESULTS:
            self.reconcile_total.inc(0, controller=controller, result=result)
        self.reconcile_errors.inc(0, controller=controller)
        self.reconcile_panics.inc(0, controller=controller)
        self.max_concurrent.set(float(workers), controller=controller)
        self.active_workers.set(0.0, controller=controller)
        self.queue_adds.inc(0, name=controller, controller=controller)
        self.queue_retries.inc(0, name=controller, controller=controller)

    def record_apply_delay(self, kind: str, last_update_time: str) -> None:
        """A consumer applied a revision for the first time: observe how long ago its
        source stored it (the artifact's lastUpdateTime, RFC 3339)."""
        try:
            stored = datetime.fromisoformat(last_update_time.replace("Z", "+00:00"))
        except ValueError:
            return
        if stored.tzinfo is None:
            return
        delay = (datetime.now(UTC) - stored).total_seconds()
        self.apply_delay.observe(max(delay, 0.0), kind=kind)

    def record_drift(self, kind: str, namespace: str, name: str, corrected: int) -> None:
        """`corrected` objects were put back at a revision already applied."""
        self.drift_corrections.inc(float(corrected), kind=kind, name=name, namespace=namespace)

    def record_conditions(self, kind: str, obj: dict[str, object]) -> None:
        """Set gotk_reconcile_condition for Ready/Reconciling/Stalled from the object.

        A missing Ready reads Unknown (as Flux records it); a missing Reconciling or
        Stalled has no series.
        """
        meta = obj.get("metadata")
        status = obj.get("status")
        if not isinstance(meta, dict):
            return
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
        conds = status.get("conditions", []) if isinstance(status, dict) else []
        by_type = {c.get("type"): c for c in conds if isinstance(c, dict)}
        for type_ in ("Ready", "Reconciling", "Stalled"):
            current = by_type.get(type_, {}).get("status")
            if current is None and type_ == "Ready":
                current = "Unknown"
            for value in CONDITION_STATUSES:
                labels = dict(kind=kind, name=name, namespace=namespace, type=type_, status=value)
                if current is None:
                    self.reconcile_condition.remove(**labels)
                else:
                    self.reconcile_condition.set(1.0 if value == current else 0.0, **labels)
        spec = obj.get("spec")
        suspended = isinstance(spec, dict) and spec.get("suspend") is True
        self.suspend_status.set(
            1.0 if suspended else 0.0, kind=kind, name=name, namespace=namespace
        )
        artifact = status.get("artifact") if isinstance(status, dict) else None
        size = artifact.get("size") if isinstance(artifact, dict) else None
        if isinstance(size, int | float) and not isinstance(size, bool):
            self.artifact_size.set(float(size), kind=kind, name=name, namespace=namespace)

    def record_deleted(self, kind: str, namespace: str, name: str) -> None:
        """A deleted object's series go away, as Flux deletes them."""
        for type_ in ("Ready", "Reconciling", "Stalled"):
            for value in CONDITION_STATUSES:
                labels = dict(kind=kind, name=name, namespace=namespace, type=type_, status=value)
                self.reconcile_condition.remove(**labels)
        ref = dict(kind=kind, name=name, namespace=namespace)
        self.suspend_status.remove(**ref)
        self.reconcile_duration.remove(**ref)
        self.artifact_size.remove(**ref)
        self.drift_corrections.remove(**ref)


def add_process_metrics(registry: Registry) -> None:
    """The process_* series every Prometheus client serves, read from /proc on Linux,
    and `python_info`."""
    info = registry.register(
        Gauge(
            "python_info",
            "Python platform information",
            ("implementation", "major", "minor", "patchlevel", "version"),
        )
    )
    impl = sys.implementation.name
    major, minor, patch = (str(v) for v in sys.version_info[:3])
    info.set(1.0, implementation=impl, major=major, minor=minor, patchlevel=patch,
             version=platform.python_version())  # fmt: skip
    if not os.path.exists("/proc/self/stat"):
        return
    cpu = registry.register(
        Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
    )
    rss = registry.register(
        Gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
    )
    vms = registry.register(Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes."))
    start = registry.register(
        Gauge(
            "process_start_time_seconds", "Start time of the process since unix epoch in seconds."
        )
    )
    fds = registry.register(Gauge("process_open_fds", "Number of open file descriptors."))
    max_fds = registry.register(
        Gauge("process_max_fds", "Maximum number of open file descriptors.")
    )
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/stat") as handle:
        boot = next(float(line.split()[1]) for line in handle if line.startswith("btime "))

    def collect() -> None:
        with open("/proc/self/stat") as handle:
            # Fields after the parenthesised command name, which may hold spaces.
            fields = handle.read().rpartition(")")[2].split()
        used = (int(fields[11]) + int(fields[12])) / ticks
        cpu.inc(used - cpu.value())
        vms.set(float(fields[20]))
        rss.set(float(int(fields[21]) * page))
        start.set(boot + int(fields[19]) / ticks)
        fds.set(float(len(os.listdir("/proc/self/fd"))))
        max_fds.set(float(resource.getrlimit(resource.RLIMIT_NOFILE)[0]))

    registry.add_collector(collect)


def _host(url: str) -> str:
    """urlsplit(url).netloc, without parsing the rest of the URL on every request."""
    rest = url.partition("://")[2]
    for end in "/?#":
        rest = rest.partition(end)[0]
    return rest


def count_requests(api: ApiClient, counter: Counter) -> None:
    """Count each request `api` sends in `counter` (rest_client_requests_total), by
    status code ("<error>" when no response came), method and host, as client-go does."""
    rest = api.rest_client
    send = rest.request

    async def request(method: str, url: str, *args: Any, **kw: Any) -> Any:
        code = "<error>"
        try:
            response = await send(method, url, *args, **kw)
            code = str(getattr(response, "status", "") or "<error>")
            return response
        except ApiException as err:
            code = str(err.status or "<error>")
            raise
        finally:
            counter.inc(code=code, method=method.upper(), host=_host(url))

    rest.request = request


def parse_addr(addr: str) -> tuple[str, int]:
    """ ":8080" -> ("0.0.0.0", 8080); "127.0.0.1:0" -> ("127.0.0.1", 0)."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


async def serve(app: web.Application, addr: str) -> tuple[web.AppRunner, int]:
    """Start `app` on `addr`; returns the runner (for cleanup) and the bound port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = parse_addr(addr)
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)


def metrics_app(registry: Registry) -> web.Application:
    async def handle(_: web.Request) -> web.Response:
        return web.Response(
            body=registry.expose().encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    app = web.Application()
    app.router.add_get("/metrics", handle)
    return app
