"""Run the pinned `sops` binary with one tenant's keys and nothing else of the controller's.

sops decrypts with the age identities and OpenPGP keys of a Kustomization's decryption
Secret only: it runs with an empty environment and home, no cloud credentials, and
proxies that lead nowhere, so no KMS, Vault or metadata server of the controller's
own identity is reachable from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from eddy_artifacts.bounded import read_stream
from eddy_artifacts.errors import InputTooLarge
from eddy_runtime.reconciler import StepError

AGE_SUFFIX = ".agekey"
PGP_SUFFIX = ".asc"
# Credentials Flux accepts in the decryption Secret for KMS and Vault; eddy reaches
# no KMS, so a Secret holding them is refused rather than half used.
KMS_KEYS = ("sops.aws-kms", "sops.azure-kv", "sops.gcp-kms", "sops.vault-token")
# Flux's limit for one encrypted file.
MAX_FILE = 5 << 20
_MAX_OUTPUT = 4 * MAX_FILE
_MAX_ERRORS = 64 << 10
_TIMEOUT = 60.0
_NOWHERE = "http://127.0.0.1:9"

BINARY, DOTENV, INI, JSON, YAML = "binary", "dotenv", "ini", "json", "yaml"
# What shows that a document of each format is SOPS-encrypted (its MAC entry).
MARKERS = {
    BINARY: b'"mac": "ENC[',
    DOTENV: b"sops_mac=ENC[",
    INI: b"[sops]",
    JSON: b'"mac": "ENC[',
    YAML: b"mac: ENC[",
}
# sops quotes the value it could not read; that value may be plaintext.
_QUOTED_INPUT = re.compile(r"Input string .*? does not match", re.DOTALL)


class DecryptionError(StepError):
    """An encrypted file or object could not be decrypted; the message names it and why.

    Its reason is the build step's (BuildFailed), as Flux reports it."""

    def __init__(self, message: str, stalled: bool = False) -> None:
        super().__init__(message, stalled=stalled)


def format_for(path: str) -> str:
    """The sops format a file name implies, as sops (and Flux, for Docker configs) read it."""
    name = path.lower()
    if name.endswith((".yaml", ".yml")):
        return YAML
    if name.endswith((".json", ".dockerconfigjson")):
        return JSON
    if name.endswith(".env"):
        return DOTENV
    if name.endswith(".ini"):
        return INI
    return BINARY


def encrypted_format(data: bytes) -> str | None:
    """The format whose SOPS marker `data` carries, if any."""
    for name in (YAML, JSON, DOTENV, INI):
        if MARKERS[name] in data:
            return name
    return None


def sops_binary(configured: str) -> str:
    """An absolute path for the binary: sops runs with an empty PATH."""
    if os.sep in configured:
        return str(Path(configured).resolve())
    return shutil.which(configured) or configured


