"""`eddy push artifact`: a directory as a Flux OCI artifact, for OCIRepository sources.

The layer is the same deterministic tar.gz the source-controller builds, so the
same files give the same digest; the origin goes into Flux's annotations.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import tempfile
from pathlib import Path

import aiohttp
import click

from eddy_artifacts.archive import build_archive_async
from eddy_artifacts.ignore import source_ignore_rules
from eddy_oci import OCIError, RegistryClient, basic_auth, parse_reference, push_artifact
from eddy_oci.reference import Reference

from ..errors import CliError
from ..output import data, output_option, step, success

EXAMPLES = """\b
Examples:
  eddy push artifact oci://registry.example.com/manifests/app:$(git rev-parse --short HEAD) \\
      --path ./deploy \\
      --source "$(git config --get remote.origin.url)" \\
      --revision "$(git branch --show-current)@sha1:$(git rev-parse HEAD)"
\b
  # A registry on plain HTTP, with credentials given on the command line
  eddy push artifact oci://localhost:5000/app:dev --path . --insecure-registry \\
      --creds "$USER:$TOKEN"
\b
Without --creds, credentials come from the Docker config ($DOCKER_CONFIG or ~/.docker).
"""


@click.group()
def command() -> None:
    """Publish to OCI registries."""


def docker_credentials(host: str) -> str | None:
    """The basic Authorization for `host` from the Docker config, if it has one."""
    folder = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    path = folder / "config.json"
    if not path.is_file():
        return None
    try:
        auths = json.loads(path.read_text()).get("auths") or {}
    except (OSError, ValueError, AttributeError):
        raise CliError(f"{path} is not valid JSON; fix it or pass --creds") from None
    for key, entry in auths.items():
        if key.split("://", 1)[-1].split("/", 1)[0] != host or not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            return "Basic " + str(entry["auth"])
        if entry.get("username") and entry.get("password"):
            return basic_auth(str(entry["username"]), str(entry["password"]))
    return None


async def _push(
    reference: Reference,
    path: Path,
    source: str,
    revision: str,
    annotations: dict[str, str],
    creds: str | None,
    insecure: bool,
    ca_file: str,
    ignore: str,
) -> dict[str, object]:
    tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
    with tempfile.TemporaryDirectory(prefix="eddy-push-") as tmp:
        rules = source_ignore_rules(path, ignore or None)
        built = await build_archive_async(path, Path(tmp) / "artifact.tar.gz", rules.ignored)
        layer = await asyncio.to_thread(built.path.read_bytes)
    step(f"pushing {len(layer)} bytes to {reference}")
    async with aiohttp.ClientSession() as session:
        client = RegistryClient(session, reference.base_url(insecure), creds, tls)
        try:
            pushed = await push_artifact(client, reference, layer, source, revision, annotations)
        except OCIError as err:
            raise CliError(err.message) from err
        except aiohttp.ClientConnectorCertificateError:
            raise CliError(
                f"TLS verification of {reference.host} failed; pass its CA with --ca-file"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            hint = "" if insecure else "; for a plain-HTTP registry add --insecure-registry"
            raise CliError(f"cannot reach registry {reference.host}: {err}{hint}") from None
    return {
        "reference": str(reference),
        "digest": pushed.digest,
        "url": f"oci://{reference.name}@{pushed.digest}",
        "layerDigest": pushed.layer_digest,
        "size": pushed.size,
    }


@command.command("artifact", epilog=EXAMPLES)
@click.argument("url", metavar="oci://HOST/REPOSITORY:TAG")
@click.option(
    "--path",
    "path",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory whose files go into the artifact.",
)
@click.option("--source", default="", help="Where the files come from, e.g. the Git URL.")
@click.option("--revision", default="", help="Their revision, e.g. main@sha1:<commit>.")
@click.option(
    "-a", "--annotations", multiple=True, metavar="KEY=VALUE", help="Extra manifest annotations."
)
@click.option("--creds", default="", envvar="EDDY_REGISTRY_CREDS", help="USER:PASSWORD.")
@click.option("--insecure-registry", is_flag=True, help="Use plain HTTP.")
@click.option("--ca-file", default="", help="CA certificate to verify the registry with.")
@click.option(
    "--ignore-paths", default="", help="Extra .sourceignore-style patterns, comma-separated."
)
@output_option()
def artifact(
    url: str,
    path: Path,
    source: str,
    revision: str,
    annotations: tuple[str, ...],
    creds: str,
    insecure_registry: bool,
    ca_file: str,
    ignore_paths: str,
    output: str,
) -> None:
    """Push the files under --path as a Flux OCI artifact."""
    try:
        reference = parse_reference(url)
    except OCIError as err:
        raise CliError(err.message) from err
    if not path.is_dir():
        raise CliError(f"--path {path} is not a directory")
    extra: dict[str, str] = {}
    for item in annotations:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"annotation {item!r} is not KEY=VALUE")
        extra[key] = value
    if creds:
        user, sep, password = creds.partition(":")
        if not sep:
            raise CliError("--creds must be USER:PASSWORD")
        header: str | None = basic_auth(user, password)
    else:
        header = docker_credentials(reference.host)
    patterns = "\n".join(p.strip() for p in ignore_paths.split(",") if p.strip())
    result = asyncio.run(
        _push(
            reference, path, source, revision, extra, header, insecure_registry, ca_file, patterns
        )
    )
    if output == "text":
        success(f"artifact pushed to {result['url']}")
    else:
        data(result, output)
