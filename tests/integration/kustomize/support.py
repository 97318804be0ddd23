"""What the kustomize-controller tests share: an artifact server, sources, waiting.

Sources are GitRepository objects whose status.artifact the tests write themselves,
pointing at archives served over real HTTP on loopback, as a source-controller would.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from eddy_artifacts import build_archive_async
from eddy_runtime.conditions import now_rfc3339
from eddy_runtime.resources import Obj, Resource, ResourceClient
from eddy_testenv.observe import condition
from eddy_testenv.process import find_binary
from eddy_testenv.waiting import eventually as eventually  # re-exported for the tests

KUSTOMIZATIONS = Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization")
GIT_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository")
OCI_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "ocirepositories", "OCIRepository")
EXTERNAL_ARTIFACTS = Resource(
    "source.toolkit.fluxcd.io", "v1", "externalartifacts", "ExternalArtifact"
)
BUCKETS = Resource("source.toolkit.fluxcd.io", "v1", "buckets", "Bucket")
# How each source kind's spec and revision look, for sources published by hand.
_SOURCE_SPECS: dict[str, tuple[dict[str, Any], str]] = {
    "GitRepository": (
        {"url": "https://example.invalid/repo.git", "interval": "1h"},
        "main@sha1:{sha1}",
    ),
    "OCIRepository": (
        {"url": "oci://example.invalid/repo", "interval": "1h"},
        "latest@sha256:{sha256}",
    ),
    "ExternalArtifact": ({}, "latest@sha256:{sha256}"),
    "Bucket": (
        {"bucketName": "manifests", "endpoint": "s3.example.invalid", "interval": "1h"},
        "sha256:{sha256}",
    ),
}
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
SERVICES = Resource("", "v1", "services", "Service")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")

T = TypeVar("T")


class ArtifactServer:
    """Serves artifact archives from a directory over HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="artifacts-"))
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_static("/", self.root)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def archive(self, files: dict[str, str], name: str) -> tuple[str, str, int]:
        """Build an artifact of `files`; returns (url, digest, size)."""
        tree = Path(tempfile.mkdtemp(prefix="tree-"))
        for path, text in files.items():
            target = tree / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        dest = self.root / f"{name}-{hashlib.sha1(str(sorted(files.items())).encode()).hexdigest()}"
        info = await build_archive_async(tree, dest.with_suffix(".tar.gz"))
        return f"{self.base}/{info.path.name}", str(info.digest), info.size


class Sources:
    """Creates sources (GitRepositories by default) and publishes revisions into their status."""

    def __init__(self, kube: ResourceClient, server: ArtifactServer, namespace: str) -> None:
        self.kube = kube
        self.server = server
        self.namespace = namespace

    async def publish(
        self,
        name: str,
        files: dict[str, str],
        namespace: str | None = None,
        digest: str = "",
        kind: Resource = GIT_REPOSITORIES,
    ) -> str:
        """Make `files` the latest artifact of source `name`; returns the revision."""
        ns = namespace or self.namespace
        spec, revision_format = _SOURCE_SPECS[kind.kind]
        existing = await self.kube.get_or_none(kind, name, ns)
        if existing is None:
            existing = await self.kube.create(
                kind,
                {
                    "apiVersion": kind.api_version,
                    "kind": kind.kind,
                    "metadata": {"name": name, "namespace": ns},
                    "spec": spec,
                },
            )
        url, real_digest, size = await self.server.archive(files, f"{ns}-{name}")
        revision = revision_format.format(
            sha1=hashlib.sha1(real_digest.encode()).hexdigest(),
            sha256=hashlib.sha256(real_digest.encode()).hexdigest(),
        )
        status: dict[str, Any] = {
            "observedGeneration": existing["metadata"]["generation"],
            "artifact": {
                "path": f"{kind.kind.lower()}/{ns}/{name}/{url.rsplit('/', 1)[1]}",
                "url": url,
                "revision": revision,
                "digest": digest or real_digest,
                "lastUpdateTime": now_rfc3339(),
                "size": size,
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Succeeded",
                    "message": f"stored artifact for revision '{revision}'",
                    "lastTransitionTime": now_rfc3339(),
                    "observedGeneration": existing["metadata"]["generation"],
                }
            ],
        }
        await self.kube.patch_status(kind, name, {"status": status}, ns)
        return revision


def kustomization(name: str, namespace: str, source: str = "repo", **spec: Any) -> Obj:
    body: dict[str, Any] = {
        "interval": "10m",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": source},
    }
    body.update(spec)
    return {
        "apiVersion": KUSTOMIZATIONS.api_version,
        "kind": KUSTOMIZATIONS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def deployment(name: str, replicas: int = 0, image: str = "nginx:1.27", **extra: Any) -> str:
    labels = f"app: {name}"
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      {labels}
  template:
    metadata:
      labels:
        {labels}
    spec:
      containers:
        - name: app
          image: {image}
"""


def config_map(name: str, **data: str) -> str:
    lines = "".join(f'  {k}: "{v}"\n' for k, v in data.items())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{lines}"


def service(name: str) -> str:
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector:
    app: {name}
  ports:
    - port: 80
"""


async def create_kustomization(
    kube: ResourceClient, name: str, namespace: str, source: str = "repo", **spec: Any
) -> Obj:
    """Create a Kustomization that applies into the test namespace unless told otherwise."""
    spec.setdefault("targetNamespace", namespace)
    return await kube.create(KUSTOMIZATIONS, kustomization(name, namespace, source, **spec))


async def ready(kube: ResourceClient, namespace: str, name: str, revision: str = "") -> dict:
    async def probe() -> dict | None:
        obj = await kube.get(KUSTOMIZATIONS, name, namespace)
        status = obj.get("status") or {}
        if condition(obj, "Ready").get("status") != "True":
            return None
        if revision and status.get("lastAppliedRevision") != revision:
            return None
        return obj

    return await eventually(probe)


async def kubectl(control_plane: Any, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        find_binary("kubectl"), "--kubeconfig", str(control_plane.kubeconfig), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=dict(os.environ),
    )  # fmt: skip
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()
