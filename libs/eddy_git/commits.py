"""What a commit says about itself: author, date and message, in a form status can carry.

The source-controller records these with each Git artifact and `eddy why` prints
them; both read a dulwich Commit the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from dulwich.objects import Commit

from eddy_api.common import COMMIT_METADATA_PREFIX as PREFIX

AUTHOR_KEY = f"{PREFIX}author"
DATE_KEY = f"{PREFIX}date"
MESSAGE_KEY = f"{PREFIX}message"
# A commit message in status is bounded: its subject and the start of its body.
MAX_MESSAGE = 1024


@dataclass(frozen=True)
class CommitDetails:
    author: str
    date: str
    message: str
    # The commit's signature (gpgsig) and what it signs, for spec.verify.
    signature: bytes | None = None
    signed: bytes = b""
    # The annotated tag checked out (spec.ref.tag or semver), its signature and payload.
    tag: str | None = None
    tag_signature: bytes | None = None
    tag_signed: bytes = b""

    def as_metadata(self) -> dict[str, str]:
        message = self.message if len(self.message) <= MAX_MESSAGE else self.message[:MAX_MESSAGE]
        return {AUTHOR_KEY: self.author, DATE_KEY: self.date, MESSAGE_KEY: message}


def details_of(commit: Commit) -> CommitDetails:
    """Author ("Name <email>"), authored time in UTC (RFC 3339) and the whole message."""
    when = datetime.fromtimestamp(commit.author_time, UTC).isoformat().replace("+00:00", "Z")
    return CommitDetails(
        author=commit.author.decode(errors="replace"),
        date=when,
        message=commit.message.decode(errors="replace").strip(),
        signature=commit.gpgsig,
        signed=commit.raw_without_sig() if commit.gpgsig else b"",
    )
