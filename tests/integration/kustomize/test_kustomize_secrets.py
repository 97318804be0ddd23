"""Values substituted from Secrets never reach status, Events or logs, even when the
API server echoes them back in an error."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from eddy_runtime.resources import SECRETS, ResourceClient
from eddy_testenv.observe import condition, events_for

from .conftest import StartController
from .support import KUSTOMIZATIONS, Sources, create_kustomization, eventually

pytestmark = pytest.mark.integration

SECRET = "s3cr3t team!"  # not a valid label value: the API server quotes it back
LABELLED = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
    team: ${team}
data:
  mode: git
"""


async def test_secret_values_are_redacted_from_messages(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    await kube.create(SECRETS, {
        "metadata": {"name": "vars", "namespace": namespace}, "stringData": {"team": SECRET},
    })  # fmt: skip
    await sources.publish("repo", {"app/cm.yaml": LABELLED})
    await start_controller()
    await create_kustomization(
        kube, "app", namespace, path="./app",
        postBuild={"substituteFrom": [{"kind": "Secret", "name": "vars"}]},
    )  # fmt: skip

    async def failed() -> dict[str, Any] | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        return obj if condition(obj, "Ready").get("reason") == "ReconciliationFailed" else None

    obj = await eventually(failed, timeout=15)
    message = condition(obj, "Ready")["message"]
    assert f"ConfigMap/{namespace}/settings" in message, message
    assert "<redacted>" in message, message
    written = [c.get("message", "") for c in obj["status"]["conditions"]]
    events = await events_for(kube, namespace, "app", "Kustomization")
    written += [e["message"] for e in events]
    assert any(e["type"] == "Warning" for e in events)
    written += [r.getMessage() for r in caplog.records]
    assert not [w for w in written if "s3cr3t" in w]
