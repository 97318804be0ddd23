"""Who is asking: browser sessions, their CSRF tokens, and the cookie that carries them.

A session lives in its HttpOnly, SameSite cookie, encrypted and authenticated
(AES-GCM) with a key the replicas share, so any replica, or the same one after a
restart, knows the person; the page never holds a credential, only the CSRF token
it must echo on every action.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("eddy.web")

COOKIE = "eddy_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
# Browsers keep cookies up to 4 KiB; a session that does not fit is refused at login.
MAX_COOKIE = 3800
MIN_KEY_BYTES = 16
# Bound to the purpose: a value encrypted for something else never reads as a session.
_PURPOSE = b"eddy-dashboard-session-v1"


def same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison that any input, even non-ASCII, can go through."""
    return hmac.compare_digest(expected.encode(), given.encode())


def safe_target(target: str, default: str = "/apps") -> str:
    """A path on this site to go to after a login; anything else becomes `default`.

    `//host` and `/\\host` are other sites to a browser.
    """
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@dataclass(frozen=True)
class Identity:
    """The person the API sees: "" means the kubeconfig's own user, as is."""

    user: str = ""
    groups: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.user or "your kubeconfig user"


@dataclass
class Session:
    identity: Identity
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    expires: float = field(default_factory=lambda: time.time() + SESSION_SECONDS)
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), (token or "").encode())


class SessionTooLarge(ValueError):
    """The person's identity (their groups, mostly) does not fit in a cookie."""


def session_key(secret: bytes | None) -> bytes:
    """The 256-bit AES key from the shared secret; a fresh random one without it."""
    if secret is None:
        return AESGCM.generate_key(bit_length=256)
    secret = secret.strip()
    if len(secret) < MIN_KEY_BYTES:
        raise ValueError(
            f"the session key must hold at least {MIN_KEY_BYTES} bytes of secret; "
            "make one with `openssl rand -base64 32`"
        )
    return hashlib.sha256(_PURPOSE + secret).digest()


class Sessions:
    """Sessions sealed into their cookies: no server-side store to share or lose.

    With the same key every replica opens every session; without one (a random
    key per process) a restart logs everyone out. Logging out drops the cookie
    and remembers the session here until it expires; a copy of the cookie kept
    elsewhere stays valid on other replicas until then.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._aead = AESGCM(key if key is not None else session_key(None))
        self._dropped: dict[str, float] = {}

    def create(self, identity: Identity) -> tuple[str, Session]:
        session = Session(identity)
        payload = json.dumps(
            {
                "u": identity.user,
                "g": list(identity.groups),
                "c": session.csrf,
                "e": int(session.expires),
                "i": session.id,
            },
            separators=(",", ":"),
        ).encode()
        nonce = secrets.token_bytes(12)
        sealed = nonce + self._aead.encrypt(nonce, payload, _PURPOSE)
        value = base64.urlsafe_b64encode(sealed).decode().rstrip("=")
        if len(value) > MAX_COOKIE:
            raise SessionTooLarge(
                f"{identity.label} belongs to {len(identity.groups)} groups, too many for a "
                "session cookie; narrow the groups the provider puts in the ID token"
            )
        return value, session

    def get(self, value: str | None) -> Session | None:
        if not value or len(value) > MAX_COOKIE:
            return None
        try:
            sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            payload = json.loads(self._aead.decrypt(sealed[:12], sealed[12:], _PURPOSE))
            session = Session(
                Identity(str(payload["u"]), tuple(str(g) for g in payload["g"])),
                csrf=str(payload["c"]),
                expires=float(payload["e"]),
                id=str(payload["i"]),
            )
        except (InvalidTag, ValueError, KeyError, TypeError):
            # Another key (a rotation), a truncated cookie, or a forgery: log in again.
            return None
        if session.expires < time.time() or session.id in self._dropped:
            return None
        return session

    def drop(self, value: str | None) -> None:
        session = self.get(value)
        if session is not None:
            self._expire()
            self._dropped[session.id] = session.expires

    def _expire(self) -> None:
        now = time.time()
        for key in [k for k, until in self._dropped.items() if until < now]:
            del self._dropped[key]
