"""`make release-local`: the workflow's release job, run against a registry on loopback.

The image index the release script pushes must hold this machine's platform and
an image that runs as the non-root user with a controller as its command, and a
cosign-format signature that verifies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.geteuid() != 0, reason="buildah builds the image as root here")
def test_release_local_pushes_a_runnable_multi_arch_index() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "release_local.py")],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("pushed 127.0.0.1:") and "@sha256:" in lines[0], done.stdout
    machine = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    assert lines[1] == f"platforms: {machine.stdout.strip()}", done.stdout
    assert "user 65534:65534, command ['source-controller']" in lines[2], done.stdout
    assert "HOME=/tmp" in lines[2], done.stdout
    assert lines[3] == "signed in cosign's format; the signature verifies with release.pub"
