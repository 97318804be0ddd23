"""The ignore matcher follows gitignore(5), checked case by case and against git itself.

Users copy patterns from their .gitignore into spec.ignore and .sourceignore and
expect the same files to be left out.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from eddy_artifacts.ignore import IgnoreRules, parse_pattern, parse_patterns, source_ignore_rules


def rules(text: str) -> IgnoreRules:
    return IgnoreRules(parse_patterns(text))


# (patterns, path, is_dir, ignored)
CASES: list[tuple[str, str, bool, bool]] = [
    # A name without a slash matches at any depth, files and directories alike.
    ("foo", "foo", False, True),
    ("foo", "a/b/foo", False, True),
    ("foo", "a/foo", True, True),
    ("foo", "foobar", False, False),
    # Inside an ignored directory everything is ignored.
    ("foo", "foo/bar.yaml", False, True),
    # A leading slash anchors to the root.
    ("/foo", "foo", False, True),
    ("/foo", "a/foo", False, False),
    # A slash in the middle anchors too.
    ("doc/frotz", "doc/frotz", False, True),
    ("doc/frotz", "a/doc/frotz", False, False),
    # A trailing slash matches directories only.
    ("build/", "build", True, True),
    ("build/", "build", False, False),
    ("build/", "src/build", True, True),
    ("build/", "build/out.o", False, True),
    # '*' and '?' never match '/'.
    ("*.yaml", "a/b/c.yaml", False, True),
    ("/*.yaml", "c.yaml", False, True),
    ("/*.yaml", "a/c.yaml", False, False),
    ("a/*.yaml", "a/b/c.yaml", False, False),
    ("fo?", "foo", False, True),
    ("fo?", "fo/", False, False),
    ("file[0-9].txt", "file7.txt", False, True),
    ("file[0-9].txt", "filex.txt", False, False),
    ("file[!0-9].txt", "filex.txt", False, True),
    ("file[!0-9].txt", "file1.txt", False, False),
    # '**/' leading, '/**/' inner, '/**' trailing.
    ("**/foo", "foo", False, True),
    ("**/foo", "x/y/foo", False, True),
    ("**/foo/bar", "x/foo/bar", False, True),
    ("a/**/b", "a/b", False, True),
    ("a/**/b", "a/x/y/b", False, True),
    ("a/**/b", "xa/b", False, False),
    ("abc/**", "abc/x/y", False, True),
    ("abc/**", "abc", True, False),
    # Other runs of '*' are plain stars.
    ("a**b", "axxb", False, True),
    ("a**b", "ax/xb", False, False),
    # Negation: the last match wins.
    ("*.yaml\n!keep.yaml", "keep.yaml", False, False),
    ("*.yaml\n!keep.yaml", "drop.yaml", False, True),
    ("!keep.yaml\n*.yaml", "keep.yaml", False, True),
    # A file cannot be re-included when its parent directory is excluded...
    ("secret/\n!secret/ok.yaml", "secret/ok.yaml", False, True),
    # ...but it can when only the directory's contents were excluded.
    ("secret/*\n!secret/ok.yaml", "secret/ok.yaml", False, False),
    ("secret/*\n!secret/ok.yaml", "secret/no.yaml", False, True),
    # Comments, blanks, escapes.
    ("# comment\n\n", "# comment", False, False),
    ("\\#hash", "#hash", False, True),
    ("\\!bang", "!bang", False, True),
    ("trailing   ", "trailing", False, True),
    ("space\\ ", "space ", False, True),
]


@pytest.mark.parametrize(("patterns", "path", "is_dir", "ignored"), CASES)
def test_gitignore_semantics(patterns: str, path: str, is_dir: bool, ignored: bool) -> None:
    assert rules(patterns).ignored(path, is_dir) is ignored


def test_blank_and_comment_lines_are_not_patterns() -> None:
    assert parse_pattern("") is None
    assert parse_pattern("   ") is None
    assert parse_pattern("# note") is None
    assert parse_patterns("a\n#b\n\nc") != []


def test_patterns_from_a_subdirectory_apply_below_it_only() -> None:
    scoped = IgnoreRules(parse_patterns("/local.yaml\n*.tmp", domain=("apps",)))
    assert scoped.ignored("apps/local.yaml")
    assert not scoped.ignored("local.yaml")
    assert not scoped.ignored("other/local.yaml")
    assert scoped.ignored("apps/x/y.tmp")
    assert not scoped.ignored("y.tmp")


def test_source_rules_layer_defaults_files_and_spec(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / ".sourceignore").write_text("*.md\n")
    (tmp_path / ".sourceignore").write_text("/scratch/\n")
    source = source_ignore_rules(tmp_path, spec_ignore="!.github/\n*.bak\n")
    assert source.ignored(".git", True)
    assert source.ignored(".git/config")
    assert source.ignored(".gitlab-ci.yml")
    assert source.ignored("deep/.sops.yaml")
    assert source.ignored("scratch/x", False)
    assert source.ignored("apps/README.md")
    assert not source.ignored("README.md")
    assert source.ignored("x.bak")
    # spec.ignore comes last, so it can bring back what the defaults exclude.
    assert not source.ignored(".github/workflows/ci.yaml")


GIT_PATTERNS = """\
*.log
!important.log
/root-only.txt
build/
docs/**/*.tmp
**/cache
secret/*
!secret/public.pem
a**b
"""
GIT_PATHS = [
    "x.log",
    "sub/important.log",
    "root-only.txt",
    "sub/root-only.txt",
    "build/out",
    "sub/build/out",
    "docs/x.tmp",
    "docs/a/b/x.tmp",
    "x.tmp",
    "cache/file",
    "a/cache/file",
    "secret/key",
    "secret/public.pem",
    "axyzb",
    "keep.yaml",
]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_agrees_with_git_check_ignore(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text(GIT_PATTERNS)
    for rel in GIT_PATHS:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    result = subprocess.run(
        ["git", "-C", str(tmp_path), "check-ignore", "--no-index", *GIT_PATHS],
        capture_output=True,
        text=True,
        timeout=30,
    )
    by_git = set(result.stdout.split())
    ours = {p for p in GIT_PATHS if rules(GIT_PATTERNS).ignored(p)}
    assert ours == by_git
