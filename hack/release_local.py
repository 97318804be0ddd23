"""`make release-local`: the CI workflow's release steps against a registry on loopback.

Starts an OCI registry, runs hack/release.sh (the script the workflow's release
job runs) for this machine's architecture, then reads back what a cluster would
pull: the image index, its platforms and the image's config.

The workflow signs keyless with cosign, which needs Sigstore's public services.
Here the index is signed with a key made for the run, in cosign's format (the
simple-signing payload under the `sha256-<hex>.sig` tag), and the signature is
then verified the way an OCIRepository's `verify` checks one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec

from eddy_oci import cosign
from eddy_oci.client import OCIError, RegistryClient
from eddy_testenv import ProcessError
from eddy_testenv.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def version() -> str:
    for line in (ROOT / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise SystemExit("no version in pyproject.toml")


def release(registry: Registry, tag: str, arches: list[str]) -> dict[str, object]:
    """Run the release script; the pushed image's index, platforms and config."""
    reference = f"{registry.host}/eddy:{tag}"
    done = subprocess.run(
        [str(ROOT / "hack" / "release.sh"), reference, *arches],
        env={**os.environ, "EDDY_RELEASE_SIGNER": "none"},
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise ProcessError(f"hack/release.sh failed with exit code {done.returncode}")
    digest = done.stdout.strip().splitlines()[-1]
    status, _, body = registry.request(f"/v2/eddy/manifests/{digest}", headers={"Accept": INDEX})
    if status != 200:
        raise ProcessError(f"the pushed index {digest} is not in the registry (HTTP {status})")
    index = json.loads(body)
    platforms = [m["platform"]["architecture"] for m in index["manifests"]]
    first = index["manifests"][0]["digest"]
    _, _, body = registry.request(f"/v2/eddy/manifests/{first}", headers={"Accept": MANIFEST})
    config_digest = json.loads(body)["config"]["digest"]
    _, _, body = registry.request(f"/v2/eddy/blobs/{config_digest}")
    config = json.loads(body)["config"]
    return {"reference": reference, "digest": digest, "platforms": platforms, "config": config}


async def sign_and_verify(host: str, repository: str, digest: str) -> str:
    """Sign `host/repository@digest` with a new key; the name of the key that verifies it."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    trusted = [cosign.TrustedKey("release.pub", private_key.public_key())]
    async with aiohttp.ClientSession() as session:
        client = RegistryClient(session, f"http://{host}")
        await cosign.push_signature(client, repository, digest, private_key)
        return (await cosign.verify(client, repository, digest, trusted)).name


def main() -> int:
    arches = sys.argv[1:]
    with Registry() as registry:
        try:
            result = release(registry, version(), arches)
            signed_by = asyncio.run(sign_and_verify(registry.host, "eddy", str(result["digest"])))
        except (ProcessError, OCIError) as err:
            print(f"release-local failed: {err}", file=sys.stderr)
            return 1
    config = result["config"]
    assert isinstance(config, dict)
    print(f"pushed {result['reference']}@{result['digest']}")
    print(f"platforms: {', '.join(map(str, result['platforms']))}")
    print(f"user {config.get('User')}, command {config.get('Cmd')}, env {config.get('Env')}")
    print(f"signed in cosign's format; the signature verifies with {signed_by}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
