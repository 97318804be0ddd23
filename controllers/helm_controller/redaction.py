"""Masks strings that came from Secrets in every message a HelmRelease writes.

Helm quotes values back in its errors (a failed schema check, a bad template);
status, Events and logs must never carry a value read from a Secret.
"""

from __future__ import annotations

from collections.abc import Iterable

from eddy_runtime.logs import REDACTED

# Shorter strings would match everywhere and hide nothing a guess would not find.
MIN_LENGTH = 4


class Redactor:
    def __init__(self) -> None:
        self._needles: list[str] = []

    def add(self, values: Iterable[str]) -> None:
        found = set(self._needles)
        for value in values:
            for line in [value, *value.splitlines()]:
                if len(line.strip()) >= MIN_LENGTH:
                    found.add(line.strip())
        # Longest first, so a value containing another is masked whole.
        self._needles = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for needle in self._needles:
            text = text.replace(needle, REDACTED)
        return text
