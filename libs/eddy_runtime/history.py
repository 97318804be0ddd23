"""status.history: a short summary of recent reconciliations, one entry per result.

Consecutive reconciliations that produce the same result (the same digest) count
on one entry; a new result goes first and the oldest falls off, as Flux keeps it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eddy_runtime.durations import format_duration

MAX_ENTRIES = 5


def digest_of(objects: Any) -> str:
    """`sha256:<hex>` of a result (e.g. the built objects), independent of key order."""
    data = json.dumps(objects, sort_keys=True, separators=(",", ":"), default=str).encode()
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def record(
    status: dict[str, Any],
    digest: str,
    outcome: str,
    seconds: float,
    metadata: Mapping[str, str],
    now: datetime | None = None,
) -> None:
    """Count one reconciliation with this result into status.history."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = [e for e in status.get("history") or [] if isinstance(e, dict)]
    same = next((e for e in entries if e.get("digest") == digest), None)
    rest = [e for e in entries if e is not same]
    if same is not None:
        # The same result again (or back to an earlier one): counted where it was
        # first seen, and first in the list again.
        entry = dict(same)
        entry["totalReconciliations"] = int(entry.get("totalReconciliations") or 0) + 1
    else:
        entry = {"digest": digest, "firstReconciled": stamp, "totalReconciliations": 1}
    entry["lastReconciled"] = stamp
    entry["lastReconciledDuration"] = format_duration(round(seconds, 3))
    entry["lastReconciledStatus"] = outcome
    if metadata:
        entry["metadata"] = dict(metadata)
    status["history"] = [entry, *rest][:MAX_ENTRIES]
