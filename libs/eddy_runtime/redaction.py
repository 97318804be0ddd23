"""Masks values that came from Secrets in every message a controller writes.

A Secret's value can come back inside an API server or Helm error (an invalid label,
a failed schema check); status, Events and logs must never carry it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from .logs import REDACTED

# Shorter values would match everywhere (in names, revisions, numbers) and leave
# messages unreadable while hiding nothing a guess would not find.
MIN_LENGTH = 4


def _forms(value: str) -> Iterable[str]:
    """The ways a value shows up in a message: as is, trimmed, JSON-escaped, and, for a
    multi-line value such as a YAML document, each of its lines on its own."""
    yield value
    yield value.strip()
    yield json.dumps(value)[1:-1]
    for line in value.splitlines():
        yield line.strip()


class Redactor:
    """Replaces each known secret value, in each of its forms, by REDACTED."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._needles: list[str] = []
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        needles = set(self._needles)
        for value in values:
            needles.update(form for form in _forms(value) if len(form) >= MIN_LENGTH)
        # Longest first, so a value containing another is masked whole.
        self._needles = sorted(needles, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, REDACTED)
        return text
