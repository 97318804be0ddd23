"""An image update against a Git server that trickles ends at its deadline and lets go."""

from __future__ import annotations

import asyncio
import time

import pytest

import eddy_git
from eddy_git import Author, GitAuth, GitError
from eddy_testenv.trickle import TrickleServer
from image_automation_controller.git import Checkout, Update, update


async def test_an_update_against_a_trickling_server_times_out() -> None:
    with TrickleServer(every=0.5) as server:
        request = Update(
            url=server.url("app.git"), auth=GitAuth(), checkout=Checkout(branch="main"),
            push_ref="refs/heads/main", path="", images={}, namespace="apps",
            author=Author("bot", "bot@example.com"), message=lambda _: "msg", timeout=2.0,
        )  # fmt: skip
        started = time.monotonic()
        with pytest.raises(GitError, match="timed out after 2s"):
            # No outer limit: the update's own deadline has to end it.
            await eddy_git.in_thread(None, "updating", lambda: update(request))
        assert time.monotonic() - started < 8  # a 2s deadline, with room for a loaded machine
        deadline = time.monotonic() + 5
        while server.open_connections:
            assert time.monotonic() < deadline, "the update kept reading after its deadline"
            await asyncio.sleep(0.05)
