"""Git credentials from a Secret's data, checked before any connection is made.

Flux users keep `username`/`password`, `bearerToken`, `identity`/`known_hosts`
(+ `password` as the key passphrase) and `ca.crt` in one Secret; eddy reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from eddy_api.common import Reason

from .errors import GitError


@dataclass(frozen=True)
class GitAuth:
    """What a transport needs to authenticate; never logged, never in status."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    identity: bytes | None = None
    passphrase: bytes | None = None
    known_hosts: bytes | None = None
    ca_cert: bytes | None = None
    # An HTTP proxy (spec.proxySecretRef) for http and https URLs, with its credentials.
    proxy_url: str | None = None
    proxy_username: str | None = None
    proxy_password: str | None = None

    def __repr__(self) -> str:
        # Dataclass reprs would print the credentials into any traceback or log.
        return "GitAuth(<redacted>)"


def scheme_of(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "ssh"):
        raise GitError(
            "URLInvalid",
            f"URL scheme '{scheme}' in {url!r} is not supported; use http(s):// or ssh://",
            stalled=True,
        )
    return scheme


def auth_without_secret(url: str) -> GitAuth:
    """The credentials of a GitRepository with no spec.secretRef: none, unless SSH."""
    if scheme_of(url) == "ssh":
        # Retrying cannot help: only adding the Secret can.
        raise GitError(
            Reason.AUTHENTICATION_FAILED,
            "an ssh:// URL needs spec.secretRef with 'identity' and 'known_hosts'",
            stalled=True,
        )
    return GitAuth()


def auth_from_data(url: str, data: Mapping[str, bytes], secret: str) -> GitAuth:
    """The credentials a Secret's data gives for this URL's scheme."""

    def text(key: str) -> str | None:
        value = data.get(key)
        if not value:
            return None
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise _bad_key(secret, key, "is not UTF-8 text") from None

    ca = data.get("ca.crt") or data.get("caFile")
    if scheme_of(url) == "ssh":
        return GitAuth(
            username=text("username"),
            identity=_require(data, "identity", secret, "SSH authentication"),
            passphrase=data.get("password") or None,
            known_hosts=_require(data, "known_hosts", secret, "SSH host key verification"),
        )
    token = text("bearerToken")
    if token is not None and any(ord(c) < 0x20 or c == "\x7f" for c in token):
        # The HTTP client would refuse the header with the token in its error
        # message, which would then reach status and Events.
        raise _bad_key(
            secret,
            "bearerToken",
            "contains a line break or another control character (often a trailing "
            "newline); store the token alone",
        )
    return GitAuth(
        username=text("username"),
        password=text("password"),
        bearer_token=token,
        ca_cert=ca or None,
    )


def _require(data: Mapping[str, bytes], key: str, secret: str, what: str) -> bytes:
    value = data.get(key)
    if not value:
        raise GitError(
            Reason.AUTHENTICATION_FAILED,
            f"secret '{secret}' has no '{key}' key, which {what} needs",
        )
    return value


def _bad_key(secret: str, key: str, problem: str) -> GitError:
    # Names the Secret and the key, never the value.
    return GitError(Reason.AUTHENTICATION_FAILED, f"secret '{secret}': '{key}' {problem}")
