"""SOPS decryption: files encrypted by the real `sops` with real age and OpenPGP keys,
decrypted by the controller and applied; a wrong key, a tampered file and a missing
decryption each fail by name, keep what was applied, and never show a value."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.resources import SECRETS, ResourceClient
from eddy_testenv.gpg import gpg_key
from eddy_testenv.observe import condition, events_for
from eddy_testenv.process import find_binary

from .conftest import StartController
from .support import KUSTOMIZATIONS, Sources, create_kustomization, eventually, ready

pytestmark = pytest.mark.integration

# Every value that is encrypted in Git; none may ever show in status, Events or logs.
PLAIN = {
    "yaml": "yaml-plain-4711",
    "json": "json-plain-4712",
    "config": "config-plain-4713",
    "binary": "binary-plain-4714",
    "ini": "ini-plain-4715",
    "env": "env-plain-4716",
    "embedded": "embedded-plain-4717",
}
SECRET_REGEX = "^(data|stringData)$"

SECRET_YAML = f"""apiVersion: v1
kind: Secret
metadata:
  name: from-yaml
  labels:
    tier: backend
stringData:
  password: {PLAIN["yaml"]}
"""
KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - secret.yaml
  - secret.json
  - embedded.yaml
secretGenerator:
  - name: generated
    files:
      - config.yaml
      - key.bin
      - settings.ini
    envs:
      - app.env
generatorOptions:
  disableNameSuffixHash: true
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _run(argv: list[str], cwd: str, env: dict[str, str], stdin: bytes = b"") -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def age_key() -> tuple[str, str]:
    """(identity, recipient) from Debian's age-keygen."""
    with tempfile.TemporaryDirectory() as tmp:
        out = _run(["age-keygen"], tmp, {"PATH": os.environ["PATH"]})
    identity = next(line for line in out.splitlines() if line.startswith("AGE-SECRET-KEY-"))
    recipient = next(line for line in out.splitlines() if "public key:" in line).split()[-1]
    return identity, recipient