class Keyring:
    """A private directory holding one tenant's age identities and OpenPGP keyring."""

    def __init__(self, binary: str, base: Path) -> None:
        self.binary = binary
        self.home = Path(tempfile.mkdtemp(prefix="sops-", dir=base))
        self.home.chmod(0o700)
        self.gnupg = self.home / "gnupg"
        self.gnupg.mkdir(mode=0o700)
        self.age_file = self.home / "age.txt"
        self.gpg = shutil.which("gpg") or "/usr/bin/gpg"
        self._agent = False

    async def load(self, keys: Mapping[str, bytes], source: str) -> None:
        """Take the `*.agekey` and `*.asc` entries of the Secret named `source`."""
        kms = sorted(k for k in keys if k in KMS_KEYS)
        if kms:
            raise DecryptionError(
                f"{', '.join(kms)} in {source}: eddy decrypts with age and OpenPGP keys only "
                "(no KMS or Vault); add the age or OpenPGP key the files are encrypted for",
                stalled=True,
            )
        identities: list[str] = []
        for name in sorted(keys):
            if name.endswith(AGE_SUFFIX):
                identities.append(_age_identities(name, keys[name], source))
            elif name.endswith(PGP_SUFFIX):
                await self._import_pgp(name, keys[name], source)
        fd = os.open(self.age_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(identities) + "\n")

    async def _import_pgp(self, name: str, key: bytes, source: str) -> None:
        self._agent = True
        code, _, err = await self._run([self.gpg, "--batch", "--import"], key)
        if code != 0:
            detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["gpg failed"]
            raise DecryptionError(
                f"cannot import '{name}' from {source} as an OpenPGP key: {detail[0]}"
            )

    def environment(self) -> dict[str, str]:
        return {
            "PATH": "",
            "HOME": str(self.home),
            "GNUPGHOME": str(self.gnupg),
            "SOPS_GPG_EXEC": self.gpg,
            "SOPS_AGE_KEY_FILE": str(self.age_file),
            "HTTP_PROXY": _NOWHERE,
            "HTTPS_PROXY": _NOWHERE,
            "http_proxy": _NOWHERE,
            "https_proxy": _NOWHERE,
            "NO_PROXY": "",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "GCE_METADATA_HOST": "127.0.0.1:9",
            "GOOGLE_APPLICATION_CREDENTIALS": os.devnull,
            "VAULT_ADDR": _NOWHERE,
        }

    async def _run(self, argv: list[str], stdin: bytes) -> tuple[int, bytes, bytes]:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=str(self.home), env=self.environment(),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except OSError as failed:
            raise DecryptionError(f"cannot run {argv[0]}: {failed}") from failed
        try:
            out, err = await asyncio.wait_for(_communicate(proc, stdin), _TIMEOUT)
        except (TimeoutError, InputTooLarge) as caught:
            proc.kill()
            await proc.communicate()
            raise DecryptionError(f"{Path(argv[0]).name}: {caught or 'timed out'}") from None
        return proc.returncode or 0, out, err

    async def decrypt(
        self, data: bytes, input_format: str, output_format: str, what: str, check_mac: bool = True
    ) -> bytes:
        """`data` decrypted; DecryptionError naming `what` when sops refuses.

        The MAC is checked unless `check_mac` is false (an object kustomize changed
        after its file's MAC was checked).
        """
        if len(data) > MAX_FILE:
            raise DecryptionError(f"{what}: {len(data)} bytes is over the {MAX_FILE} bytes limit")
        path = self.home / f"input.{os.urandom(8).hex()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        argv = [self.binary, "decrypt", "--input-type", input_format]
        argv += ["--output-type", output_format]
        if not check_mac:
            argv.append("--ignore-mac")
        try:
            code, stdout, stderr = await self._run([*argv, str(path)], b"")
        finally:
            path.unlink(missing_ok=True)
        if code != 0:
            raise DecryptionError(f"{what}: {_explain(stderr.decode(errors='replace'), path)}")
        return stdout

    async def close(self) -> None:
        if self._agent:
            gpgconf = shutil.which("gpgconf") or "/usr/bin/gpgconf"
            with contextlib.suppress(DecryptionError):
                await self._run([gpgconf, "--kill", "gpg-agent"], b"")
        await asyncio.to_thread(shutil.rmtree, self.home, True)


async def _communicate(proc: asyncio.subprocess.Process, stdin: bytes) -> tuple[bytes, bytes]:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    try:
        async with asyncio.TaskGroup() as group:
            out = group.create_task(read_stream(proc.stdout, _MAX_OUTPUT, "sops' output"))
            err = group.create_task(read_stream(proc.stderr, _MAX_ERRORS, "sops' errors"))
    except* InputTooLarge as caught:
        raise caught.exceptions[0] from None
    await proc.wait()
    return out.result(), err.result()


def _age_identities(name: str, value: bytes, source: str) -> str:
    text = value.decode(errors="replace")
    lines = [line.strip() for line in text.splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    if not keys or not all(line.startswith("AGE-SECRET-KEY-") for line in keys):
        raise DecryptionError(
            f"'{name}' in {source} is not an age identity (want lines starting "
            "'AGE-SECRET-KEY-', as age-keygen writes them)"
        )
    return "\n".join(keys)


def _explain(stderr: str, path: Path) -> str:
    """sops' error in a sentence a person can act on, with no value from the file."""
    text = _QUOTED_INPUT.sub("Input string <redacted> does not match", stderr)
    text = text.replace(str(path), "the file").strip()
    if "MAC mismatch" in text:
        return (
            "the MAC does not match the content (the file was changed after it was "
            "encrypted); encrypt it again with sops"
        )
    if any(
        marker in text
        for marker in (
            "Failed to get the data key",
            "Error getting data key",
            "0 successful groups required",
        )
    ):
        return (
            "none of the keys in the decryption Secret can decrypt it (encrypted for other "
            "age recipients or OpenPGP keys); add the matching private key to "
            "spec.decryption.secretRef"
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "sops: " + ("; ".join(lines[:3])[:500] or "decryption failed")
