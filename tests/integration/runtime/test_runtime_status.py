"""Status patches claim only what the pass saw: a spec changed meanwhile stays unobserved."""

from __future__ import annotations

from widget_controller import WIDGETS

from conftest import widget
from eddy_runtime.resources import ResourceClient
from eddy_runtime.status import StatusPatcher


async def test_a_spec_changed_during_a_pass_is_not_claimed_as_observed(
    kube: ResourceClient, namespace: str
) -> None:
    seen = await kube.create(WIDGETS, widget("w", namespace, size=1))
    assert seen["metadata"]["generation"] == 1
    patcher = StatusPatcher(kube)

    # The pass reports progress; meanwhile someone edits the spec.
    answer = await patcher.patch(WIDGETS, seen, {"phase": "working"})
    edited = await kube.patch(WIDGETS, "w", {"spec": {"size": 2}}, namespace)
    assert edited["metadata"]["generation"] == 2

    # The pass ends from the answer of its first patch: it still speaks of generation 1.
    await patcher.patch(WIDGETS, answer, {"phase": "done"})
    obj = await kube.get(WIDGETS, "w", namespace)
    assert obj["status"] == {"phase": "done", "observedGeneration": 1}

    # A pass that started before the edit and conflicts re-reads, and still says 1.
    await patcher.patch(WIDGETS, seen, {"phase": "again"})
    obj = await kube.get(WIDGETS, "w", namespace)
    assert obj["status"] == {"phase": "again", "observedGeneration": 1}
    assert patcher.conflicts >= 1

    # The next pass, from the edited object, observes generation 2.
    await patcher.patch(WIDGETS, obj, {"phase": "done"})
    obj = await kube.get(WIDGETS, "w", namespace)
    assert obj["status"] == {"phase": "done", "observedGeneration": 2}