def encrypt(
    text: str, kind: str, *, age: str = "", pgp: str = "", gnupg: str = "", regex: str = ""
) -> str:
    """`text` encrypted by the real sops, in its `kind` format (yaml, json, dotenv, ini, binary)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "plain")
        path.write_text(text)
        argv = [find_binary("sops"), "encrypt", "--input-type", kind, "--output-type", kind]
        argv += ["--age", age] if age else ["--pgp", pgp]
        if regex:
            argv += ["--encrypted-regex", regex]
        env = {"PATH": os.environ["PATH"], "HOME": tmp, "GNUPGHOME": gnupg or tmp}
        return _run([*argv, str(path)], tmp, env)


def repository(**keys: str) -> dict[str, str]:
    """A directory of every kind of encrypted file sops and Flux know."""
    secret_json = (
        '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "from-json"}, '
        f'"data": {{"token": "{_b64(PLAIN["json"])}"}}}}'
    )
    embedded_env = encrypt(f"CREDENTIALS={PLAIN['embedded']}\n", "dotenv", **keys)
    embedded = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: embedded\n"
        f"data:\n  creds.env: {_b64(embedded_env)}\n"
    )
    return {
        "app/kustomization.yaml": KUSTOMIZATION,
        "app/secret.yaml": encrypt(SECRET_YAML, "yaml", regex=SECRET_REGEX, **keys),
        "app/secret.json": encrypt(secret_json, "json", regex=SECRET_REGEX, **keys),
        "app/embedded.yaml": embedded,
        "app/config.yaml": encrypt(f"db:\n  password: {PLAIN['config']}\n", "yaml", **keys),
        "app/key.bin": encrypt(f"{PLAIN['binary']}\n", "binary", **keys),
        "app/settings.ini": encrypt(f"[auth]\ntoken = {PLAIN['ini']}\n", "ini", **keys),
        "app/app.env": encrypt(f"API_KEY={PLAIN['env']}\n", "dotenv", **keys),
    }


async def keys_secret(kube: ResourceClient, namespace: str, name: str, **entries: str) -> None:
    await kube.create(SECRETS, {
        "metadata": {"name": name, "namespace": namespace}, "stringData": entries,
    })  # fmt: skip


async def secret_values(kube: ResourceClient, namespace: str, name: str) -> dict[str, str]:
    secret = await kube.get(SECRETS, name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


async def failed_with(kube: ResourceClient, namespace: str, text: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        ready_condition = condition(obj, "Ready")
        if ready_condition.get("status") == "False" and text in ready_condition["message"]:
            return obj
        return None

    return await eventually(probe, timeout=30)


async def nothing_leaked(
    kube: ResourceClient, namespace: str, obj: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    written = [c.get("message", "") for c in obj["status"]["conditions"]]
    written += [e["message"] for e in await events_for(kube, namespace, "app", "Kustomization")]
    written += [r.getMessage() for r in caplog.records]
    leaked = [w for w in written for value in PLAIN.values() if value in w]
    assert not leaked, leaked


def assert_decrypted(values: dict[str, dict[str, str]]) -> None:
    assert values["from-yaml"] == {"password": PLAIN["yaml"]}
    assert values["from-json"] == {"token": PLAIN["json"]}
    assert values["embedded"] == {"creds.env": f"CREDENTIALS={PLAIN['embedded']}\n"}
    generated = values["generated"]
    assert generated["API_KEY"] == PLAIN["env"]
    assert generated["key.bin"] == f"{PLAIN['binary']}\n"
    assert PLAIN["config"] in generated["config.yaml"] and "sops" not in generated["config.yaml"]
    assert PLAIN["ini"] in generated["settings.ini"] and "sops" not in generated["settings.ini"]


async def applied_values(kube: ResourceClient, namespace: str) -> dict[str, dict[str, str]]:
    names = ("from-yaml", "from-json", "embedded", "generated")
    return {n: await secret_values(kube, namespace, n) for n in names}


async def test_age_encrypted_files_of_every_format_are_decrypted_and_applied(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    identity, recipient = age_key()
    files = await asyncio.to_thread(repository, age=recipient)
    good = await sources.publish("repo", files)
    await keys_secret(kube, namespace, "sops-keys", **{"identity.agekey": identity})
    await start_controller()
    decryption = {"provider": "sops", "secretRef": {"name": "sops-keys"}}
    await create_kustomization(kube, "app", namespace, path="./app", decryption=decryption)
    obj = await ready(kube, namespace, "app", good)
    assert_decrypted(await applied_values(kube, namespace))
    await nothing_leaked(kube, namespace, obj, caplog)

    # A value changed in Git after encryption: the MAC says so, nothing applied changes.
    tampered = files["app/secret.yaml"].replace("tier: backend", "tier: frontend")
    assert tampered != files["app/secret.yaml"]
    await sources.publish("repo", {**files, "app/secret.yaml": tampered})
    obj = await failed_with(kube, namespace, "app/secret.yaml")
    message = condition(obj, "Ready")["message"]
    assert "MAC does not match" in message, message
    assert condition(obj, "Ready")["reason"] == "BuildFailed"
    assert obj["status"]["lastAppliedRevision"] == good
    assert_decrypted(await applied_values(kube, namespace))
    await nothing_leaked(kube, namespace, obj, caplog)


async def test_a_wrong_key_or_no_decryption_fails_by_name_and_keeps_what_is_applied(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    identity, recipient = age_key()
    other, _ = age_key()
    good = await sources.publish("repo", await asyncio.to_thread(repository, age=recipient))
    await keys_secret(kube, namespace, "right", **{"identity.agekey": identity})
    await keys_secret(kube, namespace, "wrong", **{"identity.agekey": other})
    await start_controller()
    decryption = {"provider": "sops", "secretRef": {"name": "right"}}
    await create_kustomization(
        kube, "app", namespace, path="./app", decryption=decryption, retryInterval="2s"
    )
    await ready(kube, namespace, "app", good)

    wrong = {"spec": {"decryption": {"provider": "sops", "secretRef": {"name": "wrong"}}}}
    await kube.patch(KUSTOMIZATIONS, "app", wrong, namespace)
    obj = await failed_with(kube, namespace, "none of the keys")
    assert "decrypting app/" in condition(obj, "Ready")["message"]
    assert_decrypted(await applied_values(kube, namespace))
    await nothing_leaked(kube, namespace, obj, caplog)

    # Without spec.decryption an encrypted Secret is refused, as Flux refuses it.
    await kube.patch(KUSTOMIZATIONS, "app", {"spec": {"decryption": None}}, namespace)
    obj = await failed_with(kube, namespace, "is SOPS encrypted")
    assert "spec.decryption" in condition(obj, "Ready")["message"]
    assert_decrypted(await applied_values(kube, namespace))


async def test_openpgp_keys_decrypt_too(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
) -> None:  # fmt: skip
    with gpg_key() as key:
        files = await asyncio.to_thread(repository, pgp=key.fingerprint, gnupg=str(key.home))
    revision = await sources.publish("repo", files)
    await keys_secret(kube, namespace, "pgp-keys", **{"private.asc": key.secret})
    await start_controller()
    decryption = {"provider": "sops", "secretRef": {"name": "pgp-keys"}}
    await create_kustomization(kube, "app", namespace, path="./app", decryption=decryption)
    await ready(kube, namespace, "app", revision)
    assert_decrypted(await applied_values(kube, namespace))
