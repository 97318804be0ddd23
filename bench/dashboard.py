"""The dashboard with 1,000 Kustomizations: time to first render of the apps list, peak RSS.

Starts a local control plane, creates the Kustomizations (with Ready, failing and
reconciling statuses, as a busy cluster has), runs `python -m eddy_web` and
opens the apps list in headless Chromium. Prints its figures; not a test.

    python bench/dashboard.py [COUNT]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from benchlib import process_figures
from kubernetes_asyncio import client, config

from eddy_testenv import ControlPlane
from eddy_testenv.dashboard import Browser, DashboardProcess

ROOT = Path(__file__).resolve().parent.parent
NAMESPACES = 10


def status_for(i: int) -> dict[str, object]:
    ready = {
        "type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
        "message": f"Applied revision: main@sha1:{i:040x}",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    if i % 17 == 0:
        ready = {
            **ready,
            "status": "False",
            "reason": "BuildFailed",
            "message": "kustomize build failed",
        }
    return {
        "observedGeneration": 1,
        "lastAppliedRevision": f"main@sha1:{i:040x}",
        "conditions": [ready],
    }


async def populate(kubeconfig: Path, count: int) -> None:
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    for n in range(NAMESPACES):
        await core.create_namespace({"metadata": {"name": f"team-{n}"}})
    gate = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        namespace, name = f"team-{i % NAMESPACES}", f"app-{i:04d}"
        body = {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name},
            "spec": {
                "interval": "10m", "path": f"./apps/{name}", "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "platform"},
            },
        }  # fmt: skip
        async with gate:
            await custom.create_namespaced_custom_object(
                "kustomize.toolkit.fluxcd.io", "v1", namespace, "kustomizations", body
            )
            await custom.patch_namespaced_custom_object_status(
                "kustomize.toolkit.fluxcd.io", "v1", namespace, "kustomizations", name,
                {"status": status_for(i)}, _content_type="application/merge-patch+json",
            )  # fmt: skip

    await asyncio.gather(*(one(i) for i in range(count)))
    await api.close()


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with (
        tempfile.TemporaryDirectory(prefix="eddy-bench-dashboard-") as tmp,
        ControlPlane(Path(tmp) / "cluster", controller_manager=False) as plane,
    ):
        asyncio.run(plane.install_crds(ROOT / "manifests" / "crds"))
        started = time.monotonic()
        asyncio.run(populate(plane.kubeconfig, count))
        print(f"created {count} Kustomizations in {time.monotonic() - started:.1f}s", flush=True)
        with DashboardProcess(plane.kubeconfig, Path(tmp)) as dash, Browser() as browser:
            browser.get(dash.login_url)
            browser.one("#apps")
            browser.wait("rows", lambda: browser.css(f'#apps[data-rendered="{count}"]'), 60)
            figures = []
            for _ in range(3):
                started = time.monotonic()
                browser.get(dash.base_url + "/apps")
                browser.wait("rows", lambda: browser.css(f'#apps[data-rendered="{count}"]'), 60)
                wall = time.monotonic() - started
                first = float(browser.script("return window.eddyFirstRender") or 0) / 1000
                figures.append((wall, first))
            pid = dash.process.pid
            assert pid is not None
            usage = process_figures(pid)
        best_wall = min(f[0] for f in figures)
        best_first = min(f[1] for f in figures)
        print(f"apps list with {count} Kustomizations:")
        print(f"  first render (navigation start -> {count} rows drawn): {best_first:.3f}s")
        print(f"  wall clock from driver.get to rows drawn:            {best_wall:.3f}s")
        rss, cpu = usage.peak_rss_mib, usage.cpu_s
        print(f"  dashboard peak RSS:                                   {rss:.0f} MiB")
        print(f"  dashboard CPU (start, {count} objects, 4 renders):    {cpu:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
