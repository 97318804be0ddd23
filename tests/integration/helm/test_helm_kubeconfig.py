"""A tenant's kubeconfig Secret is data for helm too: checked before helm or a client
sees it, and only the checked, inline-only document is written for helm.

Each hostile kubeconfig stalls its HelmRelease with a message naming the field; the
program it names never ran, the server it names was never called, and the other
cluster holds no release.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eddy_runtime.client import make_client
from eddy_runtime.manager import Manager
from eddy_runtime.resources import EVENTS, SECRETS, ResourceClient
from eddy_testenv.controlplane import ControlPlane
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.kubeconfigs import (
    CONTROLLER_TOKEN,
    RecordingHTTPS,
    hostile_kubeconfigs,
    secret_of,
)
from eddy_testenv.observe import condition
from helm_controller.objects import HELM_RELEASES

from .support import release, repository, wait_condition

pytestmark = pytest.mark.integration


async def test_hostile_kubeconfigs_are_refused_before_helm_runs(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    remote_control_plane: ControlPlane, recording_https: RecordingHTTPS, tmp_path: Path,
) -> None:  # fmt: skip
    token_file = tmp_path / "token"
    token_file.write_text(CONTROLLER_TOKEN)
    marker = tmp_path / "exec-ran"
    hostile = hostile_kubeconfigs(recording_https, remote_control_plane, token_file, marker)
    helm_repo.package("app", "1.0.0", values={"greeting": "hello"})
    await repository(kube, namespace, helm_repo)
    for case in hostile:
        await kube.create(SECRETS, secret_of(case.document, f"kc-{case.name}", namespace))
        body = release(case.name, namespace, targetNamespace="default",
                       kubeConfig={"secretRef": {"name": f"kc-{case.name}"}})  # fmt: skip
        await kube.create(HELM_RELEASES, body, namespace)

    forbidden = [CONTROLLER_TOKEN, str(token_file), str(remote_control_plane.workdir), "stolen"]
    for case in hostile:
        obj = await wait_condition(kube, namespace, case.name, "Stalled", "True", "InitFailed")
        ready = condition(obj, "Ready")
        assert ready["status"] == "False"
        assert ready["reason"] == "InitFailed"
        assert f"`{case.field}`" in ready["message"], case.name
        assert f"Secret '{namespace}/kc-{case.name}'" in ready["message"]
        assert not any(text in ready["message"] for text in forbidden)

    # Stalled, not retried with backoff: the first refusal's Warning, recorded once.
    first = hostile[0].name
    listed = await kube.list(EVENTS, namespace, field_selector=f"involvedObject.name={first}")
    warnings = [e for e in listed.get("items") or [] if e["reason"] == "InitFailed"]
    assert sum(int(e.get("count") or 1) for e in warnings) == 1
    assert f"`{hostile[0].field}`" in warnings[0]["message"]

    assert not marker.exists()
    assert recording_https.recorded() == []
    api = await make_client(str(remote_control_plane.kubeconfig))
    try:
        releases = await ResourceClient(api).list(SECRETS, "default", label_selector="owner=helm")
        assert releases.get("items") == []
    finally:
        await api.close()
