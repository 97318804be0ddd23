"""What dependsOn means for Kustomizations beyond Ready: on the same source, a
dependency must have applied the revision its dependent is about to apply.

The general rule (exists, Ready for its current spec, same namespace when
cross-namespace references are off) is the runtime's; this adds the revision.
"""

from __future__ import annotations

from eddy_kustomize.objects import Obj
from eddy_runtime import dependencies
from eddy_runtime.conditions import is_ready
from eddy_runtime.dependencies import Pending

from .source import source_ref


def revision_pending(obj: Obj, source_revision: str) -> Pending:
    """Why a Ready dependency on `obj`'s source still does not count ("" when it does)."""

    def pending(dep: Obj) -> str:
        applied = (dep.get("status") or {}).get("lastAppliedRevision")
        if source_revision and source_ref(dep) == source_ref(obj) and applied != source_revision:
            return f"revision {source_revision} is not applied yet"
        return ""

    return pending


def became_ready(old: Obj | None, new: Obj) -> bool:
    """A dependency matters to its dependents when it turns Ready or applies a revision."""
    if dependencies.became_ready(old, new):
        return True
    if old is None or not is_ready(new):
        return False
    before = (old.get("status") or {}).get("lastAppliedRevision")
    return before != (new.get("status") or {}).get("lastAppliedRevision")
