"""`make screenshots`: the dashboard's views, as docs/img/*.png, from a real cluster.

A local control plane, the Git server and eddy's source- and kustomize-controller
run as in the demo; a few applications are applied (one healthy, one drifted,
one waiting on a dependency, one failing, one suspended) and Chromium takes
each view as a person would see it. The controllers export traces to a local
Jaeger; the last commit's trace, read from Jaeger's query API, is drawn by
`eddy_testenv.traceview` and taken too (`trace-commit`).

    hack/screenshots.py [NAME...]   only the named images (e.g. trace-commit)
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from eddy_testenv import ControlPlane, find_binary, free_port
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.dashboard import Browser, DashboardProcess
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.jaeger import Jaeger, spans_of
from eddy_testenv.traceview import render

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: {image}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80}}]
"""


def app_files(name: str, replicas: int, image: str) -> dict[str, str]:
    return {
        f"apps/{name}/deployment.yaml": DEPLOYMENT.format(
            name=name, replicas=replicas, image=image
        ),
        f"apps/{name}/service.yaml": SERVICE.format(name=name),
        f"apps/{name}/configmap.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-settings\n"
            f"data:\n  LOG_LEVEL: info\n"
        ),
    }


def kustomization(name: str, namespace: str, path: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "path": path,
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "platform", "namespace": "flux-system"},
            "targetNamespace": namespace,
            **spec,
        },
    }


class Scene:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.plane = ControlPlane(workdir / "cluster")
        self.repos = GitRepos(workdir / "git")
        self.git = GitHTTPServer(self.repos, workdir=workdir / "git-server")
        self.jaeger = Jaeger()
        self.running: list[Any] = []
        self.head = ""

    def kubectl(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [find_binary("kubectl"), f"--kubeconfig={self.plane.kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def start(self) -> None:
        self.plane.start()
        self.running.append(self.plane)
        asyncio.run(self.plane.install_crds(ROOT / "manifests" / "crds"))
        self.git.start()
        self.running.append(self.git)
        self.jaeger.start()
        self.running.append(self.jaeger)
        traced = self.jaeger.exporter_env()
        port = free_port()
        logs = self.workdir / "logs"
        for controller in (
            ControllerProcess(
                "source_controller", self.plane.kubeconfig, logs,
                args=[f"--storage-path={self.workdir / 'artifacts'}",
                      f"--storage-addr=127.0.0.1:{port}", f"--storage-adv-addr=127.0.0.1:{port}"],
                env=traced,
            ),
            ControllerProcess(
                "kustomize_controller", self.plane.kubeconfig, logs,
                args=[f"--kustomize-path={find_binary('kustomize')}"], env=traced,
            ),
        ):  # fmt: skip
            controller.start()
            self.running.append(controller)

    def stop(self) -> None:
        for thing in reversed(self.running):
            thing.stop()

    def populate(self) -> None:
        files = {
            **app_files("web", 3, "nginx:1.27"),
            **app_files("api", 2, "ghcr.io/example/api:2.4.1"),
            **app_files("worker", 1, "ghcr.io/example/worker:1.9.0"),
            **app_files("redis", 1, "redis:7.4"),
            "apps/billing/kustomization.yaml": "resources: [missing.yaml]\n",
        }
        self.repos.create("platform", files, message="Add web, api, worker and redis")
        self.repos.commit(
            "platform",
            app_files("web", 3, "nginx:1.27.3"),
            message="web: nginx 1.27.3",
        )
        for namespace in ("flux-system", "shop", "data"):
            self.kubectl("create", "namespace", namespace)
        source = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "platform", "namespace": "flux-system"},
            "spec": {
                "interval": "5m",
                "url": self.git.repo_url("platform"),
                "ref": {"branch": "main"},
            },
        }
        objects = [
            source,
            kustomization("redis", "data", "./apps/redis", wait=False),
            kustomization("web", "shop", "./apps/web"),
            kustomization(
                "api", "shop", "./apps/api", dependsOn=[{"name": "redis", "namespace": "data"}]
            ),
            kustomization("worker", "shop", "./apps/worker", dependsOn=[{"name": "payments"}]),
            kustomization("billing", "shop", "./apps/billing"),
            kustomization("reports", "data", "./apps/worker", suspend=True),
        ]
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
        self.kubectl(
            "wait", "--for=condition=Ready", "--timeout=90s",
            "-n", "shop", "kustomization/web", "kustomization/api",
        )  # fmt: skip
        # A second revision, applied, so the history has two entries.
        head = self.repos.commit(
            "platform",
            {"apps/web/configmap.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\n"
                "data:\n  LOG_LEVEL: debug\n"
            )},
            message="web: debug logging",
        )  # fmt: skip
        self.head = head
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for kind, ns, name in (
            ("gitrepository", "flux-system", "platform"),
            ("kustomization", "shop", "web"),
        ):
            self.kubectl(
                "annotate", "--overwrite", "-n", ns, kind, name,
                f"reconcile.fluxcd.io/requestedAt={now}",
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            applied = [
                json.loads(self.kubectl("get", "-n", "shop", f"kustomization/{n}", "-o", "json"))
                .get("status", {}).get("lastAppliedRevision", "")
                for n in ("web", "api")
            ]  # fmt: skip
            if all(str(r).endswith(head) for r in applied):
                break
            time.sleep(1)
        # A change by hand that a reconcile sets back: the controller's drift report.
        self.kubectl("scale", "-n", "shop", "deployment/web", "--replicas=4")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.kubectl("annotate", "--overwrite", "-n", "shop", "kustomization", "web",
                     f"reconcile.fluxcd.io/requestedAt={now}-drift")  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            web = json.loads(self.kubectl("get", "-n", "shop", "kustomization/web", "-o", "json"))
            if web.get("status", {}).get("drift"):
                break
            time.sleep(1)
        # Changes by hand, after the last apply: the drift eddy would revert next time.
        self.kubectl("scale", "-n", "shop", "deployment/web", "--replicas=5")
        self.kubectl(
            "set", "image", "-n", "shop", "deployment/api", "api=ghcr.io/example/api:2.5.0-hotfix"
        )

    def commit_trace(self) -> Path:
        """The head commit's trace, drawn into an HTML page once both controllers sent it."""
        source = json.loads(
            self.kubectl("get", "-n", "flux-system", "gitrepository/platform", "-o", "json")
        )
        traceparent = source["status"]["artifact"]["metadata"]["eddy.dev/traceparent"]
        trace_id = traceparent.split("-")[1]
        deadline = time.monotonic() + 60
        while True:
            found = self.jaeger.trace(trace_id)
            names = {(s["service"], s["operationName"]) for s in spans_of(found or {})}
            if ("kustomize-controller", "step check health") in names:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"trace {trace_id} did not reach Jaeger in 60s")
            time.sleep(1)
        page = self.workdir / "trace.html"
        page.write_text(render(found or {}, f"One commit, one trace: {self.head[:12]}"))
        return page


