"""The dashboard's pure rules: states, drift from managedFields, flux-style actions, OIDC names."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eddy_runtime.history import record
from eddy_web.actions import requested_now
from eddy_web.detail import drift_of, drift_report, history_of, with_commits, with_wanted
from eddy_web.health import applied_anything, from_status, summarize
from eddy_web.inventory import release_objects
from eddy_web.oidc import LoginError, OIDCLogin, OIDCSettings
from eddy_web.sessions import (
    Identity,
    Sessions,
    SessionTooLarge,
    safe_target,
    same_secret,
    session_key,
)
from eddy_web.summary import row, state_of


def obj(
    conditions: list[dict[str, Any]], generation: int = 1, observed: int = 1, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "app", "namespace": "team", "generation": generation},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, **spec},
        "status": {"observedGeneration": observed, "conditions": conditions},
    }


READY = {"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "ok"}
FAILED = {"type": "Ready", "status": "False", "reason": "BuildFailed", "message": "bad yaml"}


@pytest.mark.parametrize(
    ("item", "state"),
    [
        (obj([READY]), "Ready"),
        (obj([FAILED]), "Failed"),
        (obj([{**FAILED, "reason": "DependencyNotReady"}]), "Waiting"),
        (obj([READY], generation=2, observed=1), "Reconciling"),
        (
            obj([{"type": "Reconciling", "status": "True", "reason": "Progressing"}, FAILED]),
            "Reconciling",
        ),
        (obj([{"type": "Stalled", "status": "True", "reason": "InvalidPath"}, FAILED]), "Stalled"),
        (
            obj(
                [
                    {"type": "Reconciling", "status": "True", "reason": "ProgressingWithRetry"},
                    FAILED,
                ]
            ),
            "Failed",
        ),
        (obj([READY], suspend=True), "Suspended"),
        (obj([]), "Unknown"),
        ({"kind": "Kustomization", "metadata": {"generation": 1}, "spec": {}}, "Unknown"),
    ],
)
def test_state_of(item: dict[str, Any], state: str) -> None:
    assert state_of(item)[0] == state


def test_row_names_the_source_in_the_objects_namespace() -> None:
    found = row(obj([READY], dependsOn=[{"name": "infra"}]))
    assert found["source"] == {"kind": "GitRepository", "namespace": "team", "name": "repo"}
    assert found["dependsOn"] == [{"namespace": "team", "name": "infra"}]


def test_drift_names_the_field_its_live_value_and_who_changed_it() -> None:
    live = {
        "metadata": {
            "managedFields": [
                {"manager": "kustomize-controller", "operation": "Apply",
                 "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}},
                {"manager": "kubectl", "operation": "Update", "subresource": "scale",
                 "time": "2026-01-01T00:00:00Z", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": "kube-controller-manager", "operation": "Update",
                 "fieldsV1": {"f:metadata": {"f:annotations": {
                     "f:deployment.kubernetes.io/revision": {}}}}},
                {"manager": "kube-controller-manager", "operation": "Update",
                 "subresource": "status", "fieldsV1": {"f:status": {"f:replicas": {}}}},
                {"manager": "kubectl-edit", "operation": "Update",
                 "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                     'k:{"name":"web"}': {".": {}, "f:image": {}}}}}}}},
            ]
        },
        "spec": {
            "replicas": 5,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}},
        },
    }  # fmt: skip
    found = {(d["field"], d["manager"]): d for d in drift_of(live)}
    assert set(found) == {
        ("spec.replicas", "kubectl"),
        ("spec.template.spec.containers[name=web].image", "kubectl-edit"),
    }
    assert found["spec.replicas", "kubectl"]["value"] == 5
    assert found["spec.replicas", "kubectl"]["subresource"] == "scale"
    assert (
        found["spec.template.spec.containers[name=web].image", "kubectl-edit"]["value"]
        == "nginx:1.28"
    )


def test_requested_at_looks_like_the_flux_clis() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", requested_now())


def login(**kw: str) -> OIDCLogin:
    return OIDCLogin(OIDCSettings(issuer="https://idp", client_id="c", client_secret="s",
                                  redirect_url="https://d/auth/callback", **kw))  # fmt: skip


def test_oidc_identity_takes_user_and_groups_with_prefixes() -> None:
    identity = login(username_prefix="oidc:", groups_prefix="oidc:").identity(
        {"email": "ann@example.com", "email_verified": True, "groups": ["ops", "dev"]}
    )
    assert identity.user == "oidc:ann@example.com"
    assert identity.groups == ("oidc:dev", "oidc:ops")


@pytest.mark.parametrize(
    "claims",
    [
        {"email": "ann@example.com", "groups": ["system:masters"]},
        {"email": "system:admin"},
        {"email": "ann@example.com", "email_verified": False},
        {"name": "no email"},
    ],
)
def test_oidc_identity_refuses_reserved_unverified_or_missing_names(claims: dict[str, Any]) -> None:
    with pytest.raises(LoginError):
        login().identity(claims)


def test_a_helm_release_record_lists_its_objects() -> None:
    manifest = (
        "---\n# Source: web/templates/service.yaml\napiVersion: v1\nkind: Service\n"
        "metadata:\n  name: web\n---\n# Source: web/templates/deployment.yaml\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: other\n"
    )
    record = gzip.compress(json.dumps({"name": "web", "manifest": manifest}).encode())
    encoded = base64.b64encode(base64.b64encode(record)).decode()
    assert release_objects(encoded, "apps") == [
        {"apiVersion": "v1", "kind": "Service", "name": "web", "namespace": "apps"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "other"},
    ]


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/apps/Kustomization/a/b?tab=drift", True),
        ("//evil.example.com/", False),
        ("/\\evil.example.com/", False),
        ("https://evil.example.com/", False),
        ("apps", False),
    ],
)
def test_only_paths_on_this_site_are_followed_after_a_login(target: str, kept: bool) -> None:
    assert (safe_target(target) == target) is kept


def test_secrets_compare_whatever_is_sent() -> None:
    assert same_secret("abc", "abc")
    assert not same_secret("abc", "ábc")


def test_application_health_is_its_worst_object() -> None:
    assert summarize([]) == ("", "")
    assert summarize([("ConfigMap/a", "Current", ""), ("Service/b", "Current", "")]) == (
        "Healthy",
        "2 objects current",
    )
    assert summarize(
        [("ConfigMap/a", "Current", ""), ("Deployment/web", "InProgress", "Available: 0/2")]
    ) == ("Progressing", "Deployment/web: Available: 0/2")
    assert summarize(
        [("Deployment/web", "InProgress", "x"), ("ConfigMap/gone", "NotFound", "object not found")]
    ) == ("Missing", "ConfigMap/gone is not in the cluster")
    assert summarize(
        [("ConfigMap/gone", "NotFound", ""), ("Job/migrate", "Failed", "BackoffLimitExceeded")]
    ) == ("Degraded", "Job/migrate: BackoffLimitExceeded")


def test_health_from_the_status_when_the_controller_checks_it() -> None:
    healthy = {"type": "Healthy", "status": "True", "message": "all current"}
    assert from_status(obj([READY, healthy])) == ("Healthy", "all current")
    assert from_status(obj([READY])) is None
    assert row(obj([READY]))["health"] == ""


def test_history_names_the_commit_of_its_source_artifact() -> None:
    source = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": "team"},
        "status": {
            "artifact": {
                "revision": "main@sha1:" + "b" * 40,
                "metadata": {
                    "commit.eddy.dev/author": "Ada <ada@example.com>",
                    "commit.eddy.dev/date": "2026-01-02T03:04:05Z",
                    "commit.eddy.dev/message": "scale the web tier\n\nbecause of load",
                },
            }
        },
    }
    history = [{"revision": "main@sha1:" + "b" * 40}, {"revision": "main@sha1:" + "a" * 40}]
    found = with_commits(history, [row(source)])
    assert found[0]["commit"] == {
        "author": "Ada <ada@example.com>",
        "date": "2026-01-02T03:04:05Z",
        "message": "scale the web tier\n\nbecause of load",
    }
    assert "commit" not in found[1]


def test_sessions_are_sealed_in_their_cookie() -> None:
    key = session_key(b"a shared secret of enough bytes")
    one, other = Sessions(key), Sessions(key)
    who = Identity("oidc:ann@example.com", ("oidc:platform",))
    cookie, session = one.create(who)
    assert "ann" not in cookie and "platform" not in cookie  # encrypted, not just signed
    # Any replica with the key opens it, with the same CSRF token.
    opened = other.get(cookie)
    assert opened is not None and opened.identity == who and opened.csrf == session.csrf
    # Another key, a changed byte or a truncated cookie is nobody's session.
    assert Sessions(session_key(b"another secret of enough bytes")).get(cookie) is None
    flipped = cookie[:20] + ("A" if cookie[20] != "A" else "B") + cookie[21:]
    assert one.get(flipped) is None
    assert one.get(cookie[:-4]) is None
    assert one.get("") is None and one.get("not base64 !") is None
    # Logging out ends it here.
    one.drop(cookie)
    assert one.get(cookie) is None


def test_session_expiry_and_size_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = Sessions(session_key(None))
    cookie, _ = sessions.create(Identity("ann"))
    later = time.time() + 13 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert sessions.get(cookie) is None
    many = Identity("ann", tuple(f"oidc:group-{i:04d}" for i in range(400)))
    with pytest.raises(SessionTooLarge, match="400 groups"):
        sessions.create(many)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        session_key(b"short")


def test_drift_report_gives_gits_value_to_live_drift() -> None:
    app = obj([READY])
    app["status"]["drift"] = [
        {"object": "Deployment/team/web", "field": "spec.replicas", "found": "5",
         "restored": "2", "manager": "kubectl", "corrected": True,
         "detectedAt": "2026-01-01T00:00:00Z"},
        {"object": "ConfigMap/team/settings", "field": "data.greeting", "found": '"hi"',
         "wanted": '"hello"', "manager": "kubectl-edit", "corrected": False},
        {"field": "no object: ignored"},
    ]  # fmt: skip
    report = drift_report(app)
    assert [(r["object"], r["git"], r["corrected"]) for r in report] == [
        ("Deployment/team/web", "2", True),
        ("ConfigMap/team/settings", '"hello"', False),
    ]
    live = [
        {"kind": "ConfigMap", "namespace": "team", "name": "settings", "field": "data.greeting"},
        {"kind": "Deployment", "namespace": "team", "name": "web", "field": "spec.replicas"},
    ]
    with_wanted(live, report)
    # Only what is still reported (not yet corrected) is what Git wants now.
    assert live[0]["wanted"] == '"hello"' and "wanted" not in live[1]


def test_history_counts_each_result_once_newest_first() -> None:
    status: dict[str, Any] = {}
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    record(status, "sha256:a", "ReconciliationSucceeded", 1.5, {"revision": "r1"}, t0)
    record(status, "sha256:a", "ReconciliationSucceeded", 0.25, {"revision": "r1"},
           t0 + timedelta(minutes=10))  # fmt: skip
    assert status["history"] == [
        {
            "digest": "sha256:a",
            "firstReconciled": "2026-01-01T00:00:00Z",
            "lastReconciled": "2026-01-01T00:10:00Z",
            "lastReconciledDuration": "250ms",
            "lastReconciledStatus": "ReconciliationSucceeded",
            "totalReconciliations": 2,
            "metadata": {"revision": "r1"},
        }
    ]
    record(status, "sha256:b", "BuildFailed", 1, {"revision": "r2"}, t0 + timedelta(hours=1))
    # Back to the first result: its entry moves first, counted on.
    record(status, "sha256:a", "ReconciliationSucceeded", 1, {"revision": "r1"},
           t0 + timedelta(hours=2))  # fmt: skip
    assert [(e["digest"], e["totalReconciliations"]) for e in status["history"]] == [
        ("sha256:a", 3), ("sha256:b", 1),
    ]  # fmt: skip
    for i in range(10):
        record(status, f"sha256:{i}", "ReconciliationSucceeded", 1, {}, t0)
    assert len(status["history"]) == 5 and status["history"][0]["digest"] == "sha256:9"


def test_history_from_status_names_commits_and_outcomes() -> None:
    app = obj([READY])
    app["status"]["history"] = [
        {"digest": "sha256:b", "firstReconciled": "2026-01-01T01:00:00Z",
         "lastReconciled": "2026-01-01T01:00:00Z", "lastReconciledStatus": "BuildFailed",
         "totalReconciliations": 1, "metadata": {"revision": "main@sha1:" + "b" * 40}},
        {"digest": "sha256:a", "firstReconciled": "2026-01-01T00:00:00Z",
         "lastReconciled": "2026-01-01T00:30:00Z",
         "lastReconciledStatus": "ReconciliationSucceeded", "totalReconciliations": 4,
         "metadata": {"revision": "main@sha1:" + "a" * 40,
                      "commit.eddy.dev/author": "Ada <ada@example.com>",
                      "commit.eddy.dev/message": "first"}},
    ]  # fmt: skip
    found = with_commits(history_of(app, []), [])
    assert [(e["ok"], e["count"]) for e in found] == [(False, 1), (True, 4)]
    assert "commit" not in found[0]
    assert found[1]["commit"]["author"] == "Ada <ada@example.com>"
    assert found[1]["commit"]["message"] == "first"


def test_only_applications_that_applied_something_are_assessed() -> None:
    app = obj([READY])
    assert not applied_anything(app)
    app["status"]["inventory"] = {"entries": [{"id": "team_web__ConfigMap", "v": "v1"}]}
    assert applied_anything(app)
    release = {"kind": "HelmRelease", "status": {"history": [{"version": 1}]}}
    assert applied_anything(release) and not applied_anything({"kind": "HelmRelease"})
