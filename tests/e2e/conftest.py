"""The end-to-end suites' shared fixture: eddy's controllers as their own processes."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from eddy_testenv import ControlPlane, find_binary, free_port
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.dashboard import Browser


@pytest.fixture(scope="module")
def controllers(control_plane: ControlPlane) -> Iterator[list[ControllerProcess]]:
    with tempfile.TemporaryDirectory(prefix="eddy-e2e-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        running = [
            ControllerProcess(
                "source_controller",
                control_plane.kubeconfig,
                workdir,
                args=[
                    f"--storage-path={workdir / 'artifacts'}",
                    f"--storage-addr=127.0.0.1:{port}",
                    f"--storage-adv-addr=127.0.0.1:{port}",
                ],
            ),
            ControllerProcess(
                "kustomize_controller",
                control_plane.kubeconfig,
                workdir,
                args=[f"--kustomize-path={find_binary('kustomize')}"],
            ),
        ]
        try:
            for controller in running:
                controller.start()
            yield running
        finally:
            for controller in running:
                controller.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium with a fresh profile, driven through chromedriver."""
    with Browser() as running:
        yield running
