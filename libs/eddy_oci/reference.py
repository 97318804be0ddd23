"""`oci://host[:port]/repository[:tag|@digest]`: where an artifact lives in a registry.

Parsed once and checked against the distribution spec's grammar, so a typo is a
message about the reference, not a 404 from the registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .client import OCIError

# The distribution spec's grammar for repository names, tags and digests.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Reference:
    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    def base_url(self, insecure: bool) -> str:
        return f"{'http' if insecure else 'https'}://{self.host}"

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag}" if self.tag else self.name


def parse_reference(url: str, default_tag: str = "latest") -> Reference:
    """The registry, repository and tag or digest of an `oci://` URL."""
    parts = urlsplit(url)
    if parts.scheme != "oci" or not parts.netloc:
        raise OCIError(f"{url!r} is not an OCI URL; write oci://<host>/<repository>[:<tag>]")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise OCIError(f"{url!r} must not carry credentials, a query or a fragment")
    path = parts.path.strip("/")
    digest = tag = ""
    if "@" in path:
        path, _, digest = path.partition("@")
        if not _DIGEST.fullmatch(digest):
            raise OCIError(f"{digest!r} in {url!r} is not a sha256 digest")
    else:
        head, _, last = path.rpartition("/")
        if ":" in last:
            last, _, tag = last.partition(":")
            path = f"{head}/{last}" if head else last
            if not _TAG.fullmatch(tag):
                raise OCIError(f"{tag!r} in {url!r} is not a valid tag")
    if not path or not _REPOSITORY.fullmatch(path):
        raise OCIError(
            f"{path!r} in {url!r} is not a repository name: lowercase letters, digits and "
            "separators (. _ - /) only"
        )
    return Reference(parts.netloc, path, tag or ("" if digest else default_tag), digest)
