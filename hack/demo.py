"""The demo behind `make demo`: a commit in Git becomes objects in a cluster.

It starts a local control plane and Git server, runs eddy's source-,
kustomize- and notification-controller as separate processes, and walks through
the GitOps loop: sync, a new commit, a manual edit reverted, a deleted file
pruned, a failed reconcile arriving as an alert, and a push applied at once
through a Receiver the Git server calls.

On a machine that can run containers (root, containerd; see `make
system-deps`) it also starts a local node and a registry, so the app (podinfo,
built here into an image) really runs and answers; then it plays CI: a new image
tag is pushed, eddy's image automation commits it to Git, and the new pods
answer with the new version. Set EDDY_DEMO_NODE=0 to skip the node.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from eddy_testenv import ControlPlane, ProcessError, find_binary, free_port
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.dashboard import DashboardProcess
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.images import push_binary_image
from eddy_testenv.node import Node, unavailable_reason
from eddy_testenv.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "demo"
WAIT = 180.0
POLICY_MARKER = '# {"$imagepolicy": "flux-system:web"}'
WEBHOOK_SECRET = "demo-webhook-secret"


class AlertInbox(http.server.BaseHTTPRequestHandler):
    """A local stand-in for Slack or a pager: prints each alert it is sent."""

    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        type(self).received.append(body)
        involved = body.get("involvedObject", {})
        print(
            f"   alert received: {involved.get('kind')}/{involved.get('name')} "
            f"{body.get('severity')} {body.get('reason')}: {body.get('message')}",
            flush=True,
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


class DemoFailed(Exception):
    pass


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.plane = ControlPlane(workdir / "cluster")
        self.repos = GitRepos(workdir / "git")
        self.git_server = GitHTTPServer(self.repos, workdir=workdir / "git-server")
        self.controllers: list[ControllerProcess] = []
        self.dashboard: DashboardProcess | None = None
        self.inbox: http.server.ThreadingHTTPServer | None = None
        self.receiver_port = 0
        self.env = {**os.environ, "KUBECONFIG": str(workdir / "cluster" / "kubeconfig")}
        self.no_node = (
            "EDDY_DEMO_NODE=0" if os.environ.get("EDDY_DEMO_NODE") == "0" else unavailable_reason()
        )
        self.registry: Registry | None = None
        self.node: Node | None = None
        self.image = ""

    # -- helpers -------------------------------------------------------------

    def kubectl(self, *args: str, show: bool = True, check: bool = True) -> str:
        if show:
            print("$ kubectl " + " ".join(args), flush=True)
        result = subprocess.run(
            [find_binary("kubectl"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if show:
            print(result.stdout, end="", flush=True)
        if check and result.returncode != 0:
            raise DemoFailed(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def git(self, *args: str, cwd: Path) -> str:
        print("$ git " + " ".join(args), flush=True)
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise DemoFailed(f"git {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def wait_for(self, what: str, check: Callable[[], bool]) -> float:
        started = time.monotonic()
        while time.monotonic() - started < WAIT:
            if check():
                elapsed = time.monotonic() - started
                print(f"   {what} ({elapsed:.1f}s)", flush=True)
                return elapsed
            time.sleep(0.5)
        for controller in self.controllers:
            print(f"--- last lines of {controller.name}:\n{controller.process.tail(15)}")
        raise DemoFailed(f"timed out after {WAIT:.0f}s waiting until {what}")

    def jsonpath(self, *args: str) -> str:
        return self.kubectl("get", *args, show=False, check=False).strip()

    # -- the story -----------------------------------------------------------

    def run(self) -> None:
        say("Starting a local Kubernetes control plane (etcd, kube-apiserver, controller-manager)")
        started = time.monotonic()
        self.plane.start()
        print(f"   ready in {time.monotonic() - started:.1f}s at {self.plane.server}")
        self.kubectl("apply", "--server-side", "-k", str(ROOT / "manifests" / "crds"), show=False)
        print("   installed eddy's CRDs from manifests/crds")

        if self.no_node:
            say("Running without a local node, so no pod will run; objects are still applied")
            print(f"   (why: {self.no_node})")
        else:
            self.start_node()

        say("Starting a local Git server holding the example repository")
        files = {
            f"apps/demo/{p.name}": p.read_text()
            for p in sorted((EXAMPLE / "apps" / "demo").glob("*.yaml"))
        }
        if self.node:
            files = {name: self.with_podinfo(text) for name, text in files.items()}
        self.repos.create("demo", files, message="Add the demo app")
        self.git_server.start()
        url = self.git_server.repo_url("demo")
        print(f"   {url}: " + ", ".join(sorted(files)))

        names = (
            "source-, kustomize-, notification- and image-automation-controller"
            if self.node
            else ("source-, kustomize- and notification-controller")
        )
        say(f"Starting eddy's {names} as separate processes")
        logs = self.workdir / "logs"
        logs.mkdir()
        storage_port = free_port()
        events_port, self.receiver_port = free_port(), free_port()
        events = f"--events-addr=http://127.0.0.1:{events_port}/"
        self.controllers = [
            ControllerProcess(
                "source_controller",
                self.plane.kubeconfig,
                logs,
                args=[
                    f"--storage-path={self.workdir / 'artifacts'}",
                    f"--storage-addr=127.0.0.1:{storage_port}",
                    f"--storage-adv-addr=127.0.0.1:{storage_port}",
                    events,
                ],
            ),
            ControllerProcess(
                "kustomize_controller",
                self.plane.kubeconfig,
                logs,
                args=[f"--kustomize-path={find_binary('kustomize')}", events],
            ),
            ControllerProcess(
                "notification_controller",
                self.plane.kubeconfig,
                logs,
                args=[
                    f"--events-addr=127.0.0.1:{events_port}",
                    f"--receiver-addr=127.0.0.1:{self.receiver_port}",
                ],
            ),
        ]
        if self.node:
            self.controllers.append(
                ControllerProcess(
                    "image_automation_controller", self.plane.kubeconfig, logs, args=[events]
                )
            )
        for controller in self.controllers:
            controller.start()
            print(f"   {controller.name} is up (pid {controller.process.pid})")

        say("Starting eddy's dashboard on 127.0.0.1")
        self.dashboard = DashboardProcess(self.plane.kubeconfig, logs)
        self.dashboard.start()
        print(f"   open {self.dashboard.login_url} to watch the rest live", flush=True)

        say("Applying the GitRepository and Kustomization from examples/demo/sync.yaml")
        sync = (EXAMPLE / "sync.yaml").read_text().replace("http://git.example.com/demo.git", url)
        sync_file = self.workdir / "sync.yaml"
        sync_file.write_text(sync)
        self.kubectl("apply", "-f", str(sync_file))
        self.kubectl(
            "-n", "flux-system", "wait", "--for=condition=Ready", "--timeout=90s",
            "gitrepository/demo", "kustomization/demo",
        )  # fmt: skip
        self.kubectl("-n", "flux-system", "get", "gitrepositories,kustomizations")
        self.kubectl("-n", "demo", "get", "deployments,services,configmaps")
        if self.node:
            self.show_app_answering("1.0.0")

        say("Pushing a commit that changes the ConfigMap")
        clone = self.workdir / "clone"
        self.git("clone", "--quiet", url, str(clone), cwd=self.workdir)
        self.git("config", "user.email", "demo@eddy.local", cwd=clone)
        self.git("config", "user.name", "eddy demo", cwd=clone)
        settings = clone / "apps" / "demo" / "configmap.yaml"
        settings.write_text(settings.read_text().replace("hello from git", "hello again"))
        self.git("commit", "--quiet", "-am", "Change the greeting", cwd=clone)
        self.git("push", "--quiet", "origin", "main", cwd=clone)
        sha = self.git("rev-parse", "HEAD", cwd=clone).strip()
        self.wait_for(
            f"the Kustomization applied main@sha1:{sha[:12]}…",
            lambda: sha
            in self.jsonpath(
                "-n", "flux-system", "kustomization", "demo",
                "-o", "jsonpath={.status.lastAppliedRevision}",
            ),
        )  # fmt: skip
        self.kubectl("-n", "demo", "get", "configmap", "web-settings", "-o", "jsonpath={.data}")
        print()

        say("Scaling the Deployment to 5 by hand; eddy puts Git's 2 back")
        self.kubectl("-n", "demo", "scale", "deployment/web", "--replicas=5")
        self.kubectl("-n", "demo", "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}")
        print()
        self.wait_for(
            "replicas are back to 2",
            lambda: (
                self.jsonpath("-n", "demo", "deployment", "web", "-o", "jsonpath={.spec.replicas}")
                == "2"
            ),
        )
        self.kubectl(
            "-n", "flux-system", "get", "events", "--sort-by=.lastTimestamp",
            "--field-selector", "involvedObject.kind=Kustomization",
            "-o", "custom-columns=REASON:.reason,MESSAGE:.message",
        )  # fmt: skip

        say("Removing the ConfigMap from Git; eddy prunes it from the cluster")
        self.git("rm", "--quiet", "apps/demo/configmap.yaml", cwd=clone)
        self.git("commit", "--quiet", "-m", "Drop the settings", cwd=clone)
        self.git("push", "--quiet", "origin", "main", cwd=clone)
        self.wait_for(
            "the ConfigMap is gone",
            lambda: "NotFound"
            in subprocess.run(
                [find_binary("kubectl"), "-n", "demo", "get", "configmap", "web-settings"],
                env=self.env, capture_output=True, text=True, timeout=30,
            ).stderr,
        )  # fmt: skip
        self.kubectl("-n", "demo", "get", "deployments,services,configmaps")
        self.kubectl("-n", "flux-system", "get", "kustomizations")
        self.alerts_and_webhooks(clone)
        if self.node:
            self.ci_pushes_a_new_image(clone)

    # -- alerts out, webhooks in ---------------------------------------------------

    def alerts_and_webhooks(self, clone: Path) -> None:
        say("Alerts: a failed reconcile is sent to a webhook on this machine")
        inbox = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AlertInbox)
        self.inbox = inbox
        threading.Thread(target=inbox.serve_forever, daemon=True).start()
        address = f"http://127.0.0.1:{inbox.server_address[1]}/eddy"
        manifests = (EXAMPLE / "notifications.yaml").read_text()
        path = self.workdir / "notifications.yaml"
        path.write_text(manifests.replace("http://alerts.example.com/eddy", address))
        self.kubectl("apply", "-f", str(path))
        self.kubectl(
            "-n", "flux-system", "wait", "--for=condition=Ready", "--timeout=60s",
            "provider/alerts-webhook", "alert/demo-failures", "receiver/demo-push",
        )  # fmt: skip
        (clone / "apps" / "demo" / "broken.yaml").write_text("kind: [this is not a manifest\n")
        self.git("add", "apps/demo/broken.yaml", cwd=clone)
        self.git("commit", "--quiet", "-m", "Break the build", cwd=clone)
        self.git("push", "--quiet", "origin", "main", cwd=clone)
        self.wait_for("the failure arrived as an alert", lambda: bool(AlertInbox.received))

        say("Webhooks: the Git server calls a Receiver on push; no waiting for the poll")
        self.kubectl("-n", "flux-system", "patch", "gitrepository", "demo", "--type=merge",
                     "-p", '{"spec":{"interval":"1h"}}')  # fmt: skip
        hook_path = self.jsonpath("-n", "flux-system", "receiver", "demo-push",
                                  "-o", "jsonpath={.status.webhookPath}")  # fmt: skip
        print(f"   Receiver demo-push listens on {hook_path}")
        url = f"http://127.0.0.1:{self.receiver_port}{hook_path}"
        self.repos.set_push_webhook("demo", url, WEBHOOK_SECRET)
        self.git("rm", "--quiet", "apps/demo/broken.yaml", cwd=clone)
        self.git("commit", "--quiet", "-m", "Fix the build", cwd=clone)
        started = time.monotonic()
        self.git("push", "--quiet", "origin", "main", cwd=clone)
        sha = self.git("rev-parse", "HEAD", cwd=clone).strip()
        while time.monotonic() - started < WAIT:
            applied = self.jsonpath("-n", "flux-system", "kustomization", "demo",
                                    "-o", "jsonpath={.status.lastAppliedRevision}")  # fmt: skip
            if sha in applied:
                break
            time.sleep(0.1)
        else:
            raise DemoFailed("the push through the Receiver was not applied")
        print(f"   push applied through the Receiver in {time.monotonic() - started:.1f}s "
              f"(the GitRepository polls only every hour now)", flush=True)  # fmt: skip

    # -- the node and the CI step ------------------------------------------------

    def start_node(self) -> None:
        say("Starting a registry and a local node (containerd, kubelet, kube-proxy, CoreDNS)")
        started = time.monotonic()
        self.registry = Registry(workdir=self.workdir / "registry")
        self.registry.start()
        self.node = Node(self.plane, self.registry, workdir=self.workdir / "node")
        self.node.start()
        print(f"   node ready in {time.monotonic() - started:.1f}s; pods pull from "
              f"{self.registry.host}")  # fmt: skip
        self.kubectl("get", "nodes", "-o", "wide")
        self.image = f"{self.registry.host}/demo/podinfo"
        self.build_podinfo("1.0.0")

    def build_podinfo(self, tag: str) -> None:
        """What a CI pipeline does: build the app into an image and push it."""
        print(f"$ build and push {self.image}:{tag} (podinfo, built from the Go module proxy)")
        push_binary_image(
            [Path(find_binary("podinfo")), Path(find_binary("podcli"))],
            f"{self.image}:{tag}",
            env={"PODINFO_UI_MESSAGE": f"hello from podinfo {tag}"},
        )

    def with_podinfo(self, text: str) -> str:
        """The example app, with the podinfo image built here and its image policy marker."""
        text = text.replace("image: nginx:1.27", f"image: {self.image}:1.0.0 {POLICY_MARKER}")
        text = text.replace("containerPort: 80", "containerPort: 9898")
        return text.replace("targetPort: 80", "targetPort: 9898")

    def answer(self) -> str:
        assert self.node is not None
        address = self.jsonpath("-n", "demo", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
        port = self.node.forward(address, 80)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                body = json.load(resp)
        except (OSError, ValueError):
            return ""
        return str(body.get("message", ""))

    def show_app_answering(self, tag: str) -> None:
        self.kubectl("-n", "demo", "rollout", "status", "deployment/web", "--timeout=180s")
        self.kubectl("-n", "demo", "get", "pods", "-o", "wide")
        expected = f"hello from podinfo {tag}"
        self.wait_for(f"the Service answers: {expected!r}", lambda: self.answer() == expected)

    def ci_pushes_a_new_image(self, clone: Path) -> None:
        say("Image automation: eddy watches the registry and keeps Git on the newest 1.x tag")
        automation = (EXAMPLE / "image-automation.yaml").read_text()
        automation = automation.replace("registry.example.com/demo/podinfo", self.image)
        path = self.workdir / "image-automation.yaml"
        path.write_text(automation)
        self.kubectl("apply", "-f", str(path))
        self.kubectl("-n", "flux-system", "wait", "--for=condition=Ready", "--timeout=90s",
                     "imagerepository/web", "imagepolicy/web")  # fmt: skip
        self.kubectl("-n", "flux-system", "get", "imagepolicy", "web",
                     "-o", "jsonpath={.status.latestRef.tag}")  # fmt: skip
        print()

        say("The CI step: a new version of the app is built and pushed as 1.1.0")
        self.build_podinfo("1.1.0")
        self.wait_for(
            "the ImagePolicy picked 1.1.0",
            lambda: self.jsonpath("-n", "flux-system", "imagepolicy", "web",
                                  "-o", "jsonpath={.status.latestRef.tag}") == "1.1.0",
        )  # fmt: skip

        def committed() -> bool:
            self.git("pull", "--quiet", "origin", "main", cwd=clone)
            deployment = (clone / "apps" / "demo" / "deployment.yaml").read_text()
            return f"{self.image}:1.1.0" in deployment

        self.wait_for("eddy committed the new tag to Git", committed)
        print(self.git("log", "-1", "--stat", cwd=clone))
        sha = self.git("rev-parse", "HEAD", cwd=clone).strip()
        self.wait_for(
            f"the Kustomization applied main@sha1:{sha[:12]}…",
            lambda: sha in self.jsonpath("-n", "flux-system", "kustomization", "demo",
                                         "-o", "jsonpath={.status.lastAppliedRevision}"),
        )  # fmt: skip
        self.show_app_answering("1.1.0")

    def stop(self) -> None:
        if self.inbox is not None:
            self.inbox.shutdown()
        if self.dashboard is not None:
            self.dashboard.stop()
        for controller in reversed(self.controllers):
            controller.stop()
        self.git_server.stop()
        if self.node:
            self.node.stop()
        if self.registry:
            self.registry.stop()
        self.plane.stop()


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="eddy-demo-"))
    demo = Demo(workdir)
    code = 0
    try:
        demo.run()
        say("Done: Git drove every change above")
        if sys.stdin.isatty() and demo.dashboard is not None:
            input(f"The dashboard is still at {demo.dashboard.login_url}; press Enter to stop. ")
    except (DemoFailed, ProcessError) as err:
        print(f"\ndemo failed: {err}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        say("Cleaning up: stopping the controllers, the Git server and the control plane")
        demo.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
