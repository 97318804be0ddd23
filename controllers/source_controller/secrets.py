"""Read the Secrets that specs refer to, as decoded bytes, with actionable errors.

A missing Secret is the most common mistake with sources; the message names it
and never any secret value. Which keys a source needs is checked where they are read.
"""

from __future__ import annotations

from dataclasses import dataclass

from eddy_api.common import Reason
from eddy_runtime.resources import ResourceClient
from eddy_runtime.secrets import read_secret as read_secret_data

from .failures import SourceError


async def read_secret(client: ResourceClient, namespace: str, name: str) -> dict[str, bytes]:
    """The Secret's data, decoded; AuthenticationFailed when it does not exist."""
    data = await read_secret_data(client, namespace, name)
    if data is None:
        raise SourceError(
            Reason.AUTHENTICATION_FAILED,
            f"secret '{namespace}/{name}' not found; create it or fix spec.secretRef",
            condition="FetchFailed",
        )
    return data


@dataclass(frozen=True)
class Proxy:
    """The proxy a source reaches its server through (spec.proxySecretRef)."""

    address: str
    username: str | None = None
    password: str | None = None


async def read_proxy(client: ResourceClient, namespace: str, name: str) -> Proxy:
    """`address` (required), `username` and `password` of a proxy Secret, as Flux reads them."""
    data = await read_secret(client, namespace, name)
    address = data.get("address", b"").decode(errors="replace")
    if not address:
        raise SourceError(
            Reason.AUTHENTICATION_FAILED,
            f"secret '{namespace}/{name}' in spec.proxySecretRef has no 'address'",
            condition="FetchFailed",
        )
    user, password = data.get("username"), data.get("password")
    if not user:
        return Proxy(address)
    return Proxy(address, user.decode(errors="replace"), (password or b"").decode(errors="replace"))