def shoot(browser: Browser, url: str, name: str, ready: str, settle: float = 1.5) -> None:
    browser.get(url)
    browser.one(ready, timeout=60)
    time.sleep(settle)
    height = browser.script(
        "return Math.min(1400, Math.max(700, document.documentElement.scrollHeight))"
    )
    browser.driver.set_window_size(1440, int(height))
    time.sleep(0.3)
    browser.screenshot(OUT / f"{name}.png")
    browser.driver.set_window_size(1440, 900)
    print(f"wrote docs/img/{name}.png", flush=True)


def main(only: list[str]) -> int:
    def wanted(name: str) -> bool:
        return not only or name in only

    with tempfile.TemporaryDirectory(prefix="eddy-screenshots-") as tmp:
        scene = Scene(Path(tmp))
        try:
            scene.start()
            scene.populate()
            with (
                DashboardProcess(scene.plane.kubeconfig, Path(tmp) / "logs") as dash,
                Browser() as b,
            ):
                if wanted("trace-commit"):
                    shoot(b, scene.commit_trace().as_uri(), "trace-commit", "#trace")
                b.get(dash.login_url)
                base = dash.base_url
                views = [
                    ("/apps", "dashboard-apps", "#apps[data-rendered]"),
                    ("/apps/Kustomization/shop/web", "dashboard-tree",
                     ".tree .card[data-node^='Pod/']"),
                    ("/apps/Kustomization/shop/web?tab=drift", "dashboard-drift", "#drift"),
                    ("/apps/Kustomization/shop/web?tab=history", "dashboard-history", "#history"),
                    ("/apps/Kustomization/shop/worker?tab=deps", "dashboard-dependencies",
                     "#tab .notice"),
                    ("/sources", "dashboard-sources", "#GitRepository"),
                    ("/overview", "dashboard-overview", "#attention"),
                ]  # fmt: skip
                for path, name, ready in views:
                    if wanted(name):
                        shoot(b, f"{base}{path}", name, ready)
                errors = b.errors()
                if errors:
                    print("browser errors:", *errors, sep="\n  ", file=sys.stderr)
                    return 1
        finally:
            scene.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
