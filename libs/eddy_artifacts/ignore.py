"""gitignore-style patterns that decide which files of a source go into its artifact.

Flux users write `spec.ignore` and `.sourceignore` files in git's ignore syntax and
expect git's semantics, so the matcher follows gitignore(5) rather than fnmatch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILENAME = ".sourceignore"

# Flux's defaults, in the same three groups: version control files, CI
# configuration, and a few tool files that never belong in a deployment.
EXCLUDE_VCS = (".git/", ".gitignore", ".gitmodules", ".gitattributes")
EXCLUDE_CI = (
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
)
EXCLUDE_EXTRA = (
    "**/.goreleaser.yml",
    "**/.goreleaser.brew.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
    "**/.golangci.yaml",
)
DEFAULT_PATTERNS = EXCLUDE_VCS + EXCLUDE_CI + EXCLUDE_EXTRA


@dataclass(frozen=True)
class Pattern:
    """One parsed ignore line, scoped to the directory (domain) it was read in."""

    source: str
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool
    domain: tuple[str, ...] = ()

    def matches(self, parts: Sequence[str], is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        depth = len(self.domain)
        if len(parts) <= depth or tuple(parts[:depth]) != self.domain:
            return False
        return self.regex.fullmatch("/".join(parts[depth:])) is not None


def _unescape_trailing_spaces(line: str) -> str:
    # gitignore(5): trailing spaces are ignored unless quoted with a backslash.
    stripped = line.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(line):
        return stripped[:-1] + " "
    return stripped


def _bracket(glob: str, start: int) -> tuple[str, int] | None:
    """Translate the bracket expression opening at glob[start]; None if unclosed."""
    i = start + 1
    negate = i < len(glob) and glob[i] in "!^"
    if negate:
        i += 1
    members: list[str] = []
    first = True
    while i < len(glob) and (glob[i] != "]" or first):
        char = glob[i]
        if char == "\\" and i + 1 < len(glob):
            i += 1
            members.append(re.escape(glob[i]))
        else:
            # '-' keeps its range meaning; everything else is a literal member.
            members.append("-" if char == "-" else re.escape(char))
        first = False
        i += 1
    if i >= len(glob):
        return None
    body = "".join(members)
    # A class never matches '/': separators are only matched literally.
    return (f"[^/{body}]" if negate else f"(?!/)[{body}]"), i + 1


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "\\" and i + 1 < len(segment):
            out.append(re.escape(segment[i + 1]))
            i += 2
        elif char == "*":
            # Runs of '*' inside a segment are plain stars (gitignore(5)).
            while i < len(segment) and segment[i] == "*":
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and (translated := _bracket(segment, i)) is not None:
            regex, i = translated
            out.append(regex)
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _glob_regex(glob: str) -> str:
    segments = glob.split("/")
    last = len(segments) - 1
    out: list[str] = []
    need_separator = False
    for index, segment in enumerate(segments):
        if segment != "**":
            if need_separator:
                out.append("/")
            out.append(_segment_regex(segment))
            need_separator = True
        elif index == last:
            # A trailing "/**" matches everything inside, not the directory itself.
            out.append("/.+" if need_separator else ".+")
        else:
            # A leading "**/" or inner "/**/" matches zero or more directories.
            out.append("/(?:.*/)?" if need_separator else "(?:.*/)?")
            need_separator = False
    return "".join(out)


def parse_pattern(line: str, domain: Sequence[str] = ()) -> Pattern | None:
    """One line of an ignore file; None for blank lines and comments."""
    text = _unescape_trailing_spaces(line.rstrip("\r\n"))
    if not text or text.startswith("#"):
        return None
    negated = text.startswith("!")
    if negated or text.startswith(("\\!", "\\#")):
        text = text[1:]
    dir_only = text.endswith("/") and not text.endswith("\\/")
    if dir_only:
        text = text.rstrip("/")
    if not text:
        return None
    # A slash at the start or in the middle anchors the pattern to its domain;
    # without one it matches at any depth.
    anchored = "/" in text
    text = text.lstrip("/")
    if not anchored and not text.startswith("**/"):
        text = "**/" + text
    return Pattern(
        source=line.strip(),
        regex=re.compile(_glob_regex(text), re.DOTALL),
        negated=negated,
        dir_only=dir_only,
        domain=tuple(domain),
    )


def parse_patterns(text: str | Iterable[str], domain: Sequence[str] = ()) -> list[Pattern]:
    """Every pattern in an ignore file's text (or an iterable of its lines)."""
    lines = text.splitlines() if isinstance(text, str) else text
    patterns = (parse_pattern(line, domain) for line in lines)
    return [p for p in patterns if p is not None]


class IgnoreRules:
    """An ordered list of patterns where the last match wins, as in git.

    `ignored(path, is_dir)` takes a path relative to the artifact root with '/'
    separators. As in git, nothing inside an ignored directory can be re-included.
    """

    def __init__(self, patterns: Iterable[Pattern] = ()) -> None:
        self.patterns: list[Pattern] = list(patterns)

    def extend(self, patterns: Iterable[Pattern]) -> None:
        self.patterns.extend(patterns)

    def _decide(self, parts: Sequence[str], is_dir: bool) -> bool:
        for pattern in reversed(self.patterns):
            if pattern.matches(parts, is_dir):
                return not pattern.negated
        return False

    def ignored(self, path: str, is_dir: bool = False) -> bool:
        parts = [p for p in path.strip("/").split("/") if p and p != "."]
        if not parts:
            return False
        for depth in range(1, len(parts)):
            if self._decide(parts[:depth], True):
                return True
        return self._decide(parts, is_dir)

    def ignored_entry(self, parts: Sequence[str], is_dir: bool) -> bool:
        """Decision for one entry whose parent directories were already kept.

        Used while walking a tree top-down, where excluded directories are never
        entered, so only the entry itself needs checking.
        """
        return self._decide(parts, is_dir)


def load_ignore_files(root: Path, rules: IgnoreRules | None = None) -> list[Pattern]:
    """Patterns of every `.sourceignore` under root, each scoped to its directory.

    Directories already excluded by `rules` are not searched, the way git does
    not read a .gitignore inside an ignored directory.
    """
    found: list[Pattern] = []
    active = IgnoreRules(rules.patterns if rules else ())
    for current, dirs, files in os.walk(root):
        rel = Path(current).relative_to(root)
        domain = () if rel == Path(".") else rel.parts
        if IGNORE_FILENAME in files:
            text = (Path(current) / IGNORE_FILENAME).read_text(errors="replace")
            patterns = parse_patterns(text, domain)
            found.extend(patterns)
            active.extend(patterns)
        dirs[:] = sorted(d for d in dirs if not active.ignored_entry((*domain, d), True))
    return found


def source_ignore_rules(root: Path, spec_ignore: str | None = None) -> IgnoreRules:
    """The rules Flux applies to a source: defaults, then .sourceignore files, then spec.ignore.

    Later rules win, so a `.sourceignore` or `spec.ignore` line such as
    `!.github/` can re-include something the defaults leave out.
    """
    rules = IgnoreRules(parse_patterns(DEFAULT_PATTERNS))
    rules.extend(load_ignore_files(root, rules))
    if spec_ignore:
        rules.extend(parse_patterns(spec_ignore))
    return rules
