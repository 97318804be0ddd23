"""Throwaway repositories that a fetch fills and that vanish after one operation.

Neither controller keeps a clone between reconciles, so a repository here has its
refs in memory and only the fetched objects on disk, under a temporary directory.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dulwich.object_store import DiskObjectStore
from dulwich.objects import Commit, ObjectID, Tag
from dulwich.repo import BaseRepo, MemoryRepo

from .errors import git_failed


class ScratchRepo(MemoryRepo):
    """A throwaway repository for one operation: refs in memory, objects on disk.

    A full bare repository costs a dozen directories and several fsync'd files
    (config, description, shallow) that are deleted a moment later; at hundreds of
    repositories that bookkeeping outweighed the fetch itself. The fetched pack
    still goes to disk, so a large repository does not have to fit in memory.
    """

    def __init__(self, objects: Path) -> None:
        super().__init__()
        self.object_store = DiskObjectStore.init(objects)


@contextmanager
def scratch_repo(parent: Path | None = None) -> Iterator[ScratchRepo]:
    """A ScratchRepo in a new directory under `parent` (default: the system's temp)."""
    scratch = Path(tempfile.mkdtemp(prefix="eddy-git-", dir=parent))
    try:
        repo = ScratchRepo(scratch / "objects")
        try:
            yield repo
        finally:
            repo.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def peel(repo: BaseRepo, sha: str) -> Commit:
    """The commit `sha` names, through any annotated tags."""
    head = repo.object_store[ObjectID(sha.encode())]
    while isinstance(head, Tag):
        head = repo.object_store[head.object[1]]
    if not isinstance(head, Commit):
        raise git_failed(f"{sha} is not a commit")
    return head
