"""Providers, Alerts and Receivers on a real control plane, with loopback services.

Events are POSTed to the events server as the other controllers post them; what a
service receives, what status says and which objects get annotated are checked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import logging
import secrets
from typing import Any

import aiohttp
import jwt
import pytest

from eddy_runtime import logs
from eddy_runtime.annotations import RECONCILE_REQUESTED_AT
from eddy_runtime.manager import Manager
from eddy_runtime.resources import SECRETS, Obj, ResourceClient
from eddy_testenv.dex import Dex, DexUser
from eddy_testenv.observe import condition, events_for
from eddy_testenv.waiting import eventually
from eddy_testenv.webhooks import webhook_server
from notification_controller.objects import ALERTS, FLUX_KINDS, PROVIDERS, RECEIVERS

from .support import events_url, receiver_url

pytestmark = pytest.mark.integration

GIT_REPOSITORIES = FLUX_KINDS["GitRepository"]
SHA = "0123456789abcdef0123456789abcdef01234567"


def secret(name: str, namespace: str, **data: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": data,
    }


def provider(name: str, namespace: str, **spec: Any) -> Obj:
    return {
        "apiVersion": PROVIDERS.api_version,
        "kind": "Provider",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def alert(name: str, namespace: str, **spec: Any) -> Obj:
    return {
        "apiVersion": ALERTS.api_version,
        "kind": "Alert",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def event(
    namespace: str,
    name: str = "app",
    severity: str = "error",
    message: str = "boom",
    **metadata: str,
) -> dict[str, Any]:
    return {
        "involvedObject": {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "name": name,
            "namespace": namespace,
        },
        "severity": severity,
        "timestamp": "2026-01-02T03:04:05Z",
        "message": message,
        "reason": "ReconciliationFailed" if severity == "error" else "ReconciliationSucceeded",
        "metadata": {"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{SHA}", **metadata},
        "reportingController": "kustomize-controller",
        "reportingInstance": "kc-0",
    }


async def ready(
    kube: ResourceClient, res: Any, namespace: str, name: str, status: str = "True"
) -> Obj:
    async def probe() -> Obj | None:
        obj = await kube.get(res, name, namespace)
        cond = condition(obj)
        gen = (obj.get("status") or {}).get("observedGeneration")
        done = cond.get("status") == status and gen == obj["metadata"]["generation"]
        return obj if done else None

    return await eventually(probe)


async def post(url: str, body: Any, headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as http:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with http.post(url, data=data, headers=headers or {}) as resp:
            return resp.status


async def test_provider_without_its_secret_is_not_ready_naming_it(
    kube: ResourceClient, namespace: str, notifier: Manager
) -> None:
    await kube.create(
        PROVIDERS,
        provider("slack", namespace, type="slack", secretRef={"name": "slack-url"}),
        namespace,
    )
    obj = await ready(kube, PROVIDERS, namespace, "slack", "False")
    cond = condition(obj)
    assert cond["reason"] == "ValidationFailed"
    assert f"Secret '{namespace}/slack-url' not found" in cond["message"]
    await kube.create(
        SECRETS,
        secret("slack-url", namespace, address="https://hooks.slack.com/services/T/B/X"),
        namespace,
    )
    await kube.patch(
        PROVIDERS,
        "slack",
        {"metadata": {"annotations": {RECONCILE_REQUESTED_AT: "now"}}},
        namespace,
    )
    obj = await ready(kube, PROVIDERS, namespace, "slack")
    assert "hooks.slack.com" not in json.dumps(obj["status"])
    await kube.create(
        ALERTS,
        alert(
            "a",
            namespace,
            providerRef={"name": "nope"},
            eventSources=[{"kind": "Kustomization", "name": "*"}],
        ),
        namespace,
    )
    bad = await ready(kube, ALERTS, namespace, "a", "False")
    assert condition(bad)["reason"] == "ProviderNotFound"
    assert f"Provider '{namespace}/nope' not found" in condition(bad)["message"]


async def test_an_event_goes_out_through_a_matching_alert(
    kube: ResourceClient, namespace: str, notifier: Manager
) -> None:
    async with webhook_server() as service:
        await kube.create(
            SECRETS,
            secret("hook", namespace, address=service.url + "/alerts", headers="X-Env: prod\n"),
            namespace,
        )
        await kube.create(
            PROVIDERS,
            provider("hook", namespace, type="generic", secretRef={"name": "hook"}),
            namespace,
        )
        await kube.create(
            ALERTS,
            alert(
                "errors",
                namespace,
                providerRef={"name": "hook"},
                eventSeverity="error",
                eventSources=[{"kind": "Kustomization", "name": "*"}],
                exclusionList=["^ignored"],
                eventMetadata={"cluster": "prod-1"},
                summary="payments",
            ),
            namespace,
        )
        await ready(kube, PROVIDERS, namespace, "hook")
        await ready(kube, ALERTS, namespace, "errors")
        url = events_url(notifier)
        token = "kustomize.toolkit.fluxcd.io/token"
        assert await post(url, event(namespace, **{token: "t1"})) == 202
        # The same event again within the window is refused as Flux does.
        assert await post(url, event(namespace, **{token: "t1"})) == 429
        # Filtered: info severity, an excluded message, another namespace.
        assert await post(url, event(namespace, severity="info")) == 202
        assert await post(url, event(namespace, message="ignored: noise")) == 202
        assert await post(url, event("elsewhere")) == 202
        assert await post(url, event(namespace, name="last", message="last one")) == 202
        # Alerts are sent concurrently, as Flux sends them: arrival order is not theirs.
        received = await service.wait_for(2)
        by_name = {r.json()["involvedObject"]["name"]: r for r in received}
        assert sorted(by_name) == ["app", "last"]
        first = by_name["app"]
        assert first.path == "/alerts" and first.headers["x-env"] == "prod"
        assert first.headers["gotk-component"] == "kustomize-controller"
        assert first.json()["metadata"] == {
            "kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{SHA}",
            "cluster": "prod-1",
            "summary": "payments",
        }
        assert await post(url, {"severity": "error"}) == 400
        assert await post(url, b"not json") == 400


def signed(token: str, body: bytes) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


async def test_a_github_receiver_asks_for_a_reconcile(
    kube: ResourceClient, namespace: str, notifier: Manager
) -> None:
    token = "webhook-t0ken"
    await kube.create(SECRETS, secret("hook-token", namespace, token=token), namespace)
    await kube.create(
        GIT_REPOSITORIES,
        {
            "apiVersion": GIT_REPOSITORIES.api_version,
            "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {"url": "https://git.example/app.git", "interval": "1h", "suspend": True},
        },
        namespace,
    )
    await kube.create(
        RECEIVERS,
        {
            "apiVersion": RECEIVERS.api_version,
            "kind": "Receiver",
            "metadata": {"name": "github", "namespace": namespace},
            "spec": {
                "type": "github",
                "events": ["push"],
                "secretRef": {"name": "hook-token"},
                "resources": [{"kind": "GitRepository", "name": "app"}],
            },
        },
        namespace,
    )
    obj = await ready(kube, RECEIVERS, namespace, "github")
    path = "/hook/" + hashlib.sha256(f"{token}github{namespace}".encode()).hexdigest()
    assert obj["status"]["webhookPath"] == path
    assert condition(obj)["message"] == f"Receiver initialized for path: {path}"
    assert token not in json.dumps(obj["status"])
    url = receiver_url(notifier, path)
    body = json.dumps({"ref": "refs/heads/main"}).encode()

    async def requested() -> str | None:
        repo = await kube.get(GIT_REPOSITORIES, "app", namespace)
        return (repo["metadata"].get("annotations") or {}).get(RECONCILE_REQUESTED_AT)

    # Refused, and nothing annotated: bad signature, unlisted event, unknown path, too big.
    push = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
    assert await post(url, body, {**push, "X-Hub-Signature-256": signed("wrong", body)}) == 400
    assert (
        await post(
            url, body, {"X-GitHub-Event": "issues", "X-Hub-Signature-256": signed(token, body)}
        )
        == 400
    )
    assert await post(receiver_url(notifier, "/hook/" + "0" * 64), body) == 404
    huge = b"x" * (6 * 1024 * 1024)
    assert await post(url, huge, {**push, "X-Hub-Signature-256": signed(token, huge)}) == 413
    ping = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": signed(token, body)}
    assert await post(url, body, ping) == 200
    assert await requested() is None
    assert await post(url, body, {**push, "X-Hub-Signature-256": signed(token, body)}) == 200
    assert (await requested() or "").endswith("Z")


async def test_secrets_stay_out_of_logs_status_and_events(
    kube: ResourceClient, namespace: str, notifier: Manager
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JSONFormatter(controller="notification-controller"))
    logging.getLogger("eddy").addHandler(handler)
    try:
        async with webhook_server() as service:
            service.status = 500
            secret_address = service.url + "/hooks/s3cr3t-path?key=s3cr3t-key"
            await kube.create(
                SECRETS,
                secret("creds", namespace, address=secret_address, token="s3cr3t-token"),
                namespace,
            )
            await kube.create(
                PROVIDERS,
                provider("gh", namespace, type="generic-hmac", secretRef={"name": "creds"}),
                namespace,
            )
            await kube.create(
                ALERTS,
                alert(
                    "all",
                    namespace,
                    providerRef={"name": "gh"},
                    eventSources=[{"kind": "Kustomization", "name": "app"}],
                ),
                namespace,
            )
            await ready(kube, PROVIDERS, namespace, "gh")
            await ready(kube, ALERTS, namespace, "all")
            assert await post(events_url(notifier), event(namespace)) == 202
            await service.wait_for(1)
            await eventually(lambda: _logged(stream, "answered HTTP 500"))
    finally:
        logging.getLogger("eddy").removeHandler(handler)
    text = stream.getvalue()
    objects = [await kube.get(PROVIDERS, "gh", namespace), await kube.get(ALERTS, "all", namespace)]
    found = json.dumps([o.get("status") for o in objects])
    found += json.dumps(await events_for(kube, namespace, "gh"))
    for leaked in ("s3cr3t",):
        assert leaked not in text and leaked not in found


async def _logged(stream: io.StringIO, words: str) -> bool | None:
    return True if words in stream.getvalue() else None


def _hmac(token: str, body: bytes, algo: Any = hashlib.sha256) -> str:
    return hmac.new(token.encode(), body, algo).hexdigest()


TOKEN = "receiver-t0ken"
CDEVENT = {
    "context": {
        "specversion": "0.4.1",
        "id": "1",
        "source": "ci",
        "timestamp": "2026-01-01T00:00:00Z",
        "type": "dev.cdevents.change.merged.0.2.0",
    },
    "subject": {"id": "pr-1", "content": {}},
}
# type -> (headers and body of a genuine call, headers and body of a forged one)
CALLS: dict[str, tuple[tuple[dict[str, str], bytes], tuple[dict[str, str], bytes]]] = {
    "generic": (({}, b"{}"), ({}, b"{}")),
    "generic-hmac": (
        ({"X-Signature": "sha256=" + _hmac(TOKEN, b'{"a":1}')}, b'{"a":1}'),
        ({"X-Signature": "sha256=" + _hmac("nope", b'{"a":1}')}, b'{"a":1}'),
    ),
    "gitlab": (
        ({"X-Gitlab-Token": TOKEN, "X-Gitlab-Event": "Push Hook"}, b"{}"),
        ({"X-Gitlab-Token": "wrong", "X-Gitlab-Event": "Push Hook"}, b"{}"),
    ),
    "bitbucket": (
        (
            {
                "X-Hub-Signature": "sha256=" + _hmac(TOKEN, b"{}"),
                "X-Event-Key": "repo:refs_changed",
            },
            b"{}",
        ),
        ({"X-Hub-Signature": "sha256=" + _hmac(TOKEN, b"{}"), "X-Event-Key": "pr:opened"}, b"{}"),
    ),
    "harbor": (({"Authorization": TOKEN}, b"{}"), ({"Authorization": "Bearer x"}, b"{}")),
    "dockerhub": (
        (
            {},
            json.dumps(
                {
                    "push_data": {"tag": "1.0"},
                    "repository": {"repo_url": "https://hub.docker.com/r/o/app"},
                }
            ).encode(),
        ),
        ({}, b"not json"),
    ),
    "quay": (
        ({}, json.dumps({"docker_url": "quay.io/o/app", "updated_tags": ["1.0"]}).encode()),
        ({}, b"[]"),
    ),
    "nexus": (
        (
            {"X-Nexus-Webhook-Signature": _hmac(TOKEN, b'{"action":"CREATED"}', hashlib.sha1)},
            b'{"action":"CREATED"}',
        ),
        (
            {"X-Nexus-Webhook-Signature": _hmac("x", b'{"action":"CREATED"}', hashlib.sha1)},
            b'{"action":"CREATED"}',
        ),
    ),
    "acr": (
        (
            {},
            json.dumps({"action": "push", "target": {"repository": "app", "tag": "1.0"}}).encode(),
        ),
        ({}, b'{"action": "push", "target": "app:1.0"}'),
    ),
    "cdevents": (
        ({"Ce-Type": "dev.cdevents.change.merged.0.2.0"}, json.dumps(CDEVENT).encode()),
        ({"Ce-Type": "dev.cdevents.change.merged.0.2.0"}, json.dumps({"context": {}}).encode()),
    ),
}
EVENTS = {
    "gitlab": ["Push Hook"],
    "bitbucket": ["repo:refs_changed"],
    "cdevents": ["dev.cdevents.change.merged.0.2.0"],
}


@pytest.mark.parametrize("kind", sorted(CALLS))
async def test_each_receiver_type_acts_on_a_genuine_call_only(
    kube: ResourceClient, namespace: str, notifier: Manager, kind: str
) -> None:
    await kube.create(SECRETS, secret("token", namespace, token=TOKEN), namespace)
    await kube.create(
        GIT_REPOSITORIES,
        {
            "apiVersion": GIT_REPOSITORIES.api_version,
            "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": namespace, "labels": {"team": "a"}},
            "spec": {"url": "https://git.example/app.git", "interval": "1h", "suspend": True},
        },
        namespace,
    )
    spec: dict[str, Any] = {
        "type": kind,
        "secretRef": {"name": "token"},
        "resources": [{"kind": "GitRepository", "name": "*", "matchLabels": {"team": "a"}}],
    }
    if kind in EVENTS:
        spec["events"] = EVENTS[kind]
    await kube.create(
        RECEIVERS,
        {
            "apiVersion": RECEIVERS.api_version,
            "kind": "Receiver",
            "metadata": {"name": "r", "namespace": namespace},
            "spec": spec,
        },
        namespace,
    )
    url = receiver_url(
        notifier, (await ready(kube, RECEIVERS, namespace, "r"))["status"]["webhookPath"]
    )

    async def requested() -> str | None:
        repo = await kube.get(GIT_REPOSITORIES, "app", namespace)
        return (repo["metadata"].get("annotations") or {}).get(RECONCILE_REQUESTED_AT)

    (good_headers, good), (bad_headers, bad) = CALLS[kind]
    if kind != "generic":
        assert await post(url, bad, bad_headers) == 400
        assert await requested() is None
    assert await post(url, good, good_headers) == 200
    assert await requested()


async def test_a_gcr_call_needs_a_token_google_vouches_for(
    kube: ResourceClient, namespace: str, control_plane: Any
) -> None:
    from eddy_testenv.managers import running_manager
    from notification_controller.controller import NAME, Settings, controllers

    async with webhook_server() as google:
        google.statuses = [400]
        settings = Settings(
            events_addr="127.0.0.1:0",
            receiver_addr="127.0.0.1:0",
            gcr_tokeninfo_url=google.url + "/tokeninfo",
        )
        async with running_manager(
            NAME,
            str(control_plane.kubeconfig),
            lambda m: controllers(m, settings),
            watch_all_namespaces=False,
            runtime_namespace=namespace,
        ) as manager:
            await kube.create(SECRETS, secret("token", namespace, token=TOKEN), namespace)
            await kube.create(
                GIT_REPOSITORIES,
                {
                    "apiVersion": GIT_REPOSITORIES.api_version,
                    "kind": "GitRepository",
                    "metadata": {"name": "app", "namespace": namespace},
                    "spec": {
                        "url": "https://git.example/app.git",
                        "interval": "1h",
                        "suspend": True,
                    },
                },
                namespace,
            )
            await kube.create(
                RECEIVERS,
                {
                    "apiVersion": RECEIVERS.api_version,
                    "kind": "Receiver",
                    "metadata": {"name": "gcr", "namespace": namespace},
                    "spec": {
                        "type": "gcr",
                        "secretRef": {"name": "token"},
                        "resources": [{"kind": "GitRepository", "name": "app"}],
                    },
                },
                namespace,
            )
            obj = await ready(kube, RECEIVERS, namespace, "gcr")
            url = receiver_url(manager, obj["status"]["webhookPath"])
            data = base64.b64encode(json.dumps({"action": "INSERT", "tag": "o/app:1"}).encode())
            body = json.dumps({"message": {"data": data.decode(), "messageId": "1"}}).encode()
            headers = {"Authorization": "Bearer google-signed-jwt"}
            assert await post(url, body, headers) == 400  # tokeninfo says no
            google.status = 200
            assert await post(url, body, headers) == 400  # an answer without email_verified
            assert google.requests[0].query == "id_token=google-signed-jwt"
            repo = await kube.get(GIT_REPOSITORIES, "app", namespace)
            assert RECONCILE_REQUESTED_AT not in (repo["metadata"].get("annotations") or {})
            google.answer = json.dumps({"email": "push@example.iam", "email_verified": "true"})
            assert await post(url, body, headers) == 200
            repo = await kube.get(GIT_REPOSITORIES, "app", namespace)
            assert RECONCILE_REQUESTED_AT in (repo["metadata"].get("annotations") or {})


async def test_a_provider_trusts_the_ca_of_its_cert_secret(
    kube: ResourceClient, namespace: str, notifier: Manager, tmp_path: Any
) -> None:
    async with webhook_server(tls_dir=tmp_path) as service:
        assert service.ca_file is not None
        await kube.create(
            PROVIDERS,
            provider(
                "tls",
                namespace,
                type="generic",
                address=service.url + "/in",
                certSecretRef={"name": "tls-ca"},
            ),
            namespace,
        )
        missing = await ready(kube, PROVIDERS, namespace, "tls", "False")
        assert f"Secret '{namespace}/tls-ca' not found" in condition(missing)["message"]
        assert "spec.certSecretRef" in condition(missing)["message"]
        await kube.create(
            SECRETS,
            secret("tls-ca", namespace, **{"ca.crt": service.ca_file.read_text()}),
            namespace,
        )
        await kube.patch(
            PROVIDERS,
            "tls",
            {"metadata": {"annotations": {RECONCILE_REQUESTED_AT: "now"}}},
            namespace,
        )
        await ready(kube, PROVIDERS, namespace, "tls")
        await kube.create(
            ALERTS,
            alert(
                "tls",
                namespace,
                providerRef={"name": "tls"},
                eventSources=[{"kind": "Kustomization", "name": "app"}],
            ),
            namespace,
        )
        await ready(kube, ALERTS, namespace, "tls")
        assert await post(events_url(notifier), event(namespace, message="over TLS")) == 202
        (received,) = await service.wait_for(1)
        assert received.path == "/in" and received.json()["message"] == "over TLS"


async def test_a_provider_goes_through_the_proxy_of_its_proxy_secret(
    kube: ResourceClient, namespace: str, notifier: Manager
) -> None:
    async with webhook_server() as proxy:
        await kube.create(
            SECRETS,
            secret("proxy", namespace, address=proxy.url, username="u", password="proxy-pw"),
            namespace,
        )
        # Only the proxy can reach this name: a request there proves the proxy was used.
        await kube.create(
            PROVIDERS,
            provider(
                "via",
                namespace,
                type="generic",
                address="http://alerts.internal.invalid/in",
                proxySecretRef={"name": "proxy"},
            ),
            namespace,
        )
        await kube.create(
            ALERTS,
            alert(
                "via",
                namespace,
                providerRef={"name": "via"},
                eventSources=[{"kind": "Kustomization", "name": "app"}],
            ),
            namespace,
        )
        await ready(kube, PROVIDERS, namespace, "via")
        await ready(kube, ALERTS, namespace, "via")
        assert await post(events_url(notifier), event(namespace, message="proxied")) == 202
        (received,) = await proxy.wait_for(1)
        assert received.headers["host"] == "alerts.internal.invalid"
        assert (
            received.headers["proxy-authorization"]
            == "Basic " + base64.b64encode(b"u:proxy-pw").decode()
        )
        assert received.json()["message"] == "proxied"


async def test_fields_not_yet_honoured_are_refused_by_name(
    kube: ResourceClient, namespace: str, notifier: Manager
) -> None:
    await kube.create(
        PROVIDERS,
        provider(
            "cel",
            namespace,
            type="github",
            address="https://github.com/o/r",
            serviceAccountName="workload-identity",
        ),
        namespace,
    )
    obj = await ready(kube, PROVIDERS, namespace, "cel", "False")
    assert condition(obj)["reason"] == "UnsupportedField"
    assert condition(obj)["message"].startswith(
        "spec.serviceAccountName: not supported by eddy yet; remove it from the Provider"
    )
    assert condition(obj, "Stalled")["status"] == "True"


def git_repository(name: str, namespace: str, **labels: str) -> Obj:
    return {
        "apiVersion": GIT_REPOSITORIES.api_version,
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"url": f"https://git.example/{name}.git", "interval": "1h", "suspend": True},
    }


def receiver(name: str, namespace: str, **spec: Any) -> Obj:
    return {
        "apiVersion": RECEIVERS.api_version,
        "kind": "Receiver",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


async def requested_at(kube: ResourceClient, namespace: str, name: str) -> str | None:
    repo = await kube.get(GIT_REPOSITORIES, name, namespace)
    return (repo["metadata"].get("annotations") or {}).get(RECONCILE_REQUESTED_AT)


async def test_cel_filters_pick_the_objects_a_call_reconciles(
    kube: ResourceClient, namespace: str, notifier: Manager
) -> None:
    await kube.create(SECRETS, secret("hook", namespace, token="t"), namespace)
    for name, env in (("hello-world", "production"), ("hello-world-canary", "staging"),
                      ("other", "production")):  # fmt: skip
        await kube.create(
            GIT_REPOSITORIES, git_repository(name, namespace, registry="gar", env=env), namespace
        )
    await kube.create(RECEIVERS, receiver(
        "gar", namespace, type="generic", secretRef={"name": "hook"},
        resourceFilter="req.tag.contains(res.metadata.name)",
        resources=[{"kind": "GitRepository", "name": "*", "matchLabels": {"registry": "gar"},
                    "filter": "res.metadata.labels['env'] == 'production'"}],
    ), namespace)  # fmt: skip
    obj = await ready(kube, RECEIVERS, namespace, "gar")
    url = receiver_url(notifier, obj["status"]["webhookPath"])
    headers = {"Content-Type": "application/json"}

    # Both filters hold only for hello-world: hello-world-canary fails the
    # per-resource filter, `other` the top-level one.
    assert await post(url, {"tag": "gar.example/p/hello-world-canary:1.1"}, headers) == 200
    assert (await requested_at(kube, namespace, "hello-world") or "").endswith("Z")
    assert await requested_at(kube, namespace, "hello-world-canary") is None
    assert await requested_at(kube, namespace, "other") is None

    # A body the filter cannot read (no `tag`) is an error, and nothing more is annotated.
    first = await requested_at(kube, namespace, "hello-world")
    assert await post(url, {"digest": "sha256:00"}, headers) == 500
    assert await post(url, b"not json", headers) == 500
    assert await requested_at(kube, namespace, "hello-world") == first
    assert await requested_at(kube, namespace, "other") is None


async def test_an_invalid_filter_stalls_the_receiver_naming_the_field(
    kube: ResourceClient, namespace: str, notifier: Manager
) -> None:
    await kube.create(SECRETS, secret("hook", namespace, token="t"), namespace)
    await kube.create(RECEIVERS, receiver(
        "bad", namespace, type="generic", secretRef={"name": "hook"},
        resources=[{"kind": "GitRepository", "name": "app", "filter": "res.metadata.name =="}],
    ), namespace)  # fmt: skip
    obj = await ready(kube, RECEIVERS, namespace, "bad", "False")
    assert condition(obj)["reason"] == "InvalidCELExpression"
    assert condition(obj)["message"].startswith("spec.resources[0].filter: invalid CEL expression")
    assert condition(obj, "Stalled")["status"] == "True"

    # `claims` exists only for generic-oidc Receivers.
    await kube.create(RECEIVERS, receiver(
        "claims", namespace, type="generic", secretRef={"name": "hook"},
        resourceFilter="claims.sub == 'x'", resources=[{"kind": "GitRepository", "name": "app"}],
    ), namespace)  # fmt: skip
    obj = await ready(kube, RECEIVERS, namespace, "claims", "False")
    assert "spec.resourceFilter" in condition(obj)["message"]
    assert "undeclared reference to 'claims'" in condition(obj)["message"]


async def test_a_generic_oidc_receiver_takes_verified_tokens_that_pass_its_checks(
    kube: ResourceClient, namespace: str, notifier: Manager
) -> None:
    ci = DexUser("ci@example.com", secrets.token_urlsafe(12), ("deployers",))
    intruder = DexUser("eve@example.com", secrets.token_urlsafe(12), ("visitors",))
    dex = Dex([ci, intruder], [])
    await asyncio.to_thread(dex.start)
    try:
        for name in ("app", "other"):
            await kube.create(GIT_REPOSITORIES, git_repository(name, namespace), namespace)
        await kube.create(RECEIVERS, receiver(
            "ci", namespace, type="generic-oidc",
            oidcProviders=[{
                "issuerURL": dex.issuer, "audience": dex.client_id,
                "variables": [{"name": "deployer", "expression": "'deployers' in claims.groups"}],
                "validations": [{"expression": "vars.deployer", "message": "not a deployer"},
                                {"expression": "claims.email_verified", "message": "unverified"}],
            }],
            resources=[{"kind": "GitRepository", "name": "app"},
                       {"kind": "GitRepository", "name": "other",
                        "filter": "claims.email == 'someone@example.com'"}],
        ), namespace)  # fmt: skip
        obj = await ready(kube, RECEIVERS, namespace, "ci")
        # No Secret: the path derives from the name and namespace alone, as in Flux.
        path = "/hook/" + hashlib.sha256(f"ci{namespace}".encode()).hexdigest()
        assert obj["status"]["webhookPath"] == path
        url = receiver_url(notifier, path)

        good = await asyncio.to_thread(dex.id_token, ci)
        bad = await asyncio.to_thread(dex.id_token, intruder)
        # Refused, nothing annotated: no token, a token failing a validation, a forged
        # signature, a token from an issuer the Receiver does not name.
        assert await post(url, {}) == 400
        assert await post(url, {}, {"Authorization": f"Bearer {bad}"}) == 400
        head, body, signature = good.split(".")
        forged = f"{head}.{body}.{signature[::-1]}"
        assert await post(url, {}, {"Authorization": f"Bearer {forged}"}) == 400
        stranger = jwt.encode({"iss": "https://issuer.invalid", "aud": dex.client_id,
                               "exp": 4102444800}, "k" * 32, algorithm="HS256")  # fmt: skip
        assert await post(url, {}, {"Authorization": f"Bearer {stranger}"}) == 400
        assert await requested_at(kube, namespace, "app") is None

        # The CI user's token passes; `other` is left alone by its filter on the claims.
        assert await post(url, {}, {"Authorization": f"Bearer {good}"}) == 200
        assert (await requested_at(kube, namespace, "app") or "").endswith("Z")
        assert await requested_at(kube, namespace, "other") is None

        # Without `audience` the token must be for `notification-controller`: Dex's is not.
        await kube.patch(RECEIVERS, "ci", {"spec": {"oidcProviders": [{
            "issuerURL": dex.issuer,
            "validations": [{"expression": "true", "message": "-"}]}]}}, namespace)  # fmt: skip
        await ready(kube, RECEIVERS, namespace, "ci")
        first = await requested_at(kube, namespace, "app")
        assert await post(url, {}, {"Authorization": f"Bearer {good}"}) == 400
        assert await requested_at(kube, namespace, "app") == first
    finally:
        await asyncio.to_thread(dex.stop)


async def test_a_commit_status_expression_that_does_not_compile_stalls_the_provider(
    kube: ResourceClient, namespace: str, notifier: Manager
) -> None:
    await kube.create(SECRETS, secret("gh", namespace, token="ghp"), namespace)
    await kube.create(PROVIDERS, provider(
        "status", namespace, type="github", address="https://github.com/o/r",
        secretRef={"name": "gh"}, commitStatusExpr="event.involvedObject.kind +",
    ), namespace)  # fmt: skip
    obj = await ready(kube, PROVIDERS, namespace, "status", "False")
    assert condition(obj)["reason"] == "InvalidCELExpression"
    assert condition(obj)["message"].startswith("spec.commitStatusExpr: invalid CEL expression")
    assert condition(obj, "Stalled")["status"] == "True"
    await kube.patch(PROVIDERS, "status", {"spec": {
        "commitStatusExpr": "event.involvedObject.kind + '/' + provider.metadata.name"}},
        namespace)  # fmt: skip
    await ready(kube, PROVIDERS, namespace, "status")
