"""Where the notification-controller under test serves its two endpoints."""

from __future__ import annotations

from eddy_runtime.manager import Manager


def events_url(manager: Manager) -> str:
    return f"http://127.0.0.1:{manager.server('events').port}/"


def receiver_url(manager: Manager, path: str) -> str:
    return f"http://127.0.0.1:{manager.server('receiver').port}{path}"
