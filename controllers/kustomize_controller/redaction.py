"""Masks values that came from Secrets in every message a Kustomization writes.

A value substituted from a Secret can come back inside an API server error (an
invalid label echoes its value); status, Events and logs must never carry it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from eddy_runtime.logs import REDACTED

# Shorter values would match everywhere (in names, revisions, numbers) and leave
# messages unreadable while hiding nothing a guess would not find.
MIN_LENGTH = 4


class Redactor:
    """Replaces each known secret value, also as it appears JSON-escaped, by REDACTED."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._needles: list[str] = []
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        needles = set(self._needles)
        for value in values:
            for form in (value, value.strip(), json.dumps(value)[1:-1]):
                if len(form) >= MIN_LENGTH:
                    needles.add(form)
        # Longest first, so a value containing another is masked whole.
        self._needles = sorted(needles, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, REDACTED)
        return text
