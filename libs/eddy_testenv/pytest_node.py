"""Pytest fixtures for the local node: one per test run, started by the first test that asks.

Tests that need pods to run take `node`; `podinfo_image` is a small web app
(and its `podcli` client) pushed to the registry the node pulls from.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from eddy_testenv.controlplane import ControlPlane
from eddy_testenv.images import push_binary_image
from eddy_testenv.node import Node
from eddy_testenv.process import find_binary
from eddy_testenv.registry import Registry


@pytest.fixture(scope="session")
def node_registry() -> Iterator[Registry]:
    """The registry the node pulls from: plain HTTP on loopback, no auth."""
    with Registry() as registry:
        yield registry


@pytest.fixture(scope="session")
def node(control_plane: ControlPlane, node_registry: Registry) -> Iterator[Node]:
    """containerd, kubelet, kube-proxy and CoreDNS next to the session's control plane."""
    if control_plane.external:
        pytest.skip("the local node joins the local control plane only")
    if os.geteuid() != 0:
        # Anything else missing (containerd, the CNI plugins …) fails loudly instead.
        pytest.skip("the local node needs root: run the tests as root to include these")
    with Node(control_plane, node_registry) as started:
        yield started


@pytest.fixture(scope="session")
def podinfo_image(node_registry: Registry) -> str:
    """podinfo (entrypoint, port 9898) and /podcli, as `<registry>/podinfo:<version>`."""
    reference = f"{node_registry.host}/podinfo:6.9.2"
    binaries = [Path(find_binary("podinfo")), Path(find_binary("podcli"))]
    push_binary_image(binaries, reference)
    return reference
