"""Install CustomResourceDefinitions from a folder and wait until they serve.

A CRD is usable only once the API server reports it Established; tests that
create objects straight after installing would otherwise race it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException


def load_crds(directory: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition document in the folder's YAML files."""
    found: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                found.append(doc)
    return found


async def install_crds(kubeconfig: Path, directory: Path, timeout: float = 30.0) -> list[str]:
    """Create or replace the folder's CRDs; return their names once Established."""
    crds = load_crds(directory)
    api_client = await config.new_client_from_config(config_file=str(kubeconfig))
    try:
        api = client.ApiextensionsV1Api(api_client)
        for crd in crds:
            await _create_or_replace(api, crd)
        names = [crd["metadata"]["name"] for crd in crds]
        await _wait_established(api, names, timeout)
        return names
    finally:
        await api_client.close()


async def _create_or_replace(api: client.ApiextensionsV1Api, crd: dict[str, Any]) -> None:
    name = crd["metadata"]["name"]
    try:
        await api.create_custom_resource_definition(body=crd)
        return
    except ApiException as err:
        if err.status != 409:
            raise
    for _ in range(5):
        current = await api.read_custom_resource_definition(name)
        body = dict(crd)
        body["metadata"] = {**crd["metadata"], "resourceVersion": current.metadata.resource_version}
        try:
            await api.replace_custom_resource_definition(name, body=body)
            return
        except ApiException as err:
            if err.status != 409:
                raise


async def _wait_established(
    api: client.ApiextensionsV1Api, names: list[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for name in sorted(pending):
            crd = await api.read_custom_resource_definition(name)
            conditions = (crd.status.conditions if crd.status else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.discard(name)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"CRDs not Established after {timeout:.0f}s: {', '.join(sorted(pending))}"
            )
        await asyncio.sleep(0.1)
