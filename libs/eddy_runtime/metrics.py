"""Prometheus metrics in the text exposition format, with Flux's series names.

Flux dashboards and alerts read `gotk_reconcile_*`; a small registry here avoids a
client library while keeping the output byte-compatible with what Prometheus scrapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from aiohttp import web

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
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {sorted(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

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


class ControllerMetrics:
    """The series every eddy controller exports, named as Flux and controller-runtime do."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        reg = self.registry
        self.reconcile_duration = reg.register(
            Histogram(
                "gotk_reconcile_duration_seconds",
                "The duration in seconds of a GitOps Toolkit resource reconciliation.",
                ("kind", "name", "namespace"),
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
                ("controller",),
            )
        )
        self.active_workers = reg.register(
            Gauge(
                "controller_runtime_active_workers",
                "Number of currently used workers per controller",
                ("controller",),
            )
        )
        self.queue_depth = reg.register(
            Gauge("workqueue_depth", "Current depth of workqueue", ("name",))
        )
        self.queue_adds = reg.register(
            Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ("name",))
        )
        self.queue_retries = reg.register(
            Counter(
                "workqueue_retries_total", "Total number of retries handled by workqueue", ("name",)
            )
        )
        self.leader = reg.register(
            Gauge("leader_election_master_status", "1 if this process holds the lease", ("name",))
        )

    def record_conditions(self, kind: str, obj: dict[str, object]) -> None:
        """Set gotk_reconcile_condition for Ready/Reconciling/Stalled from the object."""
        meta = obj.get("metadata")
        status = obj.get("status")
        if not isinstance(meta, dict):
            return
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
        conds = status.get("conditions", []) if isinstance(status, dict) else []
        by_type = {c.get("type"): c for c in conds if isinstance(c, dict)}
        for type_ in ("Ready", "Reconciling", "Stalled"):
            current = by_type.get(type_, {}).get("status")
            for value in ("True", "False", "Unknown", "Deleted"):
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

    def record_deleted(self, kind: str, namespace: str, name: str) -> None:
        """A deleted object reports Deleted=1 once, as Flux does, and drops other series."""
        for type_ in ("Ready", "Reconciling", "Stalled"):
            for value in ("True", "False", "Unknown", "Deleted"):
                labels = dict(kind=kind, name=name, namespace=namespace, type=type_, status=value)
                self.reconcile_condition.remove(**labels)
        labels = dict(kind=kind, name=name, namespace=namespace, type="Ready", status="Deleted")
        self.reconcile_condition.set(1.0, **labels)
        self.suspend_status.remove(kind=kind, name=name, namespace=namespace)


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
