"""The demo behind `make demo`: eddy's local control plane, seen through kubectl.

It starts a real etcd and kube-apiserver on loopback, talks to them with the
pinned kubectl, and stops them again, leaving nothing behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from eddy_testenv import ControlPlane, ProcessError, find_binary


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def kubectl(plane: ControlPlane, *args: str) -> None:
    command = [find_binary("kubectl"), *args]
    print("$ kubectl " + " ".join(args), flush=True)
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
    subprocess.run(command, env=env, check=True)


def main() -> int:
    say("Starting a local Kubernetes control plane (etcd + kube-apiserver on 127.0.0.1)")
    started = time.monotonic()
    try:
        plane = ControlPlane()
        plane.start()
    except ProcessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        print(f"ready in {time.monotonic() - started:.1f}s at {plane.server}")
        say("The API server answers kubectl like any cluster")
        kubectl(plane, "version")
        kubectl(plane, "get", "namespaces")
        say("Creating a namespace and a ConfigMap, then reading them back")
        kubectl(plane, "create", "namespace", "eddy-demo")
        kubectl(
            plane, "-n", "eddy-demo", "create", "configmap", "hello", "--from-literal=greeting=hi"
        )
        kubectl(plane, "-n", "eddy-demo", "get", "configmap", "hello", "-o", "yaml")
        kubectl(plane, "get", "namespaces")
    except subprocess.CalledProcessError as err:
        print(f"error: kubectl failed with exit code {err.returncode}", file=sys.stderr)
        return 1
    finally:
        say("Stopping the control plane")
        plane.stop()
    print("done: nothing is left running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
