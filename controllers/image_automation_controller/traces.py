"""Where an image's trace is handed on in this process: scan → policy → automation.

The three image kinds run in one process and already hand a scan's tags over in
memory (`TagStore`); the trace context of the pass that produced something travels
the same way, beside it, costing no API write and staying out of Flux's status
fields. A restart forgets it: the next passes start traces of their own.
"""

from __future__ import annotations

from eddy_runtime import tracing


class Handoffs:
    """The traceparent of the pass that produced `marker` (a scan, a chosen image), by object."""

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[str, str]] = {}

    def record(self, key: str, marker: str) -> None:
        """Remember the current trace as the one that produced `marker` for `key`."""
        parent = tracing.traceparent()
        if parent:
            self._by_key[key] = (marker, parent)
        else:
            self._by_key.pop(key, None)

    def parent(self, key: str, marker: str) -> str | None:
        """The trace that produced `marker` for `key`, if that is what was recorded last."""
        found = self._by_key.get(key)
        return found[1] if found is not None and found[0] == marker else None

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)
