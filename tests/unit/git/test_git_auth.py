"""Which credentials a Secret's data gives for a Git URL, and what is refused early."""

from __future__ import annotations

import pytest

from eddy_git import GitAuth, GitError, auth_from_data, auth_without_secret, redact_url

SECRET = "ns/git"


def test_basic_bearer_and_ca_for_https() -> None:
    data = {"username": b"u", "password": b"p", "ca.crt": b"PEM"}
    assert auth_from_data("https://h/r.git", data, SECRET) == GitAuth(
        username="u", password="p", ca_cert=b"PEM"
    )
    token = auth_from_data("https://h/r.git", {"bearerToken": b"t"}, SECRET)
    assert token.bearer_token == "t" and token.username is None
    # Flux's older key name for the CA is still read.
    assert auth_from_data("http://h/r.git", {"caFile": b"PEM"}, SECRET).ca_cert == b"PEM"


def test_ssh_needs_identity_and_known_hosts() -> None:
    data = {"identity": b"KEY", "known_hosts": b"h ssh-ed25519 AAA", "password": b"pass"}
    auth = auth_from_data("ssh://git@h/r.git", data, SECRET)
    assert (auth.identity, auth.passphrase, auth.known_hosts) == (
        b"KEY",
        b"pass",
        b"h ssh-ed25519 AAA",
    )
    with pytest.raises(GitError) as missing:
        auth_from_data("ssh://git@h/r.git", {"identity": b"KEY"}, SECRET)
    assert missing.value.reason == "AuthenticationFailed"
    assert "'known_hosts'" in missing.value.message and SECRET in missing.value.message
    with pytest.raises(GitError) as anonymous:
        auth_without_secret("ssh://git@h/r.git")
    assert anonymous.value.stalled
    assert auth_without_secret("https://h/r.git") == GitAuth()


def test_a_token_with_a_line_break_is_refused_without_showing_it() -> None:
    with pytest.raises(GitError) as refused:
        auth_from_data("https://h/r.git", {"bearerToken": b"s3cret\n"}, SECRET)
    assert "line break" in refused.value.message
    assert "s3cret" not in refused.value.message


def test_unsupported_schemes_stall() -> None:
    with pytest.raises(GitError) as refused:
        auth_without_secret("git://h/r.git")
    assert (refused.value.reason, refused.value.stalled) == ("URLInvalid", True)


def test_credentials_never_show() -> None:
    assert "p4ss" not in repr(GitAuth(username="u", password="p4ss"))
    assert redact_url("https://u:p4ss@h:8443/r.git") == "https://h:8443/r.git"
    assert redact_url("ssh://git@h/r.git") == "ssh://h/r.git"
    assert redact_url("https://h/r.git") == "https://h/r.git"
