"""Bad input never crashes the controller or loses what the last good revision applied.

Each case gives Ready=False with Flux's reason, a message naming the file or object,
a Warning Event and a retry, while the objects of the good revision stay in place.
"""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.observe import condition, events_for

from .conftest import StartController
from .support import (
    CONFIG_MAPS,
    DEPLOYMENTS,
    KUSTOMIZATIONS,
    Sources,
    config_map,
    create_kustomization,
    deployment,
    eventually,
    ready,
)

pytestmark = pytest.mark.integration

GOOD = {
    "app/deploy.yaml": deployment("web", replicas=1),
    "app/cm.yaml": config_map("settings", mode="good"),
}
GOOD_KUSTOMIZATION = "resources:\n  - deploy.yaml\n  - cm.yaml\n"

BAD_SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: bad-port
spec:
  ports:
    - port: 70000
"""
UNKNOWN_KIND = """apiVersion: nowhere.eddy.dev/v1
kind: Unicorn
metadata:
  name: sparkle
"""

# (name, files replacing GOOD, spec changes, reason, text the message must contain)
CASES: list[tuple[str, dict[str, str], dict[str, Any], str, str]] = [
    ("invalid yaml", {"app/broken.yaml": "kind: [unclosed\n"}, {}, "BuildFailed",
     "app/broken.yaml"),
    ("broken kustomization", {"app/kustomization.yaml": "resources:\n  - missing.yaml\n"}, {},
     "BuildFailed", "missing.yaml"),
    ("kustomization not yaml", {"app/kustomization.yaml": "resources: [\n"}, {}, "BuildFailed",
     "app/kustomization.yaml"),
    ("remote base", {"app/kustomization.yaml": GOOD_KUSTOMIZATION +
                     "  - https://github.com/example/repo//base?ref=main\n"}, {},
     "BuildFailed", "remote resource"),
    ("base outside", {"app/kustomization.yaml": GOOD_KUSTOMIZATION + "  - ../../../../etc\n"}, {},
     "BuildFailed", "outside the source artifact"),
    ("missing path", {}, {"path": "./nowhere"}, "BuildFailed", "./nowhere"),
    ("path outside", {}, {"path": "../../"}, "BuildFailed", "outside the source artifact"),
    ("unknown kind", {"app/unicorn.yaml": UNKNOWN_KIND}, {}, "ReconciliationFailed",
     "Unicorn/{ns}/sparkle"),
    ("rejected object", {"app/svc.yaml": BAD_SERVICE}, {}, "ReconciliationFailed",
     "Service/{ns}/bad-port"),
    ("immutable change", {"app/deploy.yaml": deployment("web", replicas=1).replace(
        "app: web", "app: changed")}, {}, "ReconciliationFailed", "Deployment/{ns}/web"),
    # Last: dropping postBuild for the next case would make this revision valid.
    ("missing variable", {"app/cm.yaml": config_map("settings", mode="${missing_var}")},
     {"postBuild": {"substitute": {"other": "x"}}}, "BuildFailed", "missing_var"),
]  # fmt: skip


async def test_bad_revisions_fail_visibly_and_keep_the_good_one(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    good = await sources.publish("repo", GOOD)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", retryInterval="1s")
    obj = await ready(kube, namespace, "app", good)
    good_inventory = obj["status"]["inventory"]
    base_spec = obj["spec"]

    for name, files, spec, reason, text in CASES:
        expected = text.format(ns=namespace)
        # The spec first: the new revision must never meet the previous case's spec.
        patch = {"spec": {"postBuild": None, "path": "./app", **spec}}
        await kube.patch(KUSTOMIZATIONS, "app", patch, namespace)
        revision = await sources.publish("repo", {**GOOD, **files})

        async def failed(revision: str = revision, reason: str = reason) -> dict | None:
            obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
            cond = condition(obj, "Ready")
            status = obj.get("status") or {}
            if status.get("lastAttemptedRevision") != revision or cond.get("reason") != reason:
                return None
            current = status.get("observedGeneration") == obj["metadata"]["generation"]
            return obj if current else None

        try:
            obj = await eventually(failed, timeout=30)
        except AssertionError:
            current = await kube.get(KUSTOMIZATIONS, "app", namespace)
            raise AssertionError(f"{name}: {current.get('status')}") from None
        message = condition(obj, "Ready")["message"]
        assert condition(obj, "Ready")["status"] == "False", name
        assert expected in message, f"{name}: {message}"
        assert "/tmp" not in message, f"{name}: {message}"
        assert obj["status"]["lastAppliedRevision"] == good, name
        assert obj["status"]["inventory"] == good_inventory, name
        assert condition(obj, "Reconciling")["reason"] == "ProgressingWithRetry", name

        # The Event is written after the status: wait for it rather than read once.
        async def warned(reason: str = reason, expected: str = expected) -> bool:
            events = await events_for(kube, namespace, "app", "Kustomization")
            return any(
                e["type"] == "Warning" and e["reason"] == reason and expected in e["message"]
                for e in events
            )

        try:
            await eventually(warned, timeout=15)
        except AssertionError:
            raise AssertionError(f"{name}: no Warning Event {reason}") from None
        # Nothing of the good revision was lost or pruned.
        assert (await kube.get(CONFIG_MAPS, "settings", namespace))["data"] == {"mode": "good"}
        deploy = await kube.get(DEPLOYMENTS, "web", namespace)
        assert deploy["spec"]["selector"]["matchLabels"] == {"app": "web"}, name

    # Back to good: Ready again.
    await kube.patch(KUSTOMIZATIONS, "app", {"spec": {**base_spec, "postBuild": None}}, namespace)
    fixed_files = {**GOOD, "app/cm.yaml": config_map("settings", mode="ok")}
    fixed = await sources.publish("repo", fixed_files)
    await ready(kube, namespace, "app", fixed)


async def test_force_recreates_on_immutable_change(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish("repo", GOOD)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", force=True)
    await ready(kube, namespace, "app")
    before = await kube.get(DEPLOYMENTS, "web", namespace)
    changed = deployment("web", replicas=1).replace("app: web", "app: changed")
    revision = await sources.publish("repo", {**GOOD, "app/deploy.yaml": changed})
    await ready(kube, namespace, "app", revision)
    after = await kube.get(DEPLOYMENTS, "web", namespace)
    assert after["spec"]["selector"]["matchLabels"] == {"app": "changed"}
    assert after["metadata"]["uid"] != before["metadata"]["uid"]


async def test_retries_until_the_problem_is_fixed_elsewhere(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    files = {"app/cm.yaml": config_map("settings", mode="${mode}")}
    await sources.publish("repo", files)
    await start_controller()
    await create_kustomization(
        kube, "app", namespace, path="./app", retryInterval="1s",
        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]},
    )  # fmt: skip

    async def failing() -> bool:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        return "vars" in condition(obj, "Ready").get("message", "")

    await eventually(failing)
    variables = {"metadata": {"name": "vars", "namespace": namespace}, "data": {"mode": "enabled"}}
    await kube.create(CONFIG_MAPS, variables)
    await ready(kube, namespace, "app")
    assert (await kube.get(CONFIG_MAPS, "settings", namespace))["data"] == {"mode": "enabled"}


async def test_fields_not_yet_honoured_are_refused_by_name(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    good = await sources.publish("repo", GOOD)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app")
    good_inventory = (await ready(kube, namespace, "app", good))["status"]["inventory"]

    unsupported = {
        "decryption": {"provider": "sops", "serviceAccountName": "kms"},
        "kubeConfig": {"configMapRef": {"name": "workload-identity"}},
    }
    await kube.patch(KUSTOMIZATIONS, "app", {"spec": unsupported}, namespace)

    async def refused() -> dict | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        status = obj.get("status") or {}
        if status.get("observedGeneration") != obj["metadata"]["generation"]:
            return None
        return obj if condition(obj, "Ready").get("reason") == "UnsupportedField" else None

    obj = await eventually(refused, timeout=15)
    message = condition(obj, "Ready")["message"]
    assert condition(obj, "Ready")["status"] == "False"
    assert "spec.decryption.serviceAccountName" in message, message
    assert "spec.kubeConfig.configMapRef" in message, message
    assert condition(obj, "Stalled")["status"] == "True"
    assert obj["status"]["inventory"] == good_inventory
    assert (await kube.get(CONFIG_MAPS, "settings", namespace))["data"] == {"mode": "good"}
    events = await events_for(kube, namespace, "app", "Kustomization")
    assert any(e["type"] == "Warning" and "spec.decryption" in e["message"] for e in events)

    # Taking them out makes it Ready again.
    await kube.patch(
        KUSTOMIZATIONS, "app", {"spec": {"decryption": None, "kubeConfig": None}}, namespace
    )
    await eventually(
        lambda: _ready_at_generation(kube, namespace, "app"),
        timeout=15,
    )


async def _ready_at_generation(kube: ResourceClient, namespace: str, name: str) -> dict | None:
    obj = await kube.get(KUSTOMIZATIONS, name, namespace)
    status = obj.get("status") or {}
    current = status.get("observedGeneration") == obj["metadata"]["generation"]
    return obj if current and condition(obj, "Ready").get("status") == "True" else None
