"""Writing a commit's files out and committing edited files, on a scratch repository."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from dulwich.object_store import commit_tree_changes
from dulwich.objects import Blob, Commit, Tag, Tree

from eddy_git import Author, GitError, ScratchRepo, commit_files, files, peel, write_tree
from eddy_git.scratch import scratch_repo

REGULAR = stat.S_IFREG | 0o644
EXECUTABLE = stat.S_IFREG | 0o755
LINK = stat.S_IFLNK


def commit(repo: ScratchRepo, entries: dict[str, tuple[int, bytes]]) -> Commit:
    """A root commit with exactly these (mode, content) paths, however unusual."""
    edits = []
    for path, (mode, content) in entries.items():
        blob = Blob.from_string(content)
        repo.object_store.add_object(blob)
        edits.append((path.encode(), mode, blob.id))
    empty = Tree()
    repo.object_store.add_object(empty)
    made = Commit()
    made.tree = commit_tree_changes(repo.object_store, empty.id, edits)
    made.author = made.committer = b"t <t@example.com>"
    made.author_time = made.commit_time = 0
    made.author_timezone = made.commit_timezone = 0
    made.message = b"root\n"
    repo.object_store.add_object(made)
    return made


def test_plain_files_with_modes_and_sparse(tmp_path: Path) -> None:
    with scratch_repo(tmp_path) as repo:
        root = commit(repo, {
            "app/a.yaml": (REGULAR, b"a: 1\n"),
            "app/run.sh": (EXECUTABLE, b"#!/bin/sh\n"),
            "app/link": (LINK, b"a.yaml"),
            "other/b.yaml": (REGULAR, b"b: 2\n"),
        })  # fmt: skip
        assert write_tree(repo, root.id.decode(), tmp_path / "all") == 3
        assert not (tmp_path / "all/app/link").exists()
        assert os.access(tmp_path / "all/app/run.sh", os.X_OK)
        assert write_tree(repo, root.id.decode(), tmp_path / "some", ["app/"]) == 2
        assert not (tmp_path / "some/other").exists()
    # The scratch directory goes with the repository.
    assert not list(tmp_path.glob("eddy-git-*"))


@pytest.mark.parametrize("name", ["../escape", "a/./b", ".git/config", "x/.GIT/hooks"])
def test_unsafe_paths_are_refused(tmp_path: Path, name: str) -> None:
    with scratch_repo(tmp_path) as repo:
        root = commit(repo, {name: (REGULAR, b"x")})
        with pytest.raises(GitError) as refused:
            write_tree(repo, root.id.decode(), tmp_path / "out")
        assert "unsafe path" in refused.value.message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_commit_files_on_top_of_a_tagged_commit(tmp_path: Path) -> None:
    with scratch_repo(tmp_path) as repo:
        root = commit(repo, {"deploy/app.yaml": (REGULAR, b"v1\n"), "README": (REGULAR, b"hi\n")})
        tag = Tag()
        tag.object = (Commit, root.id)
        tag.name = b"v1"
        tag.tagger = b"t <t@example.com>"
        tag.tag_time, tag.tag_timezone, tag.message = 0, 0, b"v1\n"
        repo.object_store.add_object(tag)
        base = peel(repo, tag.id.decode())
        assert base.id == root.id
        listed = [(name, blob.data) for name, _, blob in files(repo, base.tree, "deploy/")]
        assert listed == [("deploy/app.yaml", b"v1\n")]
        made = commit_files(
            repo, base, [("deploy/app.yaml", REGULAR, b"v2\n")], Author("Bot", "b@x"), "bump"
        )
        assert made.parents == [root.id]
        assert made.message == b"bump\n" and made.author == b"Bot <b@x>"
        write_tree(repo, made.id.decode(), tmp_path / "out")
        assert (tmp_path / "out/deploy/app.yaml").read_bytes() == b"v2\n"
        assert (tmp_path / "out/README").read_bytes() == b"hi\n"
        with pytest.raises(GitError):
            peel(repo, made.tree.decode())


def test_a_tree_naming_one_blob_many_times_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tiny pack can name the same blob under any number of paths.
    from eddy_git import tree

    with scratch_repo(tmp_path) as repo:
        made = commit(repo, {f"copy-{i}": (REGULAR, b"x" * 30_000) for i in range(50)})
        monkeypatch.setattr(tree, "MAX_CHECKOUT_BYTES", 1 << 20)
        with pytest.raises(GitError, match="more than 1 MiB of files"):
            write_tree(repo, made.id.decode(), tmp_path / "out1")
        monkeypatch.setattr(tree, "MAX_CHECKOUT_BYTES", 1 << 30)
        monkeypatch.setattr(tree, "MAX_CHECKOUT_FILES", 10)
        with pytest.raises(GitError, match="more than 10 files"):
            write_tree(repo, made.id.decode(), tmp_path / "out2")
