"""The reconcile loop against a real API server: triggers, requeue, backoff, serial keys."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml
from runtime_support import eventually, ready_widget
from widget_controller import WIDGETS

from conftest import StartManager, widget
from eddy_runtime import conditions
from eddy_runtime.annotations import RECONCILE_REQUESTED_AT
from eddy_runtime.client import KubeconfigError, make_client, service_account_user
from eddy_runtime.resources import CONFIG_MAPS, ApiError, Obj, Resource, ResourceClient
from eddy_testenv.managers import settled

ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")

pytestmark = pytest.mark.integration


async def test_reconciles_on_create_and_spec_change_not_on_status_change(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    running = await start_manager()
    calls = running.tracker.calls
    key = f"{namespace}/w"
    await kube.create(WIDGETS, widget("w", namespace, size=1))
    obj = await eventually(lambda: ready_widget(kube, namespace, "w"))
    assert obj["status"]["observedGeneration"] == 1
    assert len(calls[key]) == 1

    await kube.patch(WIDGETS, "w", {"spec": {"size": 2}}, namespace)
    obj = await eventually(
        lambda: ready_widget(kube, namespace, "w")
    )  # is_ready checks observedGeneration == generation
    assert obj["status"]["observedGeneration"] == 2
    assert len(calls[key]) == 2

    await kube.patch_status(WIDGETS, "w", {"status": {"note": "set by someone"}}, namespace)
    labelled = await kube.patch(WIDGETS, "w", {"metadata": {"labels": {"x": "y"}}}, namespace)
    await settled(running.manager, "widget", labelled)
    assert len(calls[key]) == 2


async def test_requested_at_triggers_and_is_recorded(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    running = await start_manager()
    await kube.create(WIDGETS, widget("w", namespace))
    await eventually(lambda: ready_widget(kube, namespace, "w"))
    stamp = "2024-05-01T10:00:00.000000Z"
    patch = {"metadata": {"annotations": {RECONCILE_REQUESTED_AT: stamp}}}
    await kube.patch(WIDGETS, "w", patch, namespace)

    async def handled() -> Obj | None:
        obj = await kube.get(WIDGETS, "w", namespace)
        return obj if obj.get("status", {}).get("lastHandledReconcileAt") == stamp else None

    await eventually(handled)
    assert len(running.tracker.calls[f"{namespace}/w"]) == 2


async def test_periodic_requeue_after_interval(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    running = await start_manager()
    await kube.create(WIDGETS, widget("w", namespace, interval="500ms"))
    calls = running.tracker.calls[f"{namespace}/w"]
    await eventually(lambda: asyncio.sleep(0, len(calls) >= 4), timeout=5)
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    # 500ms with 5% jitter, plus the reconcile itself.
    assert all(0.45 <= g < 1.0 for g in gaps[:3]), gaps


async def test_backoff_grows_to_cap_and_resets_after_success(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    running = await start_manager(min_retry_delay=0.1, max_retry_delay=0.8)
    calls = running.tracker.calls[f"{namespace}/w"]
    await kube.create(WIDGETS, widget("w", namespace, fail=True))
    await eventually(lambda: asyncio.sleep(0, len(calls) >= 7), timeout=10)
    gaps = [b - a for a, b in itertools.pairwise(calls)][:6]
    expected = [0.1, 0.2, 0.4, 0.8, 0.8, 0.8]
    for gap, want in zip(gaps, expected, strict=True):
        assert want * 0.9 <= gap <= want + 0.3, (gaps, expected)
    obj = await kube.get(WIDGETS, "w", namespace)
    ready = conditions.get(obj["status"], conditions.READY)
    assert ready is not None and ready["status"] == "False"
    assert conditions.is_true(obj["status"], conditions.RECONCILING)

    await kube.patch(WIDGETS, "w", {"spec": {"fail": False}}, namespace)
    await eventually(lambda: ready_widget(kube, namespace, "w"))
    queue = running.manager._running["widget"].queue
    # Ready is visible as soon as the status patch lands, a moment before the
    # worker that wrote it records the success.
    await eventually(
        lambda: asyncio.sleep(0, queue.backoff.failures(f"{namespace}/w") == 0), timeout=5
    )

    # After the success the next failure starts again from the minimum delay.
    await kube.patch(WIDGETS, "w", {"spec": {"fail": True}}, namespace)
    start = len(calls)
    await eventually(lambda: asyncio.sleep(0, len(calls) >= start + 2), timeout=5)
    assert calls[start + 1] - calls[start] < 0.4


async def test_one_key_never_reconciled_concurrently(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    running = await start_manager(concurrent=8)
    names = [f"w{i}" for i in range(4)]
    for name in names:
        await kube.create(WIDGETS, widget(name, namespace, sleep=0.2))
    for round_ in range(6):
        for name in names:
            stamp = f"round-{round_}"
            patch = {"metadata": {"annotations": {RECONCILE_REQUESTED_AT: stamp}}}
            await kube.patch(WIDGETS, name, patch, namespace)
        await asyncio.sleep(0.08)

    async def all_handled() -> bool:
        for name in names:
            obj = await kube.get(WIDGETS, name, namespace)
            if obj.get("status", {}).get("lastHandledReconcileAt") != "round-5":
                return False
        return True

    await eventually(all_handled, timeout=15)
    assert running.tracker.max_per_key == 1
    assert running.tracker.max_total > 1


async def test_a_watched_object_maps_to_the_objects_that_use_it(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    running = await start_manager()
    config = {"metadata": {"name": "settings", "namespace": namespace}, "data": {"a": "1"}}
    await kube.create(CONFIG_MAPS, config)
    await kube.create(WIDGETS, widget("user", namespace, configMapRef="settings"))
    await kube.create(WIDGETS, widget("bystander", namespace))
    await eventually(lambda: ready_widget(kube, namespace, "user"))
    await eventually(lambda: ready_widget(kube, namespace, "bystander"))
    calls = running.tracker.calls
    before = len(calls[f"{namespace}/user"])
    changed = await kube.patch(CONFIG_MAPS, "settings", {"data": {"a": "2"}}, namespace)
    await eventually(lambda: asyncio.sleep(0, len(calls[f"{namespace}/user"]) > before))
    bystander = await kube.get(WIDGETS, "bystander", namespace)
    await settled(running.manager, "widget", bystander, (CONFIG_MAPS, changed))
    assert len(calls[f"{namespace}/bystander"]) == 1


async def test_impersonated_client_has_only_the_service_accounts_rights(
    kube: ResourceClient, namespace: str, control_plane: Any
) -> None:
    api = await make_client(
        str(control_plane.kubeconfig),
        impersonate=service_account_user(namespace, "nobody"),
    )
    try:
        with pytest.raises(ApiError) as denied:
            await ResourceClient(api).list(WIDGETS, namespace)
        assert denied.value.status == 403
        assert "system:serviceaccount:" + namespace + ":nobody" in denied.value.message
    finally:
        await api.close()


async def test_impersonated_service_account_gets_its_groups_from_the_server(
    kube: ResourceClient, namespace: str, control_plane: Any
) -> None:
    # Only Impersonate-User is sent; a binding to the namespace's service-account
    # group must still apply, because the API server adds a service account's groups.
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "read-widgets", "namespace": namespace},
        "rules": [{"apiGroups": [WIDGETS.group], "resources": [WIDGETS.plural],
                   "verbs": ["list"]}],
    }  # fmt: skip
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "read-widgets", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "read-widgets"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                      "name": f"system:serviceaccounts:{namespace}"}],
    }  # fmt: skip
    await kube.create(ROLES, role)
    await kube.create(ROLE_BINDINGS, binding)
    api = await make_client(
        str(control_plane.kubeconfig), impersonate=service_account_user(namespace, "tenant")
    )
    try:
        await eventually(lambda: _can_list(api, namespace))
    finally:
        await api.close()


async def test_kubeconfig_as_is_honoured(
    kube: ResourceClient, namespace: str, control_plane: Any, tmp_path: Path
) -> None:
    limited = tmp_path / "kubeconfig"
    user = {"as": service_account_user(namespace, "nobody")}
    _write_kubeconfig(Path(control_plane.kubeconfig), limited, user)
    api = await make_client(str(limited))
    try:
        with pytest.raises(ApiError) as denied:
            await ResourceClient(api).list(WIDGETS, namespace)
        assert denied.value.status == 403
    finally:
        await api.close()

    _write_kubeconfig(Path(control_plane.kubeconfig), limited, {**user, "as-groups": ["x"]})
    with pytest.raises(KubeconfigError, match="only `as` is supported"):
        await make_client(str(limited))


def _write_kubeconfig(source: Path, dest: Path, user_fields: dict[str, Any]) -> None:
    config = yaml.safe_load(source.read_text())
    config["users"][0]["user"].update(user_fields)
    dest.write_text(yaml.safe_dump(config))


async def _can_list(api: Any, namespace: str) -> bool:
    try:
        await ResourceClient(api).list(WIDGETS, namespace)
    except ApiError:
        return False
    return True
