"""The demo behind `make demo`: a commit in Git becomes objects in a cluster.

It starts a local control plane and Git server, runs eddy's source-controller
and kustomize-controller as separate processes, and walks through the GitOps
loop: sync, a new commit, a manual edit reverted, a deleted file pruned.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from eddy_testenv import ControlPlane, ProcessError, find_binary, free_port
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.gitserver import GitHTTPServer, GitRepos

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "demo"
WAIT = 90.0


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
        self.env = {**os.environ, "KUBECONFIG": str(workdir / "cluster" / "kubeconfig")}

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

        say("Starting a local Git server holding the example repository")
        files = {
            f"apps/demo/{p.name}": p.read_text()
            for p in sorted((EXAMPLE / "apps" / "demo").glob("*.yaml"))
        }
        self.repos.create("demo", files, message="Add the demo app")
        self.git_server.start()
        url = self.git_server.repo_url("demo")
        print(f"   {url}: " + ", ".join(sorted(files)))

        say("Starting eddy's source-controller and kustomize-controller as separate processes")
        logs = self.workdir / "logs"
        logs.mkdir()
        storage_port = free_port()
        self.controllers = [
            ControllerProcess(
                "source_controller",
                self.plane.kubeconfig,
                logs,
                args=[
                    f"--storage-path={self.workdir / 'artifacts'}",
                    f"--storage-addr=127.0.0.1:{storage_port}",
                    f"--storage-adv-addr=127.0.0.1:{storage_port}",
                ],
            ),
            ControllerProcess(
                "kustomize_controller",
                self.plane.kubeconfig,
                logs,
                args=[f"--kustomize-path={find_binary('kustomize')}"],
            ),
        ]
        for controller in self.controllers:
            controller.start()
            print(f"   {controller.name} is up (pid {controller.process.pid})")

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

    def stop(self) -> None:
        for controller in reversed(self.controllers):
            controller.stop()
        self.git_server.stop()
        self.plane.stop()


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="eddy-demo-"))
    demo = Demo(workdir)
    code = 0
    try:
        demo.run()
        say("Done: Git drove every change above")
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
