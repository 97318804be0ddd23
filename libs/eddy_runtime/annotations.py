"""The few annotation, label and finalizer names the runtime itself acts on.

Flux users set these on objects today; the runtime honours them for every kind.
"""

from __future__ import annotations

from typing import Any

RECONCILE_REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
FINALIZER = "finalizers.fluxcd.io"
# A ConfigMap or Secret labelled so is watched: a change reconciles its users at once.
WATCH_LABEL = "reconcile.fluxcd.io/watch"
WATCH_ENABLED = "Enabled"


def requested_at(obj: dict[str, Any]) -> str | None:
    """The value of reconcile.fluxcd.io/requestedAt, if the object carries it."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(RECONCILE_REQUESTED_AT)
    return str(value) if value is not None else None


def is_suspended(obj: dict[str, Any]) -> bool:
    spec = obj.get("spec")
    return isinstance(spec, dict) and spec.get("suspend") is True
