"""Where Helm keeps a release's records, and moving them when spec.storageNamespace changes.

The records (Secrets `sh.helm.release.v1.<name>.v<version>`) are the release for
`helm list` and `helm history`; the objects they describe stay where they are. Flux
uninstalls and installs again when the storage namespace changes; eddy moves the
records instead, so nothing running is deleted and the history is kept. Records an
earlier eddy kept beside the objects (its default before it took Flux's, the
HelmRelease's namespace) are moved to the default the same way, once.
"""

from __future__ import annotations

from typing import Any

from eddy_runtime import StepError
from eddy_runtime.resources import SECRETS, ApiError, ResourceClient

RECORD_TYPE = "helm.sh/release.v1"


async def _records(client: ResourceClient, namespace: str, name: str) -> list[dict[str, Any]]:
    items, _ = await client.list_all(SECRETS, namespace, f"owner=helm,name={name}")
    return [s for s in items if s.get("type") == RECORD_TYPE]


async def move_records(client: ResourceClient, name: str, source: str, dest: str) -> int:
    """Move the records of release `name` from `source` to `dest`; how many moved.

    Each is copied before any is deleted, so an interrupted move is finished by the
    next pass. Records of the same release already in `dest` stop the move: which
    history is the release's is for a person to say.
    """
    found = await _records(client, source, name)
    if not found:
        return 0
    present = {s["metadata"]["name"]: s for s in await _records(client, dest, name)}
    for secret in found:
        meta = secret["metadata"]
        there = present.get(meta["name"])
        if there is not None:
            if there.get("data") == secret.get("data"):
                continue  # copied by an earlier, interrupted pass
            raise StepError(
                f"Helm release '{name}' has records in both '{source}' and '{dest}' "
                f"(spec.storageNamespace changed); delete the release's Secrets from the one "
                "that is not the release's history",
                stalled=True,
            )
        copy = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": RECORD_TYPE,
            "metadata": {"name": meta["name"], "labels": meta.get("labels") or {}},
            "data": secret.get("data") or {},
        }
        try:
            await client.create(SECRETS, copy, dest)
        except ApiError as err:
            raise StepError(
                f"Helm release '{name}' cannot be moved from '{source}' to '{dest}' "
                f"(spec.storageNamespace changed): {err}"
            ) from err
    for secret in found:
        try:
            await client.delete(SECRETS, secret["metadata"]["name"], source)
        except ApiError as err:
            raise StepError(
                f"Helm release '{name}' was copied to '{dest}' but its records in '{source}' "
                f"could not be deleted: {err}"
            ) from err
    return len(found)


async def adopt_records(client: ResourceClient, name: str, source: str, dest: str) -> int:
    """Move the records of release `name` that an earlier default left in `source` to
    `dest`, unless `dest` holds the release already (as Flux leaves it); how many moved.
    """
    try:
        if await _records(client, dest, name):
            return 0
        if not await _records(client, source, name):
            return 0
    except ApiError as err:
        if err.status == 403:
            return 0  # records this account cannot read, it did not write either
        raise StepError(f"cannot read the records of Helm release '{name}': {err}") from err
    return await move_records(client, name, source, dest)
