"""Dex, a real OIDC provider, on loopback: the identity provider of the dashboard's login tests.

Users are Dex's own static passwords, with groups; the dashboard is a static
client. The login form is Dex's, filled in by a real browser.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from eddy_testenv.controlplane import free_port
from eddy_testenv.process import Process, ProcessError, Service, find_binary

_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class DexUser:
    email: str
    password: str
    groups: tuple[str, ...]


class Dex(Service):
    """`dex serve` with in-memory storage, one static client and static users."""

    def __init__(self, users: list[DexUser], redirect_urls: list[str]) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}/dex"
        self.client_id = "eddy-dashboard"
        self.client_secret = secrets.token_urlsafe(24)
        self.users = users
        self.redirect_urls = redirect_urls
        self.workdir = Path(tempfile.mkdtemp(prefix="eddy-dex-"))
        self._process: Process | None = None

    def _config(self) -> dict[str, object]:
        try:
            import bcrypt
        except ImportError as err:  # pragma: no cover - a test dependency
            raise ProcessError("the Dex fixture needs the 'bcrypt' package") from err
        # Dex refuses bcrypt costs below 10.
        passwords = [
            {
                "email": user.email,
                "hash": bcrypt.hashpw(user.password.encode(), bcrypt.gensalt(rounds=10)).decode(),
                "username": user.email.split("@")[0],
                "userID": secrets.token_hex(8),
                "groups": list(user.groups),
            }
            for user in self.users
        ]
        return {
            "issuer": self.issuer,
            "storage": {"type": "memory"},
            "web": {"http": f"127.0.0.1:{self.port}"},
            "logger": {"level": "info", "format": "json"},
            "oauth2": {"skipApprovalScreen": True, "passwordConnector": "local"},
            "enablePasswordDB": True,
            "staticPasswords": passwords,
            "staticClients": [
                {
                    "id": self.client_id,
                    "name": "eddy dashboard",
                    "secret": self.client_secret,
                    "redirectURIs": self.redirect_urls,
                }
            ],
        }

    def start(self) -> None:
        config = self.workdir / "config.yaml"
        config.write_text(yaml.safe_dump(self._config()))
        self._process = Process(
            "dex", [find_binary("dex"), "serve", str(config)], self.workdir / "dex.log"
        )
        self._process.start()
        try:
            self._process.wait_ready(self._answers, "did not answer", _START_TIMEOUT, 0.1)
        except ProcessError:
            self.stop()
            raise

    def _answers(self) -> bool:
        """Whether Dex serves its discovery document, naming this issuer."""
        url = f"{self.issuer}/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return bool(json.load(resp).get("issuer") == self.issuer)
        except OSError:
            return False

    def id_token(self, user: DexUser, scope: str = "openid email groups") -> str:
        """An ID token for `user`, from Dex's token endpoint (password grant), as a CI
        job gets one from its platform; its audience is the client id."""
        form = urllib.parse.urlencode(
            {
                "grant_type": "password",
                "username": user.email,
                "password": user.password,
                "scope": scope,
            }
        ).encode()
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        request = urllib.request.Request(
            f"{self.issuer}/token", data=form, headers={"Authorization": f"Basic {basic}"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            token = json.load(resp).get("id_token")
        if not isinstance(token, str):
            raise ProcessError("dex answered the password grant without an id_token")
        return token

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
