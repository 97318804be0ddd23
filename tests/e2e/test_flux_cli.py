"""The unmodified `flux` CLI (Flux v2.9, built by `make tools`) against eddy.

eddy's controllers run as their own processes; each test creates Flux objects in its
own namespace and reads them back through `flux get`, `flux reconcile`, `flux tree`,
`flux trace`, `flux events`, `flux export` and `flux trigger`, asserting what a user
reads: the READY column, the revision, the message, the exit code.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from kubernetes_asyncio.client import ApiClient

from eddy_runtime.resources import ResourceClient
from eddy_testenv import ControlPlane, find_binary
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.dex import Dex, DexUser
from eddy_testenv.gitserver import GitHTTPServer, GitRepo
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.ociartifacts import push_files
from eddy_testenv.registry import Registry
from eddy_testenv.waiting import eventually

from .support import (
    CONFIG_MAPS,
    GIT_REPOSITORIES,
    HELM_RELEASES,
    HELM_REPOSITORIES,
    KUSTOMIZATIONS,
    SECRETS,
    SUITE_LABEL,
    Resource,
    controller_processes,
    is_ready,
    manifest,
    settings_map,
)

SUITE = "flux-cli"
SELECTOR = f"{SUITE_LABEL}={SUITE}"
OCI_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "ocirepositories", "OCIRepository")
PROVIDERS = Resource("notification.toolkit.fluxcd.io", "v1beta3", "providers", "Provider")
ALERTS = Resource("notification.toolkit.fluxcd.io", "v1beta3", "alerts", "Alert")
RECEIVERS = Resource("notification.toolkit.fluxcd.io", "v1", "receivers", "Receiver")
TIMEOUT = 90.0


@pytest.fixture(scope="module")
def controllers(control_plane: ControlPlane) -> Iterator[dict[str, ControllerProcess]]:
    with tempfile.TemporaryDirectory(prefix="eddy-flux-cli-") as tmp:
        names = ["source", "kustomize", "helm", "notification"]
        with controller_processes(control_plane.kubeconfig, Path(tmp), names, SELECTOR) as procs:
            yield procs


@pytest_asyncio.fixture(loop_scope="session")
async def kube(api_client: ApiClient) -> ResourceClient:
    return ResourceClient(api_client, field_manager="flux-cli-tests")


class Flux:
    """Runs the pinned flux binary against the test control plane, in one namespace."""

    def __init__(self, plane: ControlPlane, namespace: str, home: Path) -> None:
        self.binary = find_binary("flux")
        self.kubeconfig = plane.kubeconfig
        self.namespace = namespace
        # `flux check` asks GitHub for the latest release; a proxy that refuses keeps
        # the CLI on loopback (Go never proxies loopback, so the API server is reached).
        self.env = {**os.environ, "HOME": str(home), "HTTPS_PROXY": "http://127.0.0.1:9",
                    "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}  # fmt: skip

    async def run(self, *args: str, ok: bool = True) -> tuple[int, str]:
        """Exit code and combined output; fails the test on a non-zero exit unless ok=False."""
        proc = await asyncio.create_subprocess_exec(
            self.binary, f"--kubeconfig={self.kubeconfig}", f"--namespace={self.namespace}",
            "--timeout=60s", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=self.env,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        text = out.decode(errors="replace")
        code = proc.returncode if proc.returncode is not None else -1
        if ok and code != 0:
            raise AssertionError(f"flux {' '.join(args)} exited {code}:\n{text}")
        return code, text

    async def table(self, *args: str) -> dict[str, dict[str, str]]:
        """`flux get ...` as rows by NAME, each a dict of column → cell."""
        _, text = await self.run("get", *args)
        return parse_table(text)


def parse_table(text: str) -> dict[str, dict[str, str]]:
    lines = [line for line in text.splitlines() if "\t" in line]
    if not lines:
        return {}
    header = [cell.strip() for cell in lines[0].split("\t")]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.split("\t")]
        row = dict(zip(header, cells, strict=False))
        rows[row.get("NAME", "")] = row
    return rows


@pytest.fixture
def flux(control_plane: ControlPlane, namespace: str) -> Iterator[Flux]:
    with tempfile.TemporaryDirectory(prefix="eddy-flux-home-") as home:
        yield Flux(control_plane, namespace, Path(home))


def labelled(res: Resource, name: str, ns: str, spec: dict[str, Any]) -> dict[str, Any]:
    return manifest(res, name, ns, spec, SUITE)


async def ready_object(kube: ResourceClient, res: Resource, name: str, ns: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await kube.get_or_none(res, name, ns)
        generation = ((obj or {}).get("metadata") or {}).get("generation")
        seen = ((obj or {}).get("status") or {}).get("observedGeneration") == generation
        return obj if obj is not None and seen and is_ready(obj) else None

    return await eventually(probe, timeout=TIMEOUT, interval=0.25)


async def git_app(
    kube: ResourceClient, ns: str, git_repo: GitRepo, git_server: GitHTTPServer, files: Any = None
) -> str:
    """A GitRepository and a Kustomization named `app` applying ./app; the first commit."""
    sha = git_repo.commit(files or {"app/configmap.yaml": settings_map("hello")})
    await kube.create(GIT_REPOSITORIES, labelled(GIT_REPOSITORIES, "app", ns, {
        "interval": "10m", "url": git_server.repo_url(git_repo.name), "ref": {"branch": "main"},
    }))  # fmt: skip
    await kube.create(KUSTOMIZATIONS, labelled(KUSTOMIZATIONS, "app", ns, {
        "interval": "10m", "path": "./app", "prune": True, "targetNamespace": ns,
        "sourceRef": {"kind": "GitRepository", "name": "app"},
    }))  # fmt: skip
    return sha


async def test_get_reconcile_suspend_resume_kustomization(
    controllers: dict[str, ControllerProcess],
    kube: ResourceClient,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
    flux: Flux,
) -> None:
    ns = namespace
    first = await git_app(kube, ns, git_repo, git_server)
    await ready_object(kube, KUSTOMIZATIONS, "app", ns)

    # `flux get` shortens each hex digest to its first eight characters.
    sources = await flux.table("sources", "git")
    row = sources["app"]
    assert row["READY"] == "True", row
    assert row["REVISION"] == f"main@sha1:{first[:8]}", row
    assert row["SUSPENDED"] == "False", row
    assert f"main@sha1:{first[:8]}" in row["MESSAGE"], row

    row = (await flux.table("kustomizations"))["app"]
    assert row["READY"] == "True", row
    assert row["REVISION"] == f"main@sha1:{first[:8]}", row
    assert row["MESSAGE"] == f"Applied revision: main@sha1:{first[:8]}", row

    # `--with-source` asks the GitRepository first, then the Kustomization, and returns
    # once the new revision is applied: the ConfigMap holds it when the command ends.
    second = git_repo.commit({"app/configmap.yaml": settings_map("hello-again")})
    _, out = await flux.run("reconcile", "kustomization", "app", "--with-source")
    assert f"fetched revision main@sha1:{second}" in out, out
    assert f"applied revision main@sha1:{second}" in out, out
    settings = await kube.get(CONFIG_MAPS, "settings", ns)
    assert settings["data"] == {"greeting": "hello-again"}

    _, out = await flux.run("suspend", "kustomization", "app")
    assert "suspended" in out, out
    assert (await kube.get(KUSTOMIZATIONS, "app", ns))["spec"]["suspend"] is True
    row = (await flux.table("kustomizations"))["app"]
    assert row["SUSPENDED"] == "True", row
    _, out = await flux.run("reconcile", "kustomization", "app", ok=False)
    assert "suspended" in out, out

    third = git_repo.commit({"app/configmap.yaml": settings_map("resumed")})
    await flux.run("reconcile", "source", "git", "app")
    _, out = await flux.run("resume", "kustomization", "app")
    assert f"applied revision main@sha1:{third}" in out, out
    row = (await flux.table("kustomizations"))["app"]
    assert (row["SUSPENDED"], row["READY"]) == ("False", "True"), row
    settings = await kube.get(CONFIG_MAPS, "settings", ns)
    assert settings["data"] == {"greeting": "resumed"}


async def test_tree_trace_events_export(
    controllers: dict[str, ControllerProcess],
    kube: ResourceClient,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
    flux: Flux,
) -> None:
    ns = namespace
    sha = await git_app(kube, ns, git_repo, git_server)
    await ready_object(kube, KUSTOMIZATIONS, "app", ns)

    _, out = await flux.run("tree", "kustomization", "app")
    lines = out.splitlines()
    assert lines[0] == "Kustomization/" + ns + "/app", out
    assert any(line.endswith(f"ConfigMap/{ns}/settings") for line in lines[1:]), out

    _, out = await flux.run("trace", "settings", "--kind=ConfigMap", "--api-version=v1")
    fields = [tuple(part.strip() for part in line.split(":", 1)) for line in out.splitlines()
              if ":" in line]  # fmt: skip
    assert ("Status", "Managed by Flux") in fields, out
    assert ("Kustomization", "app") in fields, out
    assert ("GitRepository", "app") in fields, out
    assert ("URL", git_server.repo_url(git_repo.name)) in fields, out
    assert fields.count(("Revision", f"main@sha1:{sha}")) == 2, out
    assert not any(k == "Status" and "failed" in v for k, v in fields), out

    _, out = await flux.run("events", "--for", "Kustomization/app")
    assert "ReconciliationSucceeded" in out, out
    _, out = await flux.run("events", "--for", "GitRepository/app")
    assert f"main@sha1:{sha}" in out, out

    _, out = await flux.run("export", "kustomization", "app")
    exported = yaml.safe_load(out)
    assert exported["kind"] == "Kustomization"
    assert exported["metadata"] == {
        "name": "app", "namespace": ns, "labels": {SUITE_LABEL: SUITE}
    }  # fmt: skip
    assert exported["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "app"}
    assert exported["spec"]["path"] == "./app"
    assert "status" not in exported
    _, out = await flux.run("export", "source", "git", "app")
    exported = yaml.safe_load(out)
    assert exported["spec"]["url"] == git_server.repo_url(git_repo.name)


async def test_helm_sources_and_release(
    controllers: dict[str, ControllerProcess],
    kube: ResourceClient,
    namespace: str,
    helm_repo: HelmRepo,
    flux: Flux,
) -> None:
    ns = namespace
    helm_repo.package("hello", "1.0.0")
    await kube.create(HELM_REPOSITORIES, labelled(HELM_REPOSITORIES, "charts", ns, {
        "interval": "10m", "url": helm_repo.url,
    }))  # fmt: skip
    await kube.create(HELM_RELEASES, labelled(HELM_RELEASES, "hello", ns, {
        "interval": "10m",
        "chart": {
            "spec": {"chart": "hello", "version": "1.x",
                     "sourceRef": {"kind": "HelmRepository", "name": "charts"}},
            "metadata": {"labels": {SUITE_LABEL: SUITE}},
        },
        "values": {"greeting": "from-flux-cli"},
    }))  # fmt: skip
    await ready_object(kube, HELM_RELEASES, "hello", ns)

    row = (await flux.table("sources", "helm"))["charts"]
    assert row["READY"] == "True", row
    assert row["REVISION"].startswith("sha256:"), row
    row = (await flux.table("sources", "chart"))[f"{ns}-hello"]
    assert row["READY"] == "True", row
    assert row["REVISION"] == "1.0.0", row
    row = (await flux.table("helmreleases"))["hello"]
    assert row["READY"] == "True", row
    assert row["REVISION"] == "1.0.0", row
    assert "succeeded" in row["MESSAGE"].lower() and "hello@1.0.0" in row["MESSAGE"], row

    helm_repo.package("hello", "1.1.0")
    _, out = await flux.run("reconcile", "helmrelease", "hello", "--with-source")
    assert "applied revision 1.1.0" in out, out
    row = (await flux.table("helmreleases"))["hello"]
    assert (row["READY"], row["REVISION"]) == ("True", "1.1.0"), row
    applied = await kube.get(CONFIG_MAPS, "hello-hello", ns)
    assert applied["data"] == {"greeting": "from-flux-cli"}


async def test_oci_source(
    controllers: dict[str, ControllerProcess],
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    oci_repository: str,
    flux: Flux,
) -> None:
    ns = namespace
    digest = await push_files(
        oci_registry_anonymous, oci_repository, "v1", {"configmap.yaml": settings_map("oci")}
    )
    await kube.create(OCI_REPOSITORIES, labelled(OCI_REPOSITORIES, "app", ns, {
        "interval": "10m", "insecure": True, "ref": {"tag": "v1"},
        "url": f"oci://{oci_registry_anonymous.host}/{oci_repository}",
    }))  # fmt: skip
    await ready_object(kube, OCI_REPOSITORIES, "app", ns)
    row = (await flux.table("sources", "oci"))["app"]
    assert row["READY"] == "True", row
    assert row["REVISION"] == f"v1@sha256:{digest.removeprefix('sha256:')[:8]}", row
    row = await flux.table("sources", "all")
    assert any(name.endswith("app") for name in row), row


async def test_alerts_providers_receivers(
    controllers: dict[str, ControllerProcess],
    kube: ResourceClient,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
    flux: Flux,
) -> None:
    ns = namespace
    token = "flux-cli-token"
    await kube.create(SECRETS, {"metadata": {"name": "webhook", "namespace": ns},
                                "stringData": {"token": token}})  # fmt: skip
    await kube.create(PROVIDERS, labelled(PROVIDERS, "hook", ns, {
        "type": "generic", "address": "http://127.0.0.1:9/hook",
    }))  # fmt: skip
    await kube.create(ALERTS, labelled(ALERTS, "all", ns, {
        "providerRef": {"name": "hook"}, "eventSeverity": "info",
        "eventSources": [{"kind": "GitRepository", "name": "*"}],
    }))  # fmt: skip
    sha = await git_app(kube, ns, git_repo, git_server)
    await kube.create(RECEIVERS, labelled(RECEIVERS, "push", ns, {
        "type": "generic-hmac", "secretRef": {"name": "webhook"},
        "resources": [{"kind": "GitRepository", "name": "app"}],
    }))  # fmt: skip
    receiver = await ready_object(kube, RECEIVERS, "push", ns)
    await ready_object(kube, ALERTS, "all", ns)
    await ready_object(kube, KUSTOMIZATIONS, "app", ns)

    # Flux's v1beta3 Provider and Alert have no status, so the CLI prints them Ready
    # whatever the object says (eddy's own Ready condition is in `kubectl get`).
    row = (await flux.table("alert-providers"))["hook"]
    assert (row["READY"], row["MESSAGE"]) == ("True", "Provider is Ready"), row
    row = (await flux.table("alerts"))["all"]
    assert (row["READY"], row["SUSPENDED"]) == ("True", "False"), row
    row = (await flux.table("receivers"))["push"]
    assert row["READY"] == "True", row
    assert row["MESSAGE"] == f"Receiver initialized for path: {receiver['status']['webhookPath']}"

    await flux.run("reconcile", "receiver", "push")
    _, out = await flux.run("suspend", "alert", "all")
    row = (await flux.table("alerts"))["all"]
    assert row["SUSPENDED"] == "True", row
    await flux.run("resume", "alert", "all")

    # `flux trigger receiver` signs the call as a generic-hmac sender does; the
    # GitRepository it names fetches the new commit and the Kustomization applies it.
    second = git_repo.commit({"app/configmap.yaml": settings_map("triggered")})
    url = f"http://127.0.0.1:{controllers['notification'].ports['receiver']}"
    _, out = await flux.run("trigger", "receiver", "push", "--type=generic-hmac",
                            f"--token={token}", f"--url={url}", "--retries=0")  # fmt: skip
    assert "triggered" in out, out

    async def applied() -> bool:
        obj = await kube.get(KUSTOMIZATIONS, "app", ns)
        return bool(obj.get("status", {}).get("lastAppliedRevision") == f"main@sha1:{second}")

    await eventually(applied, timeout=TIMEOUT)
    assert sha != second
    _, out = await flux.run("trigger", "receiver", "push", "--type=generic-hmac",
                            "--token=wrong", f"--url={url}", "--retries=0", ok=False)  # fmt: skip
    assert "404" in out, out


async def test_check(controllers: dict[str, ControllerProcess], flux: Flux) -> None:
    """`flux check --pre` (the cluster's version) passes; the full `flux check` looks for
    Flux's own Deployments and CRDs labelled part-of=flux, which eddy is not (see
    docs/flux-cli.md), and says so."""
    _, out = await flux.run("check", "--pre")
    assert "prerequisites checks passed" in out, out
    code, out = await flux.run("check", ok=False)
    assert code != 0
    assert "no controllers found" in out, out


async def test_tree_follows_a_helmrelease_into_its_release(
    controllers: dict[str, ControllerProcess],
    kube: ResourceClient,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
    helm_repo: HelmRepo,
    flux: Flux,
) -> None:
    """A Kustomization that applies a HelmRelease: `flux tree` reads the release's objects
    from the Helm storage Secret that the release's status names."""
    ns = namespace
    helm_repo.package("hello", "1.0.0")
    await kube.create(HELM_REPOSITORIES, labelled(HELM_REPOSITORIES, "charts", ns, {
        "interval": "10m", "url": helm_repo.url,
    }))  # fmt: skip
    release = yaml.safe_dump({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "hello", "labels": {SUITE_LABEL: SUITE}},
        "spec": {"interval": "10m", "chart": {
            "spec": {"chart": "hello", "version": "1.x",
                     "sourceRef": {"kind": "HelmRepository", "name": "charts"}},
            "metadata": {"labels": {SUITE_LABEL: SUITE}}}},
    })  # fmt: skip
    await git_app(kube, ns, git_repo, git_server, {"app/release.yaml": release})
    await ready_object(kube, KUSTOMIZATIONS, "app", ns)
    await ready_object(kube, HELM_RELEASES, "hello", ns)

    _, out = await flux.run("tree", "kustomization", "app")
    lines = [line.lstrip("│├└─ ") for line in out.splitlines() if line.strip()]
    assert lines == [
        f"Kustomization/{ns}/app",
        f"HelmRelease/{ns}/hello",
        f"ConfigMap/{ns}/hello-hello",
    ], out
    _, out = await flux.run("tree", "kustomization", "app", "--compact")
    assert f"ConfigMap/{ns}/hello-hello" not in out and f"HelmRelease/{ns}/hello" in out, out


