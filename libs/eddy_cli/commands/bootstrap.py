"""`eddy bootstrap git`: commit eddy's installation to a repository and reconcile it from there.

Pushes `<path>/flux-system/` (components and sync manifests), installs them,
and waits until the sync Kustomization has applied that very commit.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import click

import eddy_git
from eddy_git import Author, GitError

from .. import __version__
from ..bootstrap import (
    NAME,
    Repository,
    clean_path,
    push,
    repository_files,
    secret_object,
    sync_objects,
)
from ..errors import CliError
from ..installer import apply_all, install
from ..kube import Cluster, Settings, run
from ..manifests import Doc, render
from ..output import step, success, waiting
from ..resources import KUSTOMIZATIONS, condition
from .install import components_option, image_options, options_from

EXAMPLES = """\b
Examples:
  # HTTPS with a token (the cluster gets it too, in the Secret flux-system)
  EDDY_GIT_TOKEN=... eddy bootstrap git --url https://git.example.com/fleet.git \\
      --branch main --path clusters/dev
\b
  # HTTPS with a username and password
  EDDY_GIT_PASSWORD=... eddy bootstrap git --url https://git.example.com/fleet.git \\
      --username eddy --path clusters/dev
\b
  # SSH with a deploy key
  eddy bootstrap git --url ssh://git@git.example.com/fleet.git --path clusters/dev \\
      --private-key-file ~/.ssh/fleet --known-hosts-file ~/.ssh/known_hosts
\b
Re-running changes nothing when nothing changed; a new --tag is a new commit.
"""


@click.group()
def command() -> None:
    """Commit eddy's installation to a repository and reconcile it from there."""


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as err:
        raise CliError(f"cannot read {what} {path}: {err.strerror}") from None


def credentials(
    url: str,
    username: str,
    password: str,
    token: str,
    private_key_file: str,
    known_hosts_file: str,
    ca_file: str,
) -> dict[str, bytes]:
    """The Secret data Flux reads for this URL's scheme, from the options given."""
    try:
        scheme = eddy_git.scheme_of(url)
    except GitError as err:
        raise CliError(err.message) from err
    data: dict[str, bytes] = {}
    if scheme == "ssh":
        if not (private_key_file and known_hosts_file):
            raise CliError("an ssh:// URL needs --private-key-file and --known-hosts-file")
        data["identity"] = _read(private_key_file, "--private-key-file")
        data["known_hosts"] = _read(known_hosts_file, "--known-hosts-file")
        if password:
            data["password"] = password.encode()
        if username:
            data["username"] = username.encode()
        return data
    if private_key_file or known_hosts_file:
        raise CliError("--private-key-file and --known-hosts-file are for ssh:// URLs only")
    if token and (username or password):
        raise CliError("give either --token or --username/--password, not both")
    if token:
        data["bearerToken"] = token.encode()
    elif username or password:
        if not (username and password):
            raise CliError("--username and --password go together (or set EDDY_GIT_PASSWORD)")
        data["username"], data["password"] = username.encode(), password.encode()
    if ca_file:
        data["ca.crt"] = _read(ca_file, "--ca-file")
    return data


async def wait_synced(cluster: Cluster, namespace: str, commit: str, timeout: float) -> None:
    waiting(
        f"waiting up to {timeout:.0f}s for Kustomization {namespace}/{NAME} to apply {commit[:12]}"
    )
    deadline = time.monotonic() + timeout
    message = "not reconciled yet"
    while time.monotonic() < deadline:
        found = await cluster.client.get_or_none(KUSTOMIZATIONS, NAME, namespace)
        status = (found or {}).get("status") or {}
        ready = condition(found or {}, "Ready") or {}
        message = str(ready.get("message") or message)
        generation = int(((found or {}).get("metadata") or {}).get("generation") or 0)
        if (
            ready.get("status") == "True"
            and int(status.get("observedGeneration") or 0) >= generation
            and commit in str(status.get("lastAppliedRevision", ""))
        ):
            success(f"Kustomization {namespace}/{NAME} applied {status['lastAppliedRevision']}")
            return
        await asyncio.sleep(1.0)
    raise CliError(
        f"Kustomization {namespace}/{NAME} did not apply {commit[:12]} within {timeout:.0f}s "
        f"({message}); run `eddy check` to see whether the controllers run"
    )


async def bootstrap(
    cluster: Cluster,
    namespace: str,
    repo: Repository,
    components: list[Doc],
    sync: list[Doc],
    wait: bool,
    timeout: float,
) -> None:
    await cluster.version()  # fail on an unreachable cluster before writing to Git
    files = repository_files(repo.path, components, sync)
    step(f"committing {repo.path}/flux-system to {eddy_git.redact_url(repo.url)} ({repo.branch})")
    pushed = await push(repo, files, f"eddy {__version__}: components and sync manifests")
    if pushed.changed:
        success(f"pushed commit {pushed.commit}")
    else:
        success(f"already up to date at commit {pushed.commit}")
    await install(cluster, components, wait=False, timeout=timeout)
    extra = [secret_object(namespace, NAME, repo.secret)] if repo.secret else []
    step("applying the sync GitRepository and Kustomization")
    await apply_all(cluster, [*extra, *sync])
    if wait:
        await wait_synced(cluster, namespace, pushed.commit, timeout)


@command.command("git", epilog=EXAMPLES)
@click.option("--url", required=True, help="Repository URL: https://, http:// or ssh://.")
@click.option("--branch", default="main", show_default=True, help="Branch to commit to.")
@click.option("--path", "path", required=True, help="Folder for this cluster, e.g. clusters/dev.")
@click.option("-u", "--username", default="", help="HTTP basic auth user.")
@click.option(
    "--password",
    default="",
    envvar="EDDY_GIT_PASSWORD",
    help="HTTP password, or SSH key passphrase.",
)
@click.option("--token", default="", envvar="EDDY_GIT_TOKEN", help="HTTP bearer token.")
@click.option("--private-key-file", default="", help="SSH private key.")
@click.option("--known-hosts-file", default="", help="SSH known_hosts with the server's key.")
@click.option("--ca-file", default="", help="CA certificate of an HTTPS server.")
@click.option("--author-name", default="eddy", show_default=True)
@click.option("--author-email", default="eddy@users.noreply.local", show_default=True)
@click.option("--interval", default="1m0s", show_default=True, help="How often to fetch.")
@components_option
@image_options
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the sync.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds.")
@click.pass_obj
def git(
    settings: Settings,
    url: str,
    branch: str,
    path: str,
    username: str,
    password: str,
    token: str,
    private_key_file: str,
    known_hosts_file: str,
    ca_file: str,
    author_name: str,
    author_email: str,
    interval: str,
    components: str,
    registry: str,
    tag: str,
    wait: bool,
    timeout: float,
) -> None:
    """Commit eddy's manifests to a Git repository and sync the cluster from it."""
    folder = clean_path(path)
    data = credentials(url, username, password, token, private_key_file, known_hosts_file, ca_file)
    try:
        auth = (
            eddy_git.auth_from_data(url, data, "the bootstrap credentials")
            if data
            else eddy_git.auth_without_secret(url)
        )
    except GitError as err:
        raise CliError(err.message) from err
    repo = Repository(url, branch, folder, auth, data, Author(author_name, author_email))
    docs = render(options_from(settings, components, registry, tag))
    sync = sync_objects(settings.namespace, repo, interval, NAME if data else None)
    run(
        settings,
        lambda cluster: bootstrap(cluster, settings.namespace, repo, docs, sync, wait, timeout),
    )
    success(f"eddy reconciles itself from {eddy_git.redact_url(url)} {branch} {folder}")
