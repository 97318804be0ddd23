"""OIDC login for the in-cluster dashboard: authorization code flow with PKCE.

The identity provider proves who the person is; the dashboard keeps only their
user name and groups in a server-side session and impersonates them, so the
ID token never reaches the page and Kubernetes RBAC decides what they may do.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
from aiohttp import web

from eddy_web.sessions import Identity, safe_target, same_secret

STATE_COOKIE = "eddy_oidc"
STATE_SECONDS = 600


class LoginError(web.HTTPUnauthorized):
    def __init__(self, message: str) -> None:
        super().__init__(text=f"login failed: {message}", content_type="text/plain")


@dataclass(frozen=True)
class OIDCSettings:
    issuer: str
    client_id: str
    client_secret: str
    redirect_url: str
    username_claim: str = "email"
    groups_claim: str = "groups"
    username_prefix: str = ""
    groups_prefix: str = ""
    scopes: tuple[str, ...] = ("openid", "email", "profile", "groups")
    ca_file: str = ""

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--oidc-issuer-url", default="", help="Turns on OIDC login.")
        p.add_argument("--oidc-client-id", default="")
        p.add_argument(
            "--oidc-client-secret-file",
            default="",
            help="File holding the client secret ($EDDY_OIDC_CLIENT_SECRET otherwise).",
        )
        p.add_argument(
            "--oidc-redirect-url",
            default="",
            help="This dashboard's public URL of /auth/callback, as registered "
            "with the identity provider.",
        )
        p.add_argument("--oidc-username-claim", default="email")
        p.add_argument("--oidc-groups-claim", default="groups")
        p.add_argument(
            "--oidc-username-prefix",
            default="",
            help="Prefix for user names, as the API server's --oidc-username-prefix.",
        )
        p.add_argument("--oidc-groups-prefix", default="")
        p.add_argument("--oidc-ca-file", default="", help="CA bundle for the issuer's TLS.")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> OIDCSettings | None:
        if not args.oidc_issuer_url:
            return None
        secret = os.environ.get("EDDY_OIDC_CLIENT_SECRET", "")
        if args.oidc_client_secret_file:
            with open(args.oidc_client_secret_file) as handle:
                secret = handle.read().strip()
        if not args.oidc_client_id or not args.oidc_redirect_url:
            raise SystemExit("--oidc-issuer-url needs --oidc-client-id and --oidc-redirect-url")
        return cls(
            issuer=args.oidc_issuer_url.rstrip("/"),
            client_id=args.oidc_client_id,
            client_secret=secret,
            redirect_url=args.oidc_redirect_url,
            username_claim=args.oidc_username_claim,
            groups_claim=args.oidc_groups_claim,
            username_prefix=args.oidc_username_prefix,
            groups_prefix=args.oidc_groups_prefix,
            ca_file=args.oidc_ca_file,
        )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class OIDCLogin:
    """The provider's discovery document, keys and token endpoint, used per login."""

    def __init__(self, settings: OIDCSettings) -> None:
        self.settings = settings
        self._http: aiohttp.ClientSession | None = None
        self._discovery: dict[str, Any] = {}
        self._keys: dict[str, Any] = {}
        self._keys_at = 0.0

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            import ssl

            context = ssl.create_default_context(cafile=self.settings.ca_file or None)
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context),
                timeout=aiohttp.ClientTimeout(total=15),
            )
        return self._http

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with self._session().get(url) as resp:
            if resp.status != 200:
                raise LoginError(f"{url} answered {resp.status}")
            found: dict[str, Any] = await resp.json(content_type=None)
            return found

    async def discovery(self) -> dict[str, Any]:
        if not self._discovery:
            doc = await self._get_json(f"{self.settings.issuer}/.well-known/openid-configuration")
            if str(doc.get("issuer", "")).rstrip("/") != self.settings.issuer:
                raise LoginError("the provider's discovery document names another issuer")
            self._discovery = doc
        return self._discovery

    async def _key(self, kid: str) -> Any:
        if kid not in self._keys or time.monotonic() - self._keys_at > 3600:
            jwks = await self._get_json(str((await self.discovery())["jwks_uri"]))
            self._keys = {
                str(k.get("kid", "")): jwt.PyJWK.from_dict(k) for k in jwks.get("keys") or []
            }
            self._keys_at = time.monotonic()
        if kid not in self._keys:
            raise LoginError("the ID token was signed with a key the provider does not publish")
        return self._keys[kid].key

    async def start(self, request: web.Request, secure: bool) -> web.StreamResponse:
        """Send the browser to the provider, remembering state, nonce and PKCE verifier."""
        doc = await self.discovery()
        state, nonce, verifier = (secrets.token_urlsafe(24) for _ in range(3))
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        target = safe_target(request.query.get("next", "/apps"))
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": self.settings.redirect_url,
                "scope": " ".join(self.settings.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        response = web.HTTPFound(f"{doc['authorization_endpoint']}?{query}")
        remembered = json.dumps(
            {"state": state, "nonce": nonce, "verifier": verifier, "next": target}
        )
        response.set_cookie(
            STATE_COOKIE, _b64(remembered.encode()), httponly=True, secure=secure,
            samesite="Lax", path="/auth/", max_age=STATE_SECONDS,
        )  # fmt: skip
        return response

    def clear_state(self, response: web.StreamResponse) -> None:
        response.del_cookie(STATE_COOKIE, path="/auth/")

    async def finish(self, request: web.Request) -> tuple[Identity, str]:
        """Check state, trade the code for tokens, verify the ID token; who logged in."""
        if request.query.get("error"):
            raise LoginError(
                f"{request.query['error']}: {request.query.get('error_description', '')}"
            )
        raw = request.cookies.get(STATE_COOKIE, "")
        try:
            remembered = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except ValueError as err:
            raise LoginError("the login took too long or cookies are blocked; try again") from err
        if not same_secret(str(remembered.get("state")), request.query.get("state", "")):
            raise LoginError("state does not match; start the login again")
        doc = await self.discovery()
        form = {
            "grant_type": "authorization_code",
            "code": request.query.get("code", ""),
            "redirect_uri": self.settings.redirect_url,
            "code_verifier": str(remembered.get("verifier")),
        }
        auth = aiohttp.BasicAuth(self.settings.client_id, self.settings.client_secret)
        async with self._session().post(doc["token_endpoint"], data=form, auth=auth) as resp:
            tokens = await resp.json(content_type=None)
            if resp.status != 200:
                raise LoginError(
                    f"the provider refused the code: {tokens.get('error', resp.status)}"
                )
        id_token = str(tokens.get("id_token", ""))
        try:
            header = jwt.get_unverified_header(id_token)
            claims = jwt.decode(
                id_token,
                key=await self._key(str(header.get("kid", ""))),
                algorithms=["RS256", "ES256", "RS384", "RS512", "ES384", "PS256"],
                audience=self.settings.client_id,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as err:
            raise LoginError(f"the ID token is not valid: {err}") from err
        if claims.get("nonce") != remembered.get("nonce"):
            raise LoginError("the ID token's nonce does not match this login")
        return self.identity(claims), safe_target(str(remembered.get("next") or "/apps"))

    def identity(self, claims: dict[str, Any]) -> Identity:
        user = claims.get(self.settings.username_claim)
        if not isinstance(user, str) or not user:
            raise LoginError(f"the ID token has no {self.settings.username_claim} claim")
        if self.settings.username_claim == "email" and claims.get("email_verified") is False:
            raise LoginError("the email address is not verified")
        groups = claims.get(self.settings.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        prefix = self.settings.groups_prefix
        identity = Identity(
            user=f"{self.settings.username_prefix}{user}",
            groups=tuple(sorted(f"{prefix}{g}" for g in groups if isinstance(g, str))),
        )
        # Names the API server reserves for itself would let a provider's user
        # claim to be a node, a service account or system:masters.
        for name in (identity.user, *identity.groups):
            if name.startswith("system:"):
                raise LoginError(
                    f"{name!r} is reserved by Kubernetes; set --oidc-username-prefix "
                    "and --oidc-groups-prefix so provider names cannot collide with it"
                )
        return identity
