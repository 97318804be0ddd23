"""`make screenshots-monitoring`: eddy's and Flux's dashboards as docs/img/monitoring-*.png.

The scene of `make screenshots` (a local control plane, eddy's source- and
kustomize-controller as processes, applications that are applied, drifted,
failing, waiting and suspended), plus kube-state-metrics with eddy's
configuration and Prometheus scraping it all. There is no Grafana here: each
dashboard's panels are drawn from Prometheus' answers to the panels' own
queries, on a plain page, and Chromium takes the picture.
"""

from __future__ import annotations

import html
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from screenshots import OUT, Scene

from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.dashboard import Browser
from eddy_testenv.dashboards import (
    FLUX_CLUSTER,
    FLUX_CONTROL_PLANE,
    Panel,
    eddy_dashboard,
)
from eddy_testenv.prometheus import KubeStateMetrics, Prometheus, Target

OPERATOR_NAMESPACE = "flux-system"
COLLECT_SECONDS = 150
COLOURS = ("#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#14b8a6", "#ec4899", "#64748b")
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font: 13px system-ui, sans-serif; background: #111217; color: #d8d9da; margin: 16px; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }} .sub {{ color: #8e8e8e; margin-bottom: 12px; }}
.grid {{ display: grid; grid-template-columns: repeat(12, 1fr); gap: 8px; }}
.panel {{ background: #181b1f; border: 1px solid #2c3235; border-radius: 3px; padding: 8px;
         overflow: hidden; }}
