"""Read the Secrets that specs refer to, as decoded bytes, with actionable errors.

A missing Secret is the most common mistake with sources; the message names it
and never any secret value. Which keys a source needs is checked where they are read.
"""

from __future__ import annotations

import base64

from eddy_api.common import Reason
from eddy_runtime.resources import SECRETS, ResourceClient

from .failures import SourceError


async def read_secret(client: ResourceClient, namespace: str, name: str) -> dict[str, bytes]:
    """The Secret's data, decoded; AuthenticationFailed when it does not exist."""
    secret = await client.get_or_none(SECRETS, name, namespace)
    if secret is None:
        raise SourceError(
            Reason.AUTHENTICATION_FAILED,
            f"secret '{namespace}/{name}' not found; create it or fix spec.secretRef",
            condition="FetchFailed",
        )
    data: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        data[key] = base64.b64decode(value or "")
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = str(value).encode()
    return data
