"""One trace from Jaeger's query API as a static HTML waterfall, for docs screenshots.

The Jaeger binary built from its Go module carries no UI, so the project draws the
spans itself: one row per span, indented under its parent, a bar on a shared time
axis, and the attributes a reader looks for (object, revision, outcome).
"""

from __future__ import annotations

import html
from typing import Any

from eddy_testenv.jaeger import spans_of

COLORS = {
    "source-controller": "#3b82f6",
    "kustomize-controller": "#10b981",
    "helm-controller": "#f59e0b",
    "image-automation-controller": "#a855f7",
}
SHOWN = ("kind", "namespace", "name", "revision", "outcome", "reason")


def _ordered(spans: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Depth-first from the roots, children by start time: the order a waterfall reads."""
    ids = {s["spanID"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent"] if span["parent"] in ids else None
        children.setdefault(parent, []).append(span)
    out: list[tuple[int, dict[str, Any]]] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: int(s["startTime"])):
            out.append((depth, span))
            walk(span["spanID"], depth + 1)

    walk(None, 0)
    return out


def render(trace: dict[str, Any], title: str) -> str:
    spans = spans_of(trace)
    start = min(int(s["startTime"]) for s in spans)
    end = max(int(s["startTime"]) + int(s["duration"]) for s in spans)
    total = max(end - start, 1)
    rows = []
    for depth, span in _ordered(spans):
        left = 100 * (int(span["startTime"]) - start) / total
        width = max(100 * int(span["duration"]) / total, 0.3)
        color = COLORS.get(str(span["service"]), "#64748b")
        attrs = span["attributes"]
        failed = attrs.get("outcome") == "error"
        # A step works on its reconcile's object and revision: only how it ended is news.
        keys = ("outcome", "reason") if span["operationName"].startswith("step ") else SHOWN
        facts = " ".join(
            f"<span class=k>{key}</span>={html.escape(str(attrs[key]))}"
            for key in keys
            if key in attrs
        )
        rows.append(
            f"<tr><td class=svc style='color:{color}'>{html.escape(str(span['service']))}</td>"
            f"<td class=op style='padding-left:{8 + depth * 18}px'>"
            f"{html.escape(span['operationName'])}<div class=facts>{facts}</div></td>"
            f"<td class=lane><div class='bar{' failed' if failed else ''}' "
            f"style='left:{left:.2f}%;width:{width:.2f}%;background:{color}'></div>"
            f"<span class=ms style='left:{min(left + width, 88):.2f}%'>"
            f"{int(span['duration']) / 1000:.1f} ms</span></td></tr>"
        )
    services = sorted({str(s["service"]) for s in spans})
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>
body {{ font: 13px system-ui, sans-serif; margin: 24px; color: #0f172a; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }}
.sub {{ color: #475569; margin-bottom: 16px; }}
table {{ border-collapse: collapse; width: 100%; }}
td {{ border-bottom: 1px solid #e2e8f0; padding: 5px 8px; vertical-align: top; }}
.svc {{ width: 170px; font-weight: 600; white-space: nowrap; }}
.op {{ width: 430px; }}
.facts {{ color: #475569; font-size: 11px; margin-top: 2px; word-break: break-all; }}
.k {{ color: #94a3b8; }}
.lane {{ position: relative; }}
.bar {{ position: absolute; top: 8px; height: 12px; border-radius: 3px; opacity: .85; }}
.bar.failed {{ outline: 2px solid #dc2626; }}
.ms {{ position: absolute; top: 24px; font-size: 11px; color: #475569; margin-left: 6px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<div class=sub>trace {html.escape(str(trace.get("traceID", "")))} · {len(spans)} spans ·
{html.escape(", ".join(services))} · {total / 1000:.0f} ms</div>
<table id=trace>{"".join(rows)}</table>
</body></html>
"""