async def test_trigger_a_generic_oidc_receiver(
    controllers: dict[str, ControllerProcess],
    kube: ResourceClient,
    namespace: str,
    flux: Flux,
) -> None:
    """`flux trigger receiver --type=generic-oidc` computes the path without a token and
    sends the ID token; eddy verifies it against Dex, a real OIDC provider."""
    ns = namespace
    ci = DexUser("ci@example.com", secrets.token_urlsafe(12), ("deployers",))
    dex = Dex([ci], [])
    await asyncio.to_thread(dex.start)
    try:
        await kube.create(GIT_REPOSITORIES, labelled(GIT_REPOSITORIES, "app", ns, {
            "interval": "10m", "url": "https://git.example/app.git", "suspend": True,
        }))  # fmt: skip
        await kube.create(RECEIVERS, labelled(RECEIVERS, "ci", ns, {
            "type": "generic-oidc",
            "oidcProviders": [{"issuerURL": dex.issuer, "audience": dex.client_id,
                               "validations": [{"expression": "'deployers' in claims.groups",
                                                "message": "not a deployer"}]}],
            "resources": [{"kind": "GitRepository", "name": "app"}],
        }))  # fmt: skip
        await ready_object(kube, RECEIVERS, "ci", ns)
        token = await asyncio.to_thread(dex.id_token, ci)
        url = f"http://127.0.0.1:{controllers['notification'].ports['receiver']}"
        _, out = await flux.run("trigger", "receiver", "ci", "--type=generic-oidc",
                                f"--oidc-token={token}", f"--url={url}", "--retries=0")  # fmt: skip
        assert "triggered" in out, out
        repo = await kube.get(GIT_REPOSITORIES, "app", ns)
        assert "reconcile.fluxcd.io/requestedAt" in repo["metadata"].get("annotations", {})
    finally:
        await asyncio.to_thread(dex.stop)
