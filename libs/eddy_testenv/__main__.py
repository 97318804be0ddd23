"""Run a local control plane until interrupted, for use with kubectl.

`python -m eddy_testenv` prints the kubeconfig to export, then waits.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import time
from pathlib import Path

from eddy_testenv.controlplane import ControlPlane
from eddy_testenv.process import ProcessError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eddy_testenv",
        description="Start a local etcd and kube-apiserver and keep them running until Ctrl-C.",
    )
    parser.add_argument("--crds", type=Path, help="install the CRDs in this folder once ready")
    parser.add_argument("--kubeconfig-out", type=Path, help="also copy the kubeconfig here")
    args = parser.parse_args(argv)

    stop = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    started = time.monotonic()
    plane = ControlPlane()
    try:
        plane.start()
    except ProcessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        elapsed = time.monotonic() - started
        kubeconfig = plane.kubeconfig
        if args.kubeconfig_out:
            shutil.copyfile(plane.kubeconfig, args.kubeconfig_out)
            kubeconfig = args.kubeconfig_out.resolve()
        if args.crds:
            names = asyncio.run(plane.install_crds(args.crds))
            print(f"installed {len(names)} CRDs from {args.crds}")
        print(f"control plane ready in {elapsed:.1f}s at {plane.server}")
        print(f"kubeconfig: {kubeconfig}")
        print(f"export KUBECONFIG={kubeconfig}", flush=True)
        print("press Ctrl-C to stop", flush=True)
        while not stop:
            time.sleep(0.2)
            for process in plane.processes():
                code = process.exit_code()
                if code is not None:
                    print(
                        f"{process.name} exited with code {code}:\n{process.tail()}",
                        file=sys.stderr,
                    )
                    return 1
        return 0
    finally:
        plane.stop()
        print("control plane stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
