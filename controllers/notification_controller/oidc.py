"""Verifying an OIDC ID token for a generic-oidc Receiver: signature, issuer, audience, expiry.

The token's issuer picks one of the Receiver's `oidcProviders`; that issuer's discovery
document names its signing keys (JWKS), cached for a few minutes and fetched again when
a token names a key not seen yet. Only after the signature checks is a claim trusted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt

DEFAULT_AUDIENCE = "notification-controller"
# Asymmetric algorithms only: a shared-secret (HS*) token proves nothing about its issuer.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA"]  # fmt: skip
MAX_DOCUMENT_BYTES = 1024 * 1024
KEYS_TTL = 300.0
# A token naming an unknown key fetches the keys again at most this often per issuer.
REFETCH_AFTER = 10.0


class TokenRefused(Exception):
    """The bearer token is missing, malformed, unsigned by its issuer, expired or not for us."""


@dataclass
class _Keys:
    jwks: jwt.PyJWKSet
    fetched: float
    kids: set[str] = field(default_factory=set)


class IssuerKeys:
    """Signing keys of OIDC issuers, by issuer URL, fetched through discovery."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._cache: dict[str, _Keys] = {}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _get_json(self, url: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.get(url, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise TokenRefused(f"{url} answered {resp.status}")
                body = await resp.content.read(MAX_DOCUMENT_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TokenRefused(f"{url} could not be read ({type(err).__name__})") from err
        if len(body) > MAX_DOCUMENT_BYTES:
            raise TokenRefused(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        try:
            return json.loads(body)
        except ValueError as err:
            raise TokenRefused(f"{url} did not answer JSON") from err

    async def _fetch(self, issuer: str) -> _Keys:
        discovery = await self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if not isinstance(discovery, dict) or discovery.get("issuer") != issuer:
            raise TokenRefused(f"the discovery document of {issuer} names another issuer")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise TokenRefused(f"the discovery document of {issuer} has no jwks_uri")
        document = await self._get_json(jwks_uri)
        try:
            jwks = jwt.PyJWKSet.from_dict(document)
        except (jwt.PyJWKSetError, jwt.InvalidKeyError, TypeError, ValueError) as err:
            raise TokenRefused(f"the keys of {issuer} could not be read") from err
        keys = _Keys(jwks, time.monotonic())
        keys.kids = {str(k.key_id) for k in jwks.keys if k.key_id}
        self._cache[issuer] = keys
        return keys

    async def key_for(self, issuer: str, kid: str | None) -> jwt.PyJWK:
        now = time.monotonic()
        keys = self._cache.get(issuer)
        if (
            keys is None
            or now - keys.fetched > KEYS_TTL
            or (kid and kid not in keys.kids and now - keys.fetched > REFETCH_AFTER)
        ):
            keys = await self._fetch(issuer)
        candidates = [k for k in keys.jwks.keys if kid is None or k.key_id == kid]
        if not candidates:
            raise TokenRefused(f"the token is signed with a key {issuer} does not publish")
        return candidates[0]


def unverified_issuer(token: str) -> str:
    """The `iss` claim, read only to choose the provider that then verifies the token."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as err:
        raise TokenRefused("the bearer token is not a JWT") from err
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise TokenRefused("the bearer token has no 'iss' claim")
    return issuer


async def verify(keys: IssuerKeys, token: str, issuer: str, audience: str) -> dict[str, Any]:
    """The token's claims once its signature, issuer, audience and expiry check."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as err:
        raise TokenRefused("the bearer token is not a JWT") from err
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise TokenRefused(f"the token's algorithm {algorithm!r} is not accepted")
    key = await keys.key_for(issuer, header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iss", "aud"]},
            leeway=30,
        )
    except jwt.ExpiredSignatureError as err:
        raise TokenRefused("the token has expired") from err
    except jwt.InvalidAudienceError as err:
        raise TokenRefused(f"the token is not for audience {audience!r}") from err
    except jwt.PyJWTError as err:
        raise TokenRefused(f"the token does not verify ({type(err).__name__})") from err
    return claims
