"""Watch predicates that more than one controller uses for its secondary resources.

Sources publish `status.artifact`; every consumer reacts to the same changes of it,
so the rule is written once.
"""

from __future__ import annotations

from .conditions import is_ready
from .resources import Obj


def _artifact(obj: Obj | None) -> object:
    artifact = ((obj or {}).get("status") or {}).get("artifact") or {}
    return artifact.get("revision"), artifact.get("digest"), artifact.get("url")


def artifact_changed(old: Obj | None, new: Obj) -> bool:
    """A source matters to its consumers when its artifact or its readiness changes."""
    return old is None or _artifact(old) != _artifact(new) or is_ready(old) != is_ready(new)
