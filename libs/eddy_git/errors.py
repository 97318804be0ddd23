"""The errors Git work raises: a Flux reason and a message a person can act on.

Controllers turn them into their own status and Events; nothing here knows which
controller asked, so a message names the GitRepository's fields, never a caller's.
"""

from __future__ import annotations

from eddy_api.common import Reason


class GitError(Exception):
    """A Git step failed; `stalled` when only an edit of the spec can fix it."""

    def __init__(self, reason: str, message: str, *, stalled: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.stalled = stalled


class CredentialsRefused(GitError):
    """The server turned the credentials down (HTTP 401).

    A class of its own because controllers report it differently: the
    source-controller as a failed Git operation, like Flux, image automation as
    failed authentication.
    """


class Diverged(Exception):
    """The branch moved on the server since it was fetched: refetch and try again."""


def git_failed(message: str) -> GitError:
    return GitError(Reason.GIT_OPERATION_FAILED, message)


def timed_out(seconds: float) -> str:
    return f"timed out after {seconds:g}s; raise spec.timeout or check the server"
