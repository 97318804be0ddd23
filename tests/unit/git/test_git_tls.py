"""TLS contexts: one per CA, shared between fetches, and a clear error for a bad CA."""

from __future__ import annotations

import pytest

from eddy_git import GitError, tls_context


def test_one_context_per_ca() -> None:
    assert tls_context(None) is tls_context(None)


def test_a_ca_that_is_not_pem_is_an_authentication_failure() -> None:
    with pytest.raises(GitError) as refused:
        tls_context(b"not a certificate")
    assert refused.value.reason == "AuthenticationFailed"
    assert "ca.crt is not a PEM certificate" in refused.value.message
