"""Which Alerts select an event, what they add to it, and the duplicate-event key."""

from __future__ import annotations

from typing import Any

from notification_controller.alerts import (
    RateLimiter,
    bad_patterns,
    cross_namespace_sources,
    enrich,
    event_key,
    needs_labels,
    selects,
)


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "involvedObject": {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                           "name": "web", "namespace": "apps"},
        "severity": "error", "message": "upgrade failed: timed out", "reason": "UpgradeFailed",
        "metadata": {"helm.toolkit.fluxcd.io/revision": "1.2.3",
                     "helm.toolkit.fluxcd.io/token": "abc"},
    }  # fmt: skip
    base.update(overrides)
    return base


def alert(namespace: str = "apps", **spec: Any) -> dict[str, Any]:
    spec.setdefault("eventSources", [{"kind": "HelmRelease", "name": "*"}])
    return {"metadata": {"name": "a", "namespace": namespace}, "spec": spec}


def test_sources_by_kind_name_and_namespace() -> None:
    assert selects(alert(), event())
    assert not selects(alert("other"), event())
    assert selects(alert("other", eventSources=[{"kind": "HelmRelease", "name": "web",
                                                 "namespace": "apps"}]), event())  # fmt: skip
    assert selects(alert("x", eventSources=[{"kind": "HelmRelease", "name": "*",
                                             "namespace": "*"}]), event())  # fmt: skip
    assert not selects(alert(eventSources=[{"kind": "Kustomization", "name": "*"}]), event())
    assert not selects(alert(eventSources=[{"kind": "HelmRelease", "name": "api"}]), event())


def test_no_cross_namespace_refs_keeps_an_alert_to_its_namespace() -> None:
    elsewhere = alert("x", eventSources=[{"kind": "HelmRelease", "name": "web",
                                          "namespace": "apps"}])  # fmt: skip
    assert selects(elsewhere, event())
    assert not selects(elsewhere, event(), same_namespace_only=True)
    assert cross_namespace_sources(elsewhere) == ["spec.eventSources[0]"]
    assert selects(alert(), event(), same_namespace_only=True)
    assert cross_namespace_sources(alert()) == []


def test_match_labels_need_the_objects_labels() -> None:
    labelled = alert(eventSources=[{"kind": "HelmRelease", "name": "*",
                                    "matchLabels": {"team": "payments"}}])  # fmt: skip
    assert needs_labels(labelled, event())
    assert selects(labelled, event(), {"team": "payments", "tier": "web"})
    assert not selects(labelled, event(), {"team": "search"})
    assert not selects(labelled, event(), None)


def test_severity_suspend_and_message_lists() -> None:
    assert selects(alert(eventSeverity="info"), event(severity="info"))
    assert not selects(alert(eventSeverity="error"), event(severity="info"))
    assert not selects(alert(suspend=True), event())
    assert selects(alert(inclusionList=["timed out$"]), event())
    assert not selects(alert(inclusionList=["^install"]), event())
    assert not selects(alert(exclusionList=["timed"]), event())
    assert not selects(alert(inclusionList=["(unclosed"]), event())
    assert bad_patterns(alert(exclusionList=["ok", "(unclosed"])) == [
        "spec.exclusionList[1] is not a valid regular expression: "
        "missing ), unterminated subpattern at position 0"
    ]


def test_enrich_adds_metadata_keeps_the_events_own_and_drops_the_token() -> None:
    sent = enrich(alert(eventMetadata={"cluster": "prod", "helm.toolkit.fluxcd.io/revision": "x"},
                        summary="payments"), event())  # fmt: skip
    assert sent["metadata"] == {
        "helm.toolkit.fluxcd.io/revision": "1.2.3",
        "cluster": "prod",
        "summary": "payments",
    }


def test_duplicates_share_a_key_within_the_window() -> None:
    assert event_key(event()) == event_key(event())
    assert event_key(event()) != event_key(event(message="other"))
    token = {"helm.toolkit.fluxcd.io/revision": "1.2.3", "helm.toolkit.fluxcd.io/token": "new"}
    assert event_key(event()) != event_key(event(metadata=token))
    limiter = RateLimiter(300)
    assert limiter.allow("k", now=0)
    assert not limiter.allow("k", now=299)
    assert limiter.allow("k", now=301)
