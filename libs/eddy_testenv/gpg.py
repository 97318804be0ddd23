"""OpenPGP keys for tests, made by the real GnuPG in a home of their own.

Signed commits and SOPS files encrypted for OpenPGP need a key pair; each test makes
its own, without a passphrase, and stops the agent GnuPG started when it is done.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory


@dataclass(frozen=True)
class GpgKey:
    home: Path  # GNUPGHOME holding the key, for gpg, git and sops
    fingerprint: str
    secret: str  # ASCII-armored secret key
    public: str  # ASCII-armored public key

    @property
    def env(self) -> dict[str, str]:
        return {"GNUPGHOME": str(self.home)}


def _gpg(home: Path, *args: str) -> str:
    env = {"PATH": os.environ.get("PATH", ""), "GNUPGHOME": str(home)}
    quiet = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    done = subprocess.run([*quiet, *args], env=env, capture_output=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"gpg {args[0]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode()


def new_key(home: Path, name: str = "eddy test") -> GpgKey:
    """A new passphrase-less signing and encryption key in GnuPG home `home`."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    _gpg(home, "--quick-gen-key", f"{name} <test@eddy.invalid>", "future-default", "default",
         "never")  # fmt: skip
    listing = _gpg(home, "--with-colons", "--list-secret-keys")
    fpr = next(line for line in listing.splitlines() if line.startswith("fpr"))
    fingerprint = fpr.split(":")[9]
    secret = _gpg(home, "--armor", "--export-secret-keys", fingerprint)
    public = _gpg(home, "--armor", "--export", fingerprint)
    return GpgKey(home, fingerprint, secret, public)


@contextmanager
def gpg_key(name: str = "eddy test") -> Iterator[GpgKey]:
    """A key in a temporary GnuPG home, removed (and its agent stopped) afterwards."""
    with TemporaryDirectory(prefix="gpg-") as tmp:
        home = Path(tmp) / "home"
        try:
            yield new_key(home, name)
        finally:
            env = {"PATH": os.environ.get("PATH", ""), "GNUPGHOME": str(home)}
            subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, timeout=30)
