"""Verify the OpenPGP signature of a commit against the public keys a Secret holds.

GnuPG checks the signature in a keyring made for this one check, holding only those
keys: a commit is trusted when one of them made a good signature over it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

PGP_SUFFIX = ".asc"
SSH_SUFFIX = ".sshpub"
_TIMEOUT = 30.0


class VerificationError(Exception):
    """The signature is missing, bad, or made by a key the Secret does not hold."""


def _gpg() -> str:
    return shutil.which("gpg") or "/usr/bin/gpg"


async def _run(argv: list[str], home: Path, stdin: bytes = b"") -> tuple[int, str, str]:
    env = {"PATH": "", "HOME": str(home), "GNUPGHOME": str(home), "LANG": "C"}
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=str(home), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), _TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise VerificationError("gpg did not answer in time") from None
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def verify_commit(
    payload: bytes, signature: bytes | None, keys: Mapping[str, bytes], source: str
) -> str:
    """The fingerprint of the key in `keys` (`*.asc` entries of `source`) that signed
    `payload` (the commit without its signature); VerificationError says why not."""
    if not signature:
        raise VerificationError("the commit is not signed")
    if signature.lstrip().startswith(b"-----BEGIN SSH SIGNATURE"):
        raise VerificationError("the commit has an SSH signature; eddy verifies OpenPGP only")
    armored = {k: v for k, v in keys.items() if k.endswith(PGP_SUFFIX)}
    if not armored:
        raise VerificationError(f"{source} holds no OpenPGP public key (an entry named *.asc)")
    home = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "gpg-verify-"))
    try:
        # mkdtemp made it private (0700), as GnuPG wants its home.
        for name in sorted(armored):
            code, _, _ = await _run([_gpg(), "--batch", "--import"], home, armored[name])
            if code != 0:
                raise VerificationError(f"'{name}' in {source} is not an OpenPGP public key")
        await asyncio.to_thread((home / "commit").write_bytes, payload)
        await asyncio.to_thread((home / "commit.sig").write_bytes, signature)
        argv = [_gpg(), "--batch", "--status-fd", "1", "--verify", "commit.sig", "commit"]
        _, status, _ = await _run(argv, home)
    finally:
        gpgconf = shutil.which("gpgconf") or "/usr/bin/gpgconf"
        with contextlib.suppress(OSError, VerificationError):
            await _run([gpgconf, "--kill", "all"], home)
        await asyncio.to_thread(shutil.rmtree, home, True)
    return _fingerprint(status, source)


def _fingerprint(status: str, source: str) -> str:
    lines = [line.split() for line in status.splitlines() if line.startswith("[GNUPG:] ")]
    found = {parts[1]: parts[2:] for parts in lines if len(parts) > 1}
    if "VALIDSIG" in found and "GOODSIG" in found and found["VALIDSIG"]:
        return found["VALIDSIG"][0]
    if "BADSIG" in found:
        raise VerificationError("the signature does not match the commit (BADSIG)")
    if "NO_PUBKEY" in found or "ERRSIG" in found:
        key = (found.get("NO_PUBKEY") or found.get("ERRSIG") or ["?"])[0]
        raise VerificationError(f"signed with key {key}, which {source} does not hold")
    if "EXPKEYSIG" in found or "REVKEYSIG" in found:
        raise VerificationError("signed with an expired or revoked key")
    raise VerificationError("no good signature by a key of " + source)
