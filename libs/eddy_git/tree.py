"""Read and write the files of a commit: write its tree out, or commit edited files.

Both work on the object store alone, so the source-controller checks out without
a working tree and image automation edits blobs without one.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dulwich.object_store import commit_tree_changes
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.repo import BaseRepo

from .errors import git_failed

# What one checkout may write: a tree can name the same blob a million times, so
# a small pack can ask for terabytes. Files ignored later still count.
MAX_CHECKOUT_FILES = 200_000
MAX_CHECKOUT_BYTES = 1 << 30


@dataclass(frozen=True)
class Author:
    name: str
    email: str

    def identity(self) -> bytes:
        return f"{self.name} <{self.email}>".encode()


def _safe_path(name: str) -> bool:
    """Whether a path from a Git tree stays inside the checkout, as git requires."""
    parts = name.split("/")
    return all(p not in ("", ".", "..") and p.lower() != ".git" for p in parts)


def write_tree(
    repo: BaseRepo,
    commit: str,
    dest: Path,
    sparse: Sequence[str] = (),
    check: Callable[[], None] | None = None,
) -> int:
    """Write the files of `commit` under dest (plain files only); returns the file count.

    Symlinks and submodules are skipped, as the artifact holds plain files only;
    with `sparse`, only files under those directories are written. `check` is
    called before each file (a deadline's, to stop a checkout that ran out of time).
    Refuses a tree of more than MAX_CHECKOUT_FILES files or MAX_CHECKOUT_BYTES.
    """
    store = repo.object_store
    head = store[ObjectID(commit.encode())]
    if not isinstance(head, Commit):
        raise git_failed(f"{commit} is not a commit")
    tree = head.tree
    prefixes = tuple(p.strip("/") + "/" for p in sparse if p.strip("/"))
    made: set[Path] = set()
    count = 0
    written = 0
    for entry in store.iter_tree_contents(tree):
        mode = entry.mode
        name = entry.path.decode("utf-8", "surrogateescape")
        # Checked for every entry, links and submodules too: git refuses such a
        # tree, and one written on purpose is an attack, not content to skip.
        if not _safe_path(name):
            raise git_failed(
                f"commit {commit} contains the unsafe path {name!r} (a '..', '.' or "
                "'.git' component); refusing to check it out"
            )
        if not stat.S_ISREG(mode):
            continue
        if prefixes and not name.startswith(prefixes):
            continue
        if check is not None:
            check()
        target = dest / name
        parent = target.parent
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        if count >= MAX_CHECKOUT_FILES:
            raise git_failed(
                f"commit {commit} has more than {MAX_CHECKOUT_FILES} files; "
                "use spec.sparseCheckout to check out less"
            )
        blob = store[entry.sha]
        data = blob.as_raw_string()
        written += len(data)
        if written > MAX_CHECKOUT_BYTES:
            raise git_failed(
                f"commit {commit} holds more than {MAX_CHECKOUT_BYTES >> 20} MiB of files; "
                "use spec.sparseCheckout to check out less"
            )
        with open(target, "wb") as out:
            out.write(data)
        if mode & stat.S_IXUSR:
            os.chmod(target, 0o755)
        count += 1
    return count


def files(repo: BaseRepo, tree: ObjectID, prefix: str = "") -> Iterator[tuple[str, int, Blob]]:
    """(path, mode, blob) of every plain file in the tree whose path starts with prefix."""
    store = repo.object_store
    for entry in store.iter_tree_contents(tree):
        name = entry.path.decode("utf-8", "surrogateescape")
        if not stat.S_ISREG(entry.mode) or not name.startswith(prefix):
            continue
        blob = store[entry.sha]
        if isinstance(blob, Blob):
            yield name, entry.mode, blob


def commit_files(
    repo: BaseRepo,
    parent: Commit | None,
    changed: Sequence[tuple[str, int, bytes]],
    author: Author,
    message: str,
) -> Commit:
    """A commit on top of parent whose tree has these (path, mode, content) files changed.

    Without a parent it is the first commit of a branch, holding only these files.
    """
    edits: list[tuple[bytes, int | None, ObjectID | None]] = []
    for path, mode, content in changed:
        blob = Blob.from_string(content)
        repo.object_store.add_object(blob)
        edits.append((path.encode(), mode, blob.id))
    if parent is None:
        empty = Tree()
        repo.object_store.add_object(empty)
        base = empty.id
    else:
        base = parent.tree
    tree = commit_tree_changes(repo.object_store, base, edits)
    if not isinstance(repo.object_store[tree], Tree):  # pragma: no cover - dulwich contract
        raise git_failed("could not build the updated tree")
    commit = Commit()
    commit.tree = tree
    commit.parents = [parent.id] if parent is not None else []
    commit.author = commit.committer = author.identity()
    commit.author_time = commit.commit_time = int(time.time())
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = (message if message.endswith("\n") else message + "\n").encode()
    repo.object_store.add_object(commit)
    return commit
