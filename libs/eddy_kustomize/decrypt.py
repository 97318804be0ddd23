"""SOPS decryption around a kustomize build, where Flux does it and with the MAC checked.

Before the build, the files secretGenerators and patches read are decrypted in
place (kustomize cannot read them encrypted), and the MAC of every encrypted resource
file is checked as it is in Git. After the build, encrypted objects and Secret values
that hold an encrypted file are decrypted. kustomize changes objects (namespace,
labels), so an object's MAC is checked on its file before the build, not after.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from eddy_api.kustomize import GROUP
from eddy_kustomize.generate import BuildError, find_kustomization, load_kustomization, relative
from eddy_kustomize.objects import Obj, annotation, describe

from .sops import (
    BINARY,
    DOTENV,
    INI,
    JSON,
    MARKERS,
    MAX_FILE,
    YAML,
    Keyring,
    encrypted_format,
    format_for,
)
from .sops import DecryptionError as DecryptionError

DECRYPT_ANNOTATION = f"{GROUP}/decrypt"  # "disabled": leave this object encrypted


def decryption_disabled(obj: Obj) -> bool:
    return (annotation(obj, DECRYPT_ANNOTATION) or "").lower() == "disabled"


def is_encrypted(obj: Obj) -> bool:
    meta = obj.get("sops")
    return isinstance(meta, dict) and bool(meta.get("mac"))


def refuse_encrypted(objects: list[Obj]) -> None:
    """Refuse to apply an encrypted Secret when the Kustomization does not decrypt."""
    for obj in objects:
        secret = obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"
        if secret and "sops" in obj and not decryption_disabled(obj):
            raise BuildError(
                f"{describe(obj)} is SOPS encrypted, configuring decryption is required for "
                "this secret to be reconciled (set spec.decryption)"
            )


@dataclass
class Decryptor:
    """Decrypts one build's files and objects with one tenant's keys."""

    keyring: Keyring
    root: Path
    # MACs of the encrypted documents whose file sops checked before the build.
    verified: set[str] = field(default_factory=set)
    # Every decrypted value, so that messages can mask them.
    values: list[str] = field(default_factory=list)
    _seen: set[Path] = field(default_factory=set)

    # -- before the build ---------------------------------------------------------

    async def decrypt_sources(self, directory: Path) -> None:
        """Walk the kustomization at `directory` and those it includes, as Flux does."""
        pending, visited = [directory], set()
        while pending:
            current = pending.pop()
            if current in visited:
                continue
            visited.add(current)
            found = find_kustomization(current)
            if found is None:
                continue
            document = load_kustomization(found, self.root)
            for generator in document.get("secretGenerator") or []:
                await self._generator_sources(current, generator)
            for patch in document.get("patches") or []:
                path = patch.get("path") if isinstance(patch, dict) else None
                if isinstance(path, str) and not _remote(path):
                    await self._decrypt_in_place(current, path, format_for(path))
            for entry in [*(document.get("resources") or []), *(document.get("components") or [])]:
                if not isinstance(entry, str) or _remote(entry):
                    continue
                target = self._inside(current, entry)
                if target is None:
                    continue
                if target.is_dir():
                    pending.append(target)
                elif format_for(entry) in (YAML, JSON) and target.is_file():
                    await self._check_resource_file(target)

    async def _generator_sources(self, directory: Path, generator: Any) -> None:
        if not isinstance(generator, dict):
            return
        for source in generator.get("files") or []:
            if not isinstance(source, str):
                continue
            key, _, path = source.partition("=")
            await self._decrypt_in_place(directory, path or key, format_for(key))
        envs = list(generator.get("envs") or [])
        if isinstance(generator.get("env"), str):
            envs.append(generator["env"])
        for env in envs:
            if isinstance(env, str):
                kind = format_for(env)
                await self._decrypt_in_place(directory, env, DOTENV if kind == BINARY else kind)

    def _inside(self, directory: Path, entry: str) -> Path | None:
        """The path `entry` names from `directory`, if it stays inside the artifact."""
        target = (directory / entry).resolve()
        return target if target.is_relative_to(self.root.resolve()) else None

    def _read(self, path: Path) -> bytes | None:
        if not path.is_file() or path.is_symlink():
            return None
        if path.stat().st_size > MAX_FILE:
            raise DecryptionError(
                f"{relative(path, self.root)}: over the {MAX_FILE} bytes limit for a file "
                "to decrypt"
            )
        return path.read_bytes()

    async def _decrypt_in_place(self, directory: Path, entry: str, kind: str) -> None:
        target = self._inside(directory, entry)
        if target is None or target in self._seen:
            return
        data = self._read(target)
        if data is None or MARKERS[kind] not in data:
            return
        name = relative(target, self.root)
        plain = await self.keyring.decrypt(data, kind, kind, f"decrypting {name}")
        self._seen.add(target)
        self.values.extend(_values(data, plain, kind))
        # Replaced, not written through: the file may be a hard link into a cache.
        target.unlink()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(plain)

    async def _check_resource_file(self, path: Path) -> None:
        """Check with sops the MAC of a resource file that holds encrypted documents."""
        if path in self._seen:
            return
        self._seen.add(path)
        data = self._read(path)
        kind = format_for(str(path))
        if data is None or MARKERS[kind] not in data:
            return
        try:
            documents = (
                [json.loads(data)]
                if kind == JSON
                else list(yaml.load_all(data, Loader=yaml.CSafeLoader))
            )
        except (ValueError, yaml.YAMLError):
            return  # kustomize names what is wrong with it
        encrypted = [d for d in documents if isinstance(d, dict) and is_encrypted(d)]
        if not encrypted or all(decryption_disabled(d) for d in encrypted):
            return
        name = relative(path, self.root)
        await self.keyring.decrypt(data, kind, kind, f"decrypting {name}")
        self.verified.update(str(d["sops"]["mac"]) for d in encrypted)

    # -- after the build ------------------------------------------------------------

    async def decrypt_objects(self, objects: list[Obj]) -> list[Obj]:
        out: list[Obj] = []
        for obj in objects:
            if decryption_disabled(obj):
                out.append(obj)
            elif is_encrypted(obj):
                out.append(await self._decrypt_object(obj))
            elif obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
                out.append(await self._decrypt_values(obj))
            else:
                out.append(obj)
        return out

    async def _decrypt_object(self, obj: Obj) -> Obj:
        checked = str(obj["sops"]["mac"]) in self.verified
        data = json.dumps(obj).encode()
        plain = await self.keyring.decrypt(
            data, JSON, JSON, f"decrypting {describe(obj)}", check_mac=not checked
        )
        try:
            decrypted = json.loads(plain)
        except ValueError as err:
            raise DecryptionError(f"decrypting {describe(obj)}: sops wrote no JSON") from err
        if not isinstance(decrypted, dict):
            raise DecryptionError(f"decrypting {describe(obj)}: sops wrote no object")
        self.values.extend(_secret_leaves(obj, decrypted))
        if decrypted.get("kind") == "Secret":
            _fold_string_data(decrypted)
        return decrypted

    async def _decrypt_values(self, obj: Obj) -> Obj:
        data = obj.get("data")
        if not isinstance(data, dict):
            return obj
        changed = dict(data)
        for key, value in data.items():
            try:
                raw = base64.b64decode(str(value), validate=True)
            except ValueError:
                continue
            kind = encrypted_format(raw)
            if kind is None:
                continue
            what = f"decrypting field '{key}' of {describe(obj)}"
            plain = await self.keyring.decrypt(raw, kind, format_for(key), what)
            self.values.extend(_values(raw, plain, format_for(key)))
            changed[key] = base64.b64encode(plain).decode()
        return {**obj, "data": changed}

    async def close(self) -> None:
        await self.keyring.close()


def _remote(path: str) -> bool:
    parsed = urlparse(path)
    return bool(parsed.scheme and parsed.netloc)


def _fold_string_data(secret: Obj) -> None:
    """stringData into data, as Flux applies Secrets: a key dropped from stringData
    then leaves data too."""
    string_data = secret.pop("stringData", None)
    if not isinstance(string_data, dict):
        return
    data = dict(secret.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    secret["data"] = data


def _secret_leaves(encrypted: Any, plain: Any) -> list[str]:
    """The plaintext of each leaf that was encrypted ("ENC[...]"), also base64-decoded."""
    if isinstance(encrypted, dict) and isinstance(plain, dict):
        return [
            leaf
            for key, value in encrypted.items()
            if key != "sops"
            for leaf in _secret_leaves(value, plain.get(key))
        ]
    if isinstance(encrypted, list) and isinstance(plain, list):
        return [
            leaf for e, p in zip(encrypted, plain, strict=False) for leaf in _secret_leaves(e, p)
        ]
    if not (isinstance(encrypted, str) and encrypted.startswith("ENC[")) or plain is None:
        return []
    text = str(plain)
    out = [text]
    with contextlib.suppress(ValueError):
        out.append(base64.b64decode(text, validate=True).decode())
    return out


def _pairs(text: str) -> dict[str, str]:
    """`key=value` lines of a dotenv or INI file, keyed by section and key."""
    found: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped
        elif "=" in stripped and not stripped.startswith(("#", ";")):
            key, _, value = stripped.partition("=")
            found[f"{section}{key.strip()}"] = value.strip()
    return found


def _values(encrypted: bytes, plain: bytes, kind: str) -> list[str]:
    """The values that were encrypted in a file, in plaintext, for masking."""
    text = plain.decode(errors="replace")
    cipher = encrypted.decode(errors="replace")
    if kind in (DOTENV, INI):
        return _secret_leaves(_pairs(cipher), _pairs(text))
    if kind in (YAML, JSON):
        try:
            before = list(yaml.load_all(cipher, Loader=yaml.CSafeLoader))
            after = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
        except yaml.YAMLError:
            return [text]
        return _secret_leaves(before, after)
    return [text]
