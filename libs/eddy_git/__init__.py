"""Git for every controller: credentials, transports, fetch, checkout, commit and push.

The source-controller reads repositories and image automation writes to them; both
authenticate, redact and fail the same way because both use this one client.
"""

from eddy_git.auth import GitAuth, auth_from_data, auth_without_secret, scheme_of
from eddy_git.commits import CommitDetails, details_of
from eddy_git.errors import CredentialsRefused, Diverged, GitError, git_failed, timed_out
from eddy_git.run import in_thread, list_refs
from eddy_git.scratch import ScratchRepo, peel, scratch_repo
from eddy_git.submodules import write_submodules
from eddy_git.transport import PEELED, Remote, redact_url, tls_context
from eddy_git.tree import Author, commit_files, files, write_tree

__all__ = [
    "PEELED",
    "Author",
    "CommitDetails",
    "CredentialsRefused",
    "Diverged",
    "GitAuth",
    "GitError",
    "Remote",
    "ScratchRepo",
    "auth_from_data",
    "auth_without_secret",
    "commit_files",
    "details_of",
    "files",
    "git_failed",
    "in_thread",
    "list_refs",
    "peel",
    "redact_url",
    "scheme_of",
    "scratch_repo",
    "timed_out",
    "tls_context",
    "write_submodules",
    "write_tree",
]