.panel h2 {{ font-size: 13px; margin: 0 0 6px; font-weight: 500; }}
.stat {{ font-size: 28px; color: #73bf69; margin-right: 16px; }} .stat small {{ font-size: 11px;
        color: #8e8e8e; display: block; }}
.stats {{ display: flex; flex-wrap: wrap; }}
table {{ border-collapse: collapse; width: 100%; font-size: 11px; }}
td, th {{ border-bottom: 1px solid #2c3235; padding: 2px 4px; text-align: left; }}
.legend span {{ margin-right: 10px; font-size: 11px; }} .none {{ color: #8e8e8e; }}
.bar {{ height: 12px; background: #3b82f6; display: inline-block; vertical-align: middle; }}
</style></head><body><h1>{title}</h1><div class="sub">{sub}</div><div class="grid">{panels}</div>
<div id="drawn"></div></body></html>"""


def legend(metric: dict[str, str]) -> str:
    labels = {k: v for k, v in metric.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"


def number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "NaN"
    if unit == "bytes":
        for suffix in ("B", "KiB", "MiB", "GiB"):
            if abs(value) < 1024 or suffix == "GiB":
                return f"{value:.1f} {suffix}"
            value /= 1024
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.3g}"


def draw_series(prom: Prometheus, panel: Panel, start: float, end: float) -> str:
    series: list[tuple[str, list[tuple[float, float]]]] = []
    for expr in panel.exprs:
        for s in prom.query_range(expr, start, end, 3.0):
            points = [(float(t), float(v)) for t, v in s["values"] if not math.isnan(float(v))]
            if points:
                series.append((legend(s["metric"]), points))
    if not series:
        return '<div class="none">no data</div>'
    top = max(v for _, pts in series for _, v in pts) or 1.0
    width, height = 560, 150
    lines, names = [], []
    for i, (name, points) in enumerate(series[: len(COLOURS)]):
        colour = COLOURS[i]
        xy = " ".join(
            f"{(t - start) / (end - start) * width:.1f},{height - v / top * (height - 10):.1f}"
            for t, v in points
        )
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{xy}"/>')
        names.append(f'<span style="color:{colour}">■ {html.escape(name)}</span>')
    axis = f'<text x="2" y="10" fill="#8e8e8e" font-size="10">{number(top, panel.unit)}</text>'
    return (
        f'<svg width="100%" viewBox="0 0 {width} {height}" preserveAspectRatio="none">'
        f'{axis}{"".join(lines)}</svg><div class="legend">{"".join(names)}</div>'
    )


def draw_instant(prom: Prometheus, panel: Panel) -> str:
    samples = [s for expr in panel.exprs for s in prom.query(expr)]
    if not samples:
        return '<div class="none">no data</div>'
    if panel.type == "table":
        keys = [
            "customresource_kind",
            "exported_namespace",
            "name",
            "ready",
            "suspended",
            "revision",
        ]
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(s['metric'].get(k, ''))}</td>" for k in keys)
            + "</tr>"
            for s in samples[:12]
        )  # fmt: skip
        head = "".join(f"<th>{k.replace('customresource_', '')}</th>" for k in keys)
        return f"<table><tr>{head}</tr>{rows}</table>"
    values = [(legend(s["metric"]), float(s["value"][1])) for s in samples]
    if panel.type == "bargauge":
        top = max((v for _, v in values if not math.isnan(v)), default=1.0) or 1.0
        return "<table>" + "".join(
            f"<tr><td>{html.escape(name)}</td><td><span class='bar' style='width:"
            f"{0 if math.isnan(v) else v / top * 200:.0f}px'></span> "
            f"{number(v, panel.unit)}</td></tr>"
            for name, v in values[:12]
        ) + "</table>"  # fmt: skip
    return '<div class="stats">' + "".join(
        f'<div class="stat">{number(v, panel.unit)}<small>{html.escape(name)}</small></div>'
        for name, v in values[:6]
    ) + "</div>"  # fmt: skip


def render(prom: Prometheus, title: str, panels: list[Panel], start: float, path: Path) -> None:
    end = time.time()
    cells = []
    for panel in panels:
        span = 4 if panel.type == "stat" else 6
        body = (
            draw_series(prom, panel, start, end)
            if panel.type == "timeseries"
            else draw_instant(prom, panel)
        )
        cells.append(
            f'<div class="panel" style="grid-column: span {span}">'
            f"<h2>{html.escape(panel.title)}</h2>{body}</div>"
        )
    sub = (
        f"Each panel drawn from Prometheus' answer to the dashboard's own query; "
        f"last {int((end - start) / 60) + 1} minutes, eddy on a local control plane."
    )
    path.write_text(PAGE.format(title=html.escape(title), sub=sub, panels="".join(cells)))


def shoot(browser: Browser, page: Path, name: str) -> None:
    browser.get(page.as_uri())
    browser.one("#drawn", timeout=30)
    height = browser.script("return Math.max(700, document.documentElement.scrollHeight)")
    browser.driver.set_window_size(1440, min(int(height) + 40, 2400))
    time.sleep(0.3)
    browser.screenshot(OUT / f"{name}.png")
    browser.driver.set_window_size(1440, 900)
    print(f"wrote docs/img/{name}.png", flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="eddy-monitoring-shots-") as tmp:
        work = Path(tmp)
        scene = Scene(work)
        try:
            scene.start()
            started = time.time()
            controllers = [r for r in scene.running if isinstance(r, ControllerProcess)]
            ksm = KubeStateMetrics(scene.plane.kubeconfig, workdir=work / "ksm")
            ksm.start()
            scene.running.append(ksm)
            targets = [
                Target("eddy", f"127.0.0.1:{c.metrics_port}",
                       {"namespace": OPERATOR_NAMESPACE, "pod": f"{c.name}-{c.pid}"})
                for c in controllers
            ]  # fmt: skip
            targets.append(Target("kube-state-metrics", ksm.address))
            prom = Prometheus(targets, workdir=work / "prometheus")
            prom.start()
            scene.running.append(prom)
            scene.populate()
            # Let rates and the 5-minute windows fill, with one more commit applied.
            scene.repos.commit(
                "platform",
                {"apps/redis/configmap.yaml": (
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: redis-settings\n"
                    "data:\n  LOG_LEVEL: warn\n"
                )},
                message="redis: quieter logs",
            )  # fmt: skip
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            scene.kubectl("annotate", "--overwrite", "-n", "flux-system", "gitrepository",
                          "platform", f"reconcile.fluxcd.io/requestedAt={now}")  # fmt: skip
            time.sleep(max(0.0, COLLECT_SECONDS - (time.time() - started)))
            fill = {"ns": ".*", "op": OPERATOR_NAMESPACE}
            pages = {
                "monitoring-eddy": ("eddy", list(eddy_dashboard())),
                "monitoring-flux-cluster": (
                    "Flux Cluster Stats (Flux's dashboard), against eddy",
                    [p.filled(**fill) for p in FLUX_CLUSTER],
                ),
                "monitoring-flux-control-plane": (
                    "Flux Control Plane (Flux's dashboard), against eddy",
                    [p.filled(**fill) for p in FLUX_CONTROL_PLANE],
                ),
            }
            with Browser() as browser:
                for name, (title, panels) in pages.items():
                    page = work / f"{name}.html"
                    render(prom, title, panels, started, page)
                    shoot(browser, page, name)
        finally:
            scene.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
