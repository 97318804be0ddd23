"""Who is asking: browser sessions, their CSRF tokens, and the cookie that names them.

The session id travels only in an HttpOnly, SameSite cookie; the page never holds
a credential, only the CSRF token it must echo on every action.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

COOKIE = "eddy_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600


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

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), (token or "").encode())


class Sessions:
    """Sessions in memory: a restart logs everyone out, which is the safe default."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}

    def create(self, identity: Identity) -> tuple[str, Session]:
        self._expire()
        session_id = secrets.token_urlsafe(32)
        session = Session(identity)
        self._by_id[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None or session.expires < time.time():
            self._by_id.pop(session_id, None)
            return None
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)

    def _expire(self) -> None:
        now = time.time()
        for key in [k for k, s in self._by_id.items() if s.expires < now]:
            del self._by_id[key]
