"""Read a Secret's values as bytes: one decoder for every controller.

The API server returns `data` base64-encoded (and folds `stringData` into it on
write); a Secret built by hand may still carry `stringData`, which wins, as it does
on write. Which keys a controller needs is checked where they are read.
"""

from __future__ import annotations

import base64

from .resources import SECRETS, Obj, ResourceClient


def secret_data(secret: Obj) -> dict[str, bytes]:
    """Every key of the Secret, decoded."""
    data = {k: base64.b64decode(v or "") for k, v in (secret.get("data") or {}).items()}
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = str(value).encode()
    return data


async def read_secret(client: ResourceClient, namespace: str, name: str) -> dict[str, bytes] | None:
    """The Secret's decoded data, or None when it does not exist."""
    secret = await client.get_or_none(SECRETS, name, namespace)
    return None if secret is None else secret_data(secret)
