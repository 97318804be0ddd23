"""oci:// references and revisions, as `eddy push artifact` and OCIRepository read them."""

from __future__ import annotations

import pytest

from eddy_oci import OCIError, Reference, normalize_revision, parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("oci://ghcr.io/org/app:v1", Reference("ghcr.io", "org/app", "v1")),
        ("oci://localhost:5000/app", Reference("localhost:5000", "app", "latest")),
        (f"oci://r.io/a/b@{DIGEST}", Reference("r.io", "a/b", "", DIGEST)),
        (
            "oci://127.0.0.1:5000/a.b/c-d_e:1.0.0-rc.1",
            Reference("127.0.0.1:5000", "a.b/c-d_e", "1.0.0-rc.1"),
        ),
    ],
)
def test_parse(url: str, expected: Reference) -> None:
    assert parse_reference(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://ghcr.io/app", "is not an OCI URL"),
        ("oci://user:pw@ghcr.io/app", "must not carry credentials"),
        ("oci://ghcr.io/App", "is not a repository name"),
        ("oci://ghcr.io/app:bad tag", "is not a valid tag"),
        ("oci://ghcr.io/app@sha256:abc", "is not a sha256 digest"),
        ("oci://ghcr.io", "is not a repository name"),
    ],
)
def test_refused(url: str, message: str) -> None:
    with pytest.raises(OCIError, match=message):
        parse_reference(url)


def test_reference_text() -> None:
    assert str(Reference("r.io", "a", "v1")) == "r.io/a:v1"
    assert str(Reference("r.io", "a", "", DIGEST)) == f"r.io/a@{DIGEST}"
    assert Reference("r.io", "a").base_url(insecure=True) == "http://r.io"


def test_revisions_take_flux_form() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert normalize_revision(f"main/{sha}") == f"main@sha1:{sha}"
    assert normalize_revision(sha) == f"sha1:{sha}"
    assert normalize_revision(f"main@sha1:{sha}") == f"main@sha1:{sha}"
    assert normalize_revision("v1.0.0") == "v1.0.0"
