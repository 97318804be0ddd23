"""Each Provider type's request, as received by a loopback server standing in for the service.

The expected method, path, headers and body follow each service's public API:
Slack incoming webhooks / chat.postMessage, Teams Workflows Adaptive Cards, Discord
Execute Webhook, Google Chat webhooks, Alertmanager API v2, Grafana annotations,
Opsgenie Alert API, PagerDuty Events API v2, and the commit status APIs of GitHub,
GitLab, Gitea and Bitbucket Cloud.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from eddy_runtime.cel import compile_expression
from eddy_testenv.webhooks import Received, webhook_server
from notification_controller.delivery import Transport, send
from notification_controller.providers import Delivery, DeliveryError, build, commit_sha

SHA = "0123456789abcdef0123456789abcdef01234567"
ERROR_EVENT: dict[str, Any] = {
    "involvedObject": {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "name": "app",
        "namespace": "apps",
        "uid": "u1",
    },
    "severity": "error",
    "timestamp": "2026-01-02T03:04:05Z",
    "message": "Deployment/apps/web dry-run failed",
    "reason": "ReconciliationFailed",
    "metadata": {"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{SHA}"},
    "reportingController": "kustomize-controller",
    "reportingInstance": "kc-1",
}
UID = "0c9c2e41-7d4f-4c57-9d0f-5e2f8a1b3c4d"
# As Flux names a commit status: kind/name/<first part of the Provider's uid>, lowercased.
STATUS_ID = "kustomization/app/0c9c2e41"


async def deliver(delivery: Delivery, event: dict[str, Any] = ERROR_EVENT) -> Received:
    request = build(delivery, event)
    assert request is not None
    async with webhook_server() as server, aiohttp.ClientSession() as session:
        url = request.url
        # Point the service's URL at the loopback server, keeping path and query.
        target = url.split("://", 1)[1].split("/", 1)
        request = type(request)(
            request.method,
            f"{server.url}/{target[1] if len(target) > 1 else ''}",
            request.headers,
            request.body,
        )
        await send(session, request, Transport(), delivery.type)
        (received,) = await server.wait_for(1)
    return received


def assert_json_headers(received: Received) -> None:
    assert received.method == "POST"
    assert received.headers["content-type"] == "application/json"


async def test_generic_posts_the_event_with_extra_headers() -> None:
    got = await deliver(
        Delivery("generic", address="http://hooks.example/flux", headers={"X-Team": "payments"})
    )
    assert_json_headers(got)
    assert got.path == "/flux"
    assert got.headers["gotk-component"] == "kustomize-controller"
    assert got.headers["x-team"] == "payments"
    assert got.json() == ERROR_EVENT


async def test_generic_hmac_signs_the_body() -> None:
    got = await deliver(Delivery("generic-hmac", address="http://hooks.example/", token="k3y"))
    expected = hmac.new(b"k3y", got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-signature"] == f"sha256={expected}"
    assert got.json() == ERROR_EVENT


async def test_slack_webhook_and_bot_token() -> None:
    got = await deliver(
        Delivery(
            "slack",
            address="https://slack.com/api/chat.postMessage",
            channel="ops",
            username="eddy",
            token="xoxb-1",
        )
    )
    assert_json_headers(got)
    assert got.path == "/api/chat.postMessage"
    assert got.headers["authorization"] == "Bearer xoxb-1"
    assert got.json() == {
        "text": "Kustomization/apps/app: ReconciliationFailed",
        "channel": "ops",
        "username": "eddy",
        "attachments": [
            {
                "color": "danger",
                "author_name": "Kustomization/apps/app",
                "text": "Deployment/apps/web dry-run failed",
                "mrkdwn_in": ["text"],
                "fields": [{"title": "revision", "value": f"main@sha1:{SHA}", "short": False}],
            }
        ],
    }


async def test_msteams_adaptive_card() -> None:
    got = await deliver(Delivery("msteams", address="https://prod.example/workflows/1"))
    assert_json_headers(got)
    body = got.json()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "Kustomization/apps/app: ReconciliationFailed"
    assert card["body"][0]["color"] == "attention"
    assert card["body"][1] == {"type": "TextBlock", "text": ERROR_EVENT["message"], "wrap": True}
    assert card["body"][2] == {
        "type": "FactSet",
        "facts": [{"title": "revision", "value": f"main@sha1:{SHA}"}],
    }


async def test_discord_embed() -> None:
    got = await deliver(
        Delivery("discord", address="https://discord.com/api/webhooks/1/t", username="eddy")
    )
    assert_json_headers(got)
    assert got.path == "/api/webhooks/1/t"
    assert got.json() == {
        "username": "eddy",
        "embeds": [
            {
                "title": "Kustomization/apps/app: ReconciliationFailed",
                "description": ERROR_EVENT["message"],
                "color": 0xE01E5A,
                "fields": [{"name": "revision", "value": f"main@sha1:{SHA}", "inline": False}],
            }
        ],
    }


async def test_googlechat_text() -> None:
    got = await deliver(
        Delivery("googlechat", address="https://chat.googleapis.com/v1/spaces/S/messages?key=k")
    )
    assert got.path == "/v1/spaces/S/messages" and got.query == "key=k"
    assert got.json() == {
        "text": "*Kustomization/apps/app: ReconciliationFailed*\n"
        f"{ERROR_EVENT['message']}\nrevision: main@sha1:{SHA}"
    }


async def test_alertmanager_v2_alerts() -> None:
    got = await deliver(Delivery("alertmanager", address="http://am:9093/api/v2/alerts"))
    assert got.path == "/api/v2/alerts"
    assert got.json() == [
        {
            "labels": {
                "alertname": "FluxKustomizationReconciliationFailed",
                "severity": "error",
                "reason": "ReconciliationFailed",
                "kind": "Kustomization",
                "name": "app",
                "namespace": "apps",
                "reportingController": "kustomize-controller",
            },
            "annotations": {"message": ERROR_EVENT["message"], "revision": f"main@sha1:{SHA}"},
            "startsAt": "2026-01-02T03:04:05Z",
        }
    ]


async def test_grafana_annotation() -> None:
    got = await deliver(
        Delivery("grafana", address="https://grafana/api/annotations", token="glsa")
    )
    assert got.path == "/api/annotations"
    assert got.headers["authorization"] == "Bearer glsa"
    assert got.json() == {
        "time": 1767323045000,
        "text": f"Kustomization/apps/app: {ERROR_EVENT['message']}",
        "tags": [
            "flux",
            "ReconciliationFailed",
            "Kustomization",
            "app",
            "apps",
            f"revision: main@sha1:{SHA}",
        ],
    }


async def test_opsgenie_alert() -> None:
    got = await deliver(
        Delivery("opsgenie", address="https://api.opsgenie.com/v2/alerts", token="gk")
    )
    assert got.path == "/v2/alerts"
    assert got.headers["authorization"] == "GenieKey gk"
    assert got.json() == {
        "message": "Kustomization/apps/app: ReconciliationFailed",
        "description": ERROR_EVENT["message"],
        "alias": "Kustomization/apps/app",
        "details": {"revision": f"main@sha1:{SHA}"},
        "priority": "P3",
    }


async def test_pagerduty_trigger_and_resolve() -> None:
    delivery = Delivery("pagerduty", address="https://events.pagerduty.com", channel="rk")
    got = await deliver(delivery)
    assert got.path == "/v2/enqueue"
    body = got.json()
    assert body["routing_key"] == "rk" and body["event_action"] == "trigger"
    assert body["dedup_key"] == "Kustomization/apps/app"
    assert body["payload"] == {
        "summary": f"Kustomization/apps/app: {ERROR_EVENT['message']}",
        "source": "kustomize-controller",
        "severity": "error",
        "timestamp": "2026-01-02T03:04:05Z",
        "component": "app",
        "group": "apps",
        "class": "Kustomization",
        "custom_details": {
            "reason": "ReconciliationFailed",
            "kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{SHA}",
        },
    }
    resolved = await deliver(delivery, {**ERROR_EVENT, "severity": "info"})
    assert resolved.json() == {
        "routing_key": "rk",
        "dedup_key": "Kustomization/apps/app",
        "event_action": "resolve",
    }


async def test_github_commit_status() -> None:
    got = await deliver(
        Delivery("github", address="https://github.com/org/app", token="ghp", provider_uid=UID)
    )
    assert got.path == f"/repos/org/app/statuses/{SHA}"
    assert got.headers["authorization"] == "Bearer ghp"
    assert got.headers["accept"] == "application/vnd.github+json"
    assert got.json() == {
        "state": "failure",
        "context": STATUS_ID,
        "description": ERROR_EVENT["message"],
    }


def test_github_enterprise_api_base() -> None:
    request = build(
        Delivery("github", address="https://ghe.example/org/app.git", token="t", provider_uid=UID),
        ERROR_EVENT,
    )
    assert request is not None
    assert request.url == f"https://ghe.example/api/v3/repos/org/app/statuses/{SHA}"


async def test_gitlab_commit_status() -> None:
    got = await deliver(
        Delivery(
            "gitlab", address="https://gitlab.com/group/sub/app", token="glpat", provider_uid=UID
        )
    )
    assert got.path == f"/api/v4/projects/group%2Fsub%2Fapp/statuses/{SHA}"
    assert got.headers["private-token"] == "glpat"
    assert got.json() == {
        "state": "failed",
        "name": STATUS_ID,
        "description": ERROR_EVENT["message"],
    }


async def test_gitea_commit_status() -> None:
    got = await deliver(
        Delivery("gitea", address="https://gitea.example/org/app", token="gt", provider_uid=UID)
    )
    assert got.path == f"/api/v1/repos/org/app/statuses/{SHA}"
    assert got.headers["authorization"] == "token gt"
    assert got.json() == {
        "state": "failure",
        "context": STATUS_ID,
        "description": ERROR_EVENT["message"],
    }


async def test_bitbucket_commit_status() -> None:
    got = await deliver(
        Delivery(
            "bitbucket",
            address="https://bitbucket.org/ws/app",
            token="user:apppw",
            provider_uid=UID,
        )
    )
    assert got.path == f"/2.0/repositories/ws/app/commit/{SHA}/statuses/build"
    assert got.headers["authorization"] == "Basic " + base64.b64encode(b"user:apppw").decode()
    assert got.json() == {
        "state": "FAILED",
        "key": hashlib.sha256(STATUS_ID.encode()).hexdigest()[:40],
        "name": STATUS_ID,
        "url": "https://bitbucket.org/ws/app",
        "description": ERROR_EVENT["message"],
    }


def test_commit_statuses_need_a_revision() -> None:
    event = {**ERROR_EVENT, "metadata": {}}
    for kind in ("github", "gitlab", "gitea", "bitbucket"):
        delivery = Delivery(kind, address="https://h.example/o/r", token="u:p")
        assert build(delivery, event) is None


@pytest.mark.parametrize(
    ("revision", "sha"),
    [
        (f"main@sha1:{SHA}", SHA),
        (f"sha1:{SHA}", SHA),
        (f"main/{SHA}", SHA),
        (SHA, SHA),
        ("v1.0.0@sha256:" + "a" * 64, "a" * 64),
        ("6.1.0", ""),
    ],
)
def test_commit_sha(revision: str, sha: str) -> None:
    assert commit_sha(revision) == sha


async def test_https_with_a_ca_and_a_refusal_that_names_no_secret(tmp_path: Path) -> None:
    import ssl

    async with webhook_server(tls_dir=tmp_path) as server, aiohttp.ClientSession() as session:
        assert server.ca_file is not None
        context = ssl.create_default_context(cadata=server.ca_file.read_text())
        request = build(Delivery("generic", address=server.url + "/in"), ERROR_EVENT)
        assert request is not None
        await send(session, request, Transport(ssl=context), "generic")
        assert (await server.wait_for(1))[0].path == "/in"
        server.status = 401
        secret_url = server.url + "/in?token=s3cret"
        request = build(Delivery("generic", address=secret_url), ERROR_EVENT)
        assert request is not None
        with pytest.raises(DeliveryError) as err:
            await send(session, request, Transport(ssl=context), "generic")
        assert "401" in str(err.value) and "s3cret" not in str(err.value)
        with pytest.raises(DeliveryError) as err:
            await send(session, request, Transport(), "generic")  # untrusted CA
        assert "s3cret" not in str(err.value)


def test_json_bodies_are_compact() -> None:
    request = build(Delivery("generic", address="http://h/"), ERROR_EVENT)
    assert (
        request is not None
        and request.body == json.dumps(ERROR_EVENT, separators=(",", ":")).encode()
    )


def test_commit_status_expression_names_the_status() -> None:
    expr = compile_expression(
        "event.involvedObject.kind + '/' + event.involvedObject.name + '/' + "
        "provider.metadata.name + '/' + alert.metadata.name",
        ["event", "provider", "alert"],
    )
    delivery = Delivery(
        "github", address="https://github.com/org/app", token="t", provider_uid=UID,
        status_expr=expr, provider={"metadata": {"name": "gh"}},
        alert={"metadata": {"name": "on-failure"}},
    )  # fmt: skip
    request = build(delivery, ERROR_EVENT)
    assert request is not None
    assert request.json()["context"] == "Kustomization/app/gh/on-failure"


def test_a_commit_status_expression_that_fails_drops_the_status_with_a_reason() -> None:
    expr = compile_expression("event.metadata.missing", ["event", "provider", "alert"])
    delivery = Delivery("gitlab", address="https://gitlab.com/g/app", token="t",
                        provider_uid=UID, status_expr=expr)  # fmt: skip
    with pytest.raises(DeliveryError, match=r"^spec\.commitStatusExpr: evaluating"):
        build(delivery, ERROR_EVENT)
