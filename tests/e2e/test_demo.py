"""`make demo`, run as the README gives it, narrates the whole story and cleans up.

On a machine that can run a node the story ends with the CI step: a new image
tag committed to Git by eddy and answered by the new pods; elsewhere the demo
says why it runs without a node and still shows Git driving the cluster.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from eddy_testenv.node import unavailable_reason

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_make_demo_tells_the_story() -> None:
    done = subprocess.run(
        ["make", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for step in (
        "==> Starting eddy's dashboard on 127.0.0.1",
        "to watch the rest live",
        "==> Pushing a commit that changes the ConfigMap",
        "   replicas are back to 2",
        "   the ConfigMap is gone",
        "   alert received: Kustomization/demo error BuildFailed",
        "   push applied through the Receiver in",
        "==> Done: Git drove every change above",
    ):
        assert step in output, output[-4000:]
    if unavailable_reason() is None:
        assert "the Service answers: 'hello from podinfo 1.0.0'" in output, output[-4000:]
        assert "   eddy committed the new tag to Git" in output, output[-4000:]
        assert "the Service answers: 'hello from podinfo 1.1.0'" in output, output[-4000:]
    else:
        assert "Running without a local node" in output, output[-4000:]
