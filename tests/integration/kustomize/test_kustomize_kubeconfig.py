"""A tenant's kubeconfig Secret is data: no program runs, no file is read, TLS is verified.

Each hostile kubeconfig stalls its Kustomization with a message naming the field;
the program it names never ran (no marker file) and the server it names was never
called. The operator's opt-in flags make exec and unverified TLS work again.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.client import make_client
from eddy_runtime.kubeconfig import KubeconfigPolicy
from eddy_runtime.resources import SECRETS, ResourceClient
from eddy_testenv.controlplane import ControlPlane
from eddy_testenv.kubeconfigs import (
    CONTROLLER_TOKEN,
    RecordingHTTPS,
    admin_credential,
    exec_plugin,
    hostile_kubeconfigs,
    kubeconfig,
    secret_of,
)
from eddy_testenv.observe import condition, events_for
from eddy_testenv.process import find_binary
from kustomize_controller.reconcile import Settings

from .conftest import StartController
from .support import (
    CONFIG_MAPS,
    KUSTOMIZATIONS,
    Sources,
    config_map,
    create_kustomization,
    eventually,
    ready,
)

pytestmark = pytest.mark.integration


async def stalled(kube: ResourceClient, namespace: str, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(KUSTOMIZATIONS, name, namespace)
        return obj if condition(obj, "Stalled").get("status") == "True" else None

    return await eventually(probe)


async def on_remote(remote: ControlPlane, name: str) -> dict[str, Any] | None:
    api = await make_client(str(remote.kubeconfig))
    try:
        return await ResourceClient(api).get_or_none(CONFIG_MAPS, name, "default")
    finally:
        await api.close()


async def test_hostile_kubeconfigs_are_refused_before_anything_runs(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    remote_control_plane: ControlPlane, recording_https: RecordingHTTPS, tmp_path: Path,
) -> None:  # fmt: skip
    token_file = tmp_path / "token"
    token_file.write_text(CONTROLLER_TOKEN)
    marker = tmp_path / "exec-ran"
    hostile = hostile_kubeconfigs(recording_https, remote_control_plane, token_file, marker)
    target = f"{namespace}-remote"
    await sources.publish("repo", {"app/cm.yaml": config_map(target, a="b")})
    await start_controller()
    for case in hostile:
        await kube.create(SECRETS, secret_of(case.document, f"kc-{case.name}", namespace))
        await create_kustomization(
            kube, case.name, namespace, path="./app", targetNamespace="default",
            retryInterval="1s", kubeConfig={"secretRef": {"name": f"kc-{case.name}"}},
        )  # fmt: skip

    forbidden = [CONTROLLER_TOKEN, str(token_file), str(remote_control_plane.workdir), "stolen"]
    for case in hostile:
        obj = await stalled(kube, namespace, case.name)
        ready_cond = condition(obj, "Ready")
        assert ready_cond["status"] == "False"
        assert ready_cond["reason"] == "ReconciliationFailed"
        assert f"`{case.field}`" in ready_cond["message"], case.name
        assert f"Secret '{namespace}/kc-{case.name}'" in ready_cond["message"]
        assert not any(text in ready_cond["message"] for text in forbidden)
        assert condition(obj, "Reconciling") == {}

    # Stalled, not retried every second: the first refusal has been in place for the
    # whole time the others took, and its Warning was still recorded exactly once.
    first = hostile[0].name
    warnings = [
        e for e in await events_for(kube, namespace, first)
        if e["type"] == "Warning" and e["reason"] == "ReconciliationFailed"
    ]  # fmt: skip
    assert sum(int(e.get("count") or 1) for e in warnings) == 1
    assert f"`{hostile[0].field}`" in warnings[0]["message"]

    assert not marker.exists()
    assert recording_https.recorded() == []
    assert await on_remote(remote_control_plane, target) is None


async def test_exec_and_unverified_tls_work_when_the_operator_allows_them(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    remote_control_plane: ControlPlane, tmp_path: Path,
) -> None:  # fmt: skip
    remote = remote_control_plane
    marker = tmp_path / "exec-ran"
    pki = remote.workdir / "pki"
    ca = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
    by_exec = kubeconfig(
        {"server": remote.server, "certificate-authority-data": ca},
        {"exec": exec_plugin(marker, admin_credential(remote))},
    )
    unverified = kubeconfig(
        {"server": remote.server, "insecure-skip-tls-verify": True},
        {
            "client-certificate-data": base64.b64encode((pki / "admin.crt").read_bytes()).decode(),
            "client-key-data": base64.b64encode((pki / "admin.key").read_bytes()).decode(),
        },
    )
    await sources.publish(
        "repo",
        {"exec/cm.yaml": config_map(f"{namespace}-exec", a="b"),
         "tls/cm.yaml": config_map(f"{namespace}-tls", a="b")},
    )  # fmt: skip
    await start_controller(settings=Settings(
        kustomize=find_binary("kustomize"), requeue_dependency=1.0,
        kubeconfig=KubeconfigPolicy(allow_exec=True, allow_insecure_tls=True),
    ))  # fmt: skip
    for name, document in (("exec", by_exec), ("tls", unverified)):
        await kube.create(SECRETS, secret_of(document, f"kc-{name}", namespace))
        await create_kustomization(
            kube, name, namespace, path=f"./{name}", targetNamespace="default",
            kubeConfig={"secretRef": {"name": f"kc-{name}"}},
        )  # fmt: skip
    await ready(kube, namespace, "exec")
    await ready(kube, namespace, "tls")
    assert marker.exists()
    assert await on_remote(remote, f"{namespace}-exec") is not None
    assert await on_remote(remote, f"{namespace}-tls") is not None
