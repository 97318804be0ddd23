"""The bad-input corpus: crafted input for every controller, one namespace per row.

For every row, against the controllers running as processes: the controller stays up
(/readyz), nothing is written outside its target (marker files absent), what the last
good input applied is still there, and Ready=False carries a reason and a message that
names the cause and holds no traceback. Run it alone with `pytest -m corpus`.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
import secrets
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from kubernetes_asyncio.client import ApiClient

from eddy_runtime.conditions import now_rfc3339
from eddy_runtime.resources import NAMESPACES, ApiError, Resource, ResourceClient
from eddy_testenv import ControlPlane
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.gitserver import GitHTTPServer, GitRepos, git
from eddy_testenv.kubeconfigs import exec_plugin, kubeconfig
from eddy_testenv.observe import condition
from eddy_testenv.pytest_plugin import NAMESPACE_LABEL
from tests.integration.source.test_gitrepository_unsafe_paths import write_tree

from .support import (
    CONFIG_MAPS,
    GIT_REPOSITORIES,
    HELM_CHARTS,
    HELM_RELEASES,
    HELM_REPOSITORIES,
    IMAGE_POLICIES,
    IMAGE_REPOSITORIES,
    IMAGE_UPDATE_AUTOMATIONS,
    KUSTOMIZATIONS,
    SECRETS,
    SUITE_LABEL,
    config_map,
    controller_processes,
    manifest,
    request_reconcile,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.corpus]

SUITE = "corpus"
SELECTOR = f"{SUITE_LABEL}={SUITE}"
# The last one is how an unexpected exception in a step reads: a bug, not a refusal.
TRACEBACK_MARKS = ("Traceback", 'File "', "Error(", "object at 0x", "internal error")
ROW_TIMEOUT = 60.0


# -- the world the rows run in --------------------------------------------------------


class FakeRegistry:
    """A registry endpoint whose tag listings a row chooses: good, or one of many bad answers.

    The image path is `<namespace>/app`; `modes[namespace]` picks the answer.
    """

    def __init__(self) -> None:
        self.modes: dict[str, str] = {}
        self.runner: web.AppRunner | None = None
        self.host = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v2/", self._root)
        app.router.add_get("/v2/{ns}/app/tags/list", self._tags)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = f"127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _root(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    async def _tags(self, request: web.Request) -> web.StreamResponse:
        ns = request.match_info["ns"]
        mode = self.modes.get(ns, "good")
        name = f"{ns}/app"
        if mode == "good":
            return web.json_response({"name": name, "tags": ["1.0.0", "1.1.0"]})
        if mode == "html":
            return web.Response(text="<html><body>Welcome to nginx!</body></html>",
                                content_type="text/html")  # fmt: skip
        if mode == "wrong-type":
            return web.json_response({"name": name, "tags": "1.0.0"})
        if mode == "server-error":
            return web.Response(status=500, text="<h1>upstream exploded</h1>")
        if mode == "auth-elsewhere":
            challenge = 'Bearer realm="http://127.0.0.1:9/token",service="x",scope="y"'
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if mode == "redirect-loop":
            raise web.HTTPFound(str(request.rel_url))
        if mode == "link-elsewhere":
            link = '<http://127.0.0.1:9/v2/other/tags/list?last=x>; rel="next"'
            return web.json_response({"name": name, "tags": ["2.0.0"]}, headers={"Link": link})
        if mode == "huge":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            await response.write(b'{"name": "x", "tags": ["')
            chunk = b"9" * (1 << 20)
            for _ in range(64):
                await response.write(chunk)
            await response.write(b'"]}')
            return response
        raise web.HTTPNotFound()


class RawArtifacts:
    """Serves byte strings over HTTP as a source-controller serves artifacts."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="eddy-corpus-artifacts-"))
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

    def put(self, data: bytes, suffix: str = ".tar.gz") -> tuple[str, str]:
        """Store data; its URL and its sha256 digest."""
        digest = hashlib.sha256(data).hexdigest()
        name = f"{secrets.token_hex(8)}{suffix}"
        (self.root / name).write_bytes(data)
        return f"{self.base}/{name}", f"sha256:{digest}"


@dataclass
class World:
    kube: ResourceClient
    procs: dict[str, ControllerProcess]
    artifacts: RawArtifacts
    registry: FakeRegistry
    git_repos: GitRepos
    git_server: GitHTTPServer
    escape: Path


# -- crafted archives -------------------------------------------------------------------


def tarball(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def regular(name: str, text: str | bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, text.encode() if isinstance(text, str) else text


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def device(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info, None


def files_tarball(files: dict[str, str], prefix: str = "") -> bytes:
    return tarball([regular(prefix + path, text) for path, text in files.items()])


def gzip_bomb(prefix: str, size: int = 300 << 20) -> bytes:
    """A tar.gz whose one file inflates to `size` bytes of zeros (about 300 KiB packed)."""
    header = tarfile.TarInfo(prefix + "zeros.yaml")
    header.size = size
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as gz:
        gz.write(header.tobuf(tarfile.PAX_FORMAT))
        chunk = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            gz.write(chunk)
        gz.write(b"\0" * 1024)
    return raw.getvalue()


def up(escape: Path, name: str) -> str:
    return "../" * 12 + str(escape).lstrip("/") + "/" + name


# -- rows -------------------------------------------------------------------------------

Setup = Callable[["Row", World, str], Awaitable[tuple[Resource, str]]]


@dataclass
class Row:
    """One crafted input. `setup` makes a good state, then the bad one; returns what to read."""

    controller: str
    title: str
    setup: Setup
    cause: str
    args: dict[str, Any] = field(default_factory=dict)
    kept: Callable[[World, str], Awaitable[str | None]] | None = None

    @property
    def id(self) -> str:
        return f"{self.controller}: {self.title}"


async def published(world: World, kind: Resource, name: str, ns: str, url: str, digest: str,
                    revision: str) -> None:  # fmt: skip
    """Give a source object (that no controller here reconciles) an artifact, by hand."""
    existing = await world.kube.get(kind, name, ns)
    generation = existing["metadata"]["generation"]
    status = {
        "observedGeneration": generation,
        "artifact": {
            "path": f"{kind.kind.lower()}/{ns}/{name}/artifact.tar.gz",
            "url": url,
            "revision": revision,
            "digest": digest,
            "lastUpdateTime": now_rfc3339(),
            "size": 1,
        },
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Succeeded",
            "message": f"stored artifact for revision '{revision}'",
            "lastTransitionTime": now_rfc3339(), "observedGeneration": generation,
        }],
    }  # fmt: skip
    await world.kube.patch_status(kind, name, {"status": status}, ns)


GOOD_FILES = {"app/keep.yaml": config_map("keep", rev="good")}


async def kustomize_setup(row: Row, world: World, ns: str) -> tuple[Resource, str]:
    """Apply a good revision, then publish the row's archive and/or spec change."""
    kube = world.kube
    await kube.create(GIT_REPOSITORIES, {
        "apiVersion": GIT_REPOSITORIES.api_version, "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": ns},
        "spec": {"url": "https://example.invalid/repo.git", "interval": "1h"},
    })  # fmt: skip
    url, digest = world.artifacts.put(files_tarball(GOOD_FILES))
    await published(world, GIT_REPOSITORIES, "repo", ns, url, digest, "main@sha1:" + "1" * 40)
    spec = {
        "interval": "1h", "retryInterval": "1h", "timeout": "20s", "path": "./app",
        "prune": True, "targetNamespace": ns,
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
    }  # fmt: skip
    await kube.create(KUSTOMIZATIONS, manifest(KUSTOMIZATIONS, "app", ns, spec, SUITE))
    await wait_for(f"{row.id}: the good revision is applied", lambda: _ready(kube, KUSTOMIZATIONS,
                   "app", ns), timeout=ROW_TIMEOUT)  # fmt: skip
    for name, data in (row.args.get("secrets") or {}).items():
        await kube.create(SECRETS, {"metadata": {"name": name}, "stringData": data}, ns)
    data = row.args.get("archive")
    if callable(data):
        data = data(world, ns)
    if data is not None:
        url, digest = world.artifacts.put(data)
        digest = row.args.get("digest", digest)
        await published(world, GIT_REPOSITORIES, "repo", ns, url, digest, "main@sha1:" + "2" * 40)
    if row.args.get("spec"):
        patch = row.args["spec"]
        if callable(patch):
            patch = patch(world, ns)
        await kube.patch(KUSTOMIZATIONS, "app", {"spec": patch}, ns)
    return KUSTOMIZATIONS, "app"


async def keep_config_map(world: World, ns: str) -> str | None:
    found = await world.kube.get_or_none(CONFIG_MAPS, "keep", ns)
    if found is None:
        return "ConfigMap keep, applied by the good revision, is gone"
    return None


def ks(title: str, cause: str, **args: Any) -> Row:
    files = args.pop("files", None)
    if files is not None:
        args["archive"] = files_tarball({**GOOD_FILES, **files})
    return Row("kustomize", title, kustomize_setup, cause, args, keep_config_map)


def kubeconfig_row(
    title: str, cause: str, config: Callable[[World, str], str], controller: str = "kustomize"
) -> Row:
    """A kubeConfig.secretRef to a Secret holding `config`, on a Kustomization or HelmRelease."""

    def spec(world: World, ns: str) -> dict[str, Any]:
        return {"kubeConfig": {"secretRef": {"name": f"kubeconfig-{ns}"}}}

    async def setup(row: Row, world: World, ns: str) -> tuple[Resource, str]:
        await world.kube.create(SECRETS, {
            "metadata": {"name": f"kubeconfig-{ns}"}, "stringData": {"value": config(world, ns)},
        }, ns)  # fmt: skip
        if controller == "helm":
            return await helm_setup(row, world, ns)
        return await kustomize_setup(row, world, ns)

    kept = release_kept if controller == "helm" else keep_config_map
    return Row(controller, title, setup, cause, {"spec": spec}, kept)


def hostile_user(user: Callable[[World, str], dict[str, Any]], **cluster: Any) -> Any:
    def config(world: World, ns: str) -> str:
        return yaml.safe_dump(kubeconfig({"server": "https://127.0.0.1:9", **cluster},
                                         user(world, ns)))  # fmt: skip

    return config


def exec_marker(world: World, ns: str) -> dict[str, Any]:
    return {"exec": exec_plugin(world.escape / f"exec-{ns}", {"token": "from-exec"})}


BAD_SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad-port\nspec:\n  ports:\n  - port: 70000\n"
)
UNICORN = "apiVersion: nowhere.eddy.dev/v1\nkind: Unicorn\nmetadata:\n  name: sparkle\n"
ODD_NAME = config_map("Odd_Name!", a="b")
DEEP = "a: " + "[" * 5000 + "]" * 5000 + "\n"

KUSTOMIZE_ROWS = [
    ks(
        "entry climbing out with ..",
        "..",
        archive=lambda w, ns: tarball(
            [*[regular(p, t) for p, t in GOOD_FILES.items()], regular(up(w.escape, ns), "x")]
        ),
    ),
    ks(
        "absolute entry",
        "absolute",
        archive=lambda w, ns: tarball(
            [*[regular(p, t) for p, t in GOOD_FILES.items()], regular(str(w.escape / ns), "x")]
        ),
    ),
    ks(
        "symlink to /etc/passwd",
        "app/passwd.yaml",
        archive=tarball(
            [
                *[regular(p, t) for p, t in GOOD_FILES.items()],
                link("app/passwd.yaml", "/etc/passwd"),
            ]
        ),
    ),
    ks(
        "symlink out, then a file through it",
        "app/out",
        archive=lambda w, ns: tarball(
            [
                *[regular(p, t) for p, t in GOOD_FILES.items()],
                link("app/out", str(w.escape)),
                regular(f"app/out/{ns}", "x"),
            ]
        ),
    ),
    ks(
        "relative symlink climbing out",
        "app/up",
        archive=tarball(
            [
                *[regular(p, t) for p, t in GOOD_FILES.items()],
                link("app/up", "../../../../../../.."),
            ]
        ),
    ),
    ks(
        "hard link to /etc/passwd",
        "app/hard.yaml",
        archive=tarball(
            [
                *[regular(p, t) for p, t in GOOD_FILES.items()],
                link("app/hard.yaml", "/etc/passwd", tarfile.LNKTYPE),
            ]
        ),
    ),
    ks(
        "device node",
        "app/null",
        archive=tarball([*[regular(p, t) for p, t in GOOD_FILES.items()], device("app/null")]),
    ),
    ks("decompression bomb", "size", archive=gzip_bomb("app/")),
    ks("digest mismatch", "digest", archive=files_tarball(GOOD_FILES), digest="sha256:" + "0" * 64),
    ks("not an archive", "archive", archive=b"this is not gzip at all\n" * 10),
    ks("invalid YAML", "app/broken.yaml", files={"app/broken.yaml": "kind: [unclosed\n"}),
    ks("YAML nested 5000 deep", "app/deep.yaml", files={"app/deep.yaml": DEEP}),
    ks("unknown kind", "Unicorn", files={"app/unicorn.yaml": UNICORN}),
    ks("object rejected by the API", "bad-port", files={"app/svc.yaml": BAD_SERVICE}),
    ks("object name with odd characters", "Odd_Name!", files={"app/odd.yaml": ODD_NAME}),
    ks(
        "kustomization.yaml naming ../../etc/passwd",
        "passwd",
        files={"app/kustomization.yaml": "resources:\n  - keep.yaml\n  - ../../../../etc/passwd\n"},
    ),
    ks(
        "remote base",
        "remote",
        files={
            "app/kustomization.yaml": "resources:\n  - keep.yaml\n"
            "  - https://github.com/example/repo//base?ref=main\n"
        },
    ),
    ks("spec.path climbing out", "outside", spec={"path": "../../../../etc"}),
    ks("spec.path missing", "./nowhere", spec={"path": "./nowhere"}),
    ks("targetNamespace with odd characters", "Bad_NS", spec={"targetNamespace": "Bad_NS"}),
    ks(
        "missing variable in postBuild",
        "missing_var",
        files={"app/keep.yaml": config_map("keep", rev="${missing_var}")},
        spec={"postBuild": {"substitute": {"other": "x"}}},
    ),
    ks(
        "postBuild.substituteFrom missing",
        "vars-missing",
        spec={"postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "vars-missing"}]}},
    ),
    ks(
        "serviceAccountName that does not exist",
        "ghost-sa",
        spec={"serviceAccountName": "ghost-sa"},
    ),
    ks(
        "sourceRef to a missing GitRepository",
        "nothere",
        spec={"sourceRef": {"kind": "GitRepository", "name": "nothere"}},
    ),
    kubeconfig_row(
        "kubeconfig Secret with invalid YAML", "kubeconfig", lambda w, ns: "clusters: [unclosed\n"
    ),
]


async def _ready(kube: ResourceClient, res: Resource, name: str, ns: str) -> bool:
    return condition(await kube.get(res, name, ns)).get("status") == "True"


# -- source-controller ------------------------------------------------------------------


async def git_setup(row: Row, world: World, ns: str) -> tuple[Resource, str]:
    """A GitRepository with a good artifact; then the row's commit or spec change."""
    repo = f"corpus-{ns}"
    world.git_repos.create(repo)
    world.git_repos.commit(repo, {"app/keep.yaml": config_map("keep")})
    spec = {"interval": "1h", "timeout": "10s", "url": world.git_server.repo_url(repo),
            "ref": {"branch": "main"}}  # fmt: skip
    await world.kube.create(GIT_REPOSITORIES, manifest(GIT_REPOSITORIES, "repo", ns, spec, SUITE))
    await wait_for(f"{row.id}: the good artifact", lambda: _ready(world.kube, GIT_REPOSITORIES,
                   "repo", ns), timeout=ROW_TIMEOUT)  # fmt: skip
    commit = row.args.get("commit")
    if commit is not None:
        commit(world, repo, ns)
    patch = row.args.get("spec")
    if callable(patch):
        patch = patch(world, ns)
    if patch:
        await world.kube.patch(GIT_REPOSITORIES, "repo", {"spec": patch}, ns)
    else:
        await request_reconcile(world.kube, GIT_REPOSITORIES, "repo", ns)
    return GIT_REPOSITORIES, "repo"


async def artifact_kept(world: World, ns: str, res: Resource = GIT_REPOSITORIES,
                        name: str = "repo") -> str | None:  # fmt: skip
    obj = await world.kube.get(res, name, ns)
    artifact = (obj.get("status") or {}).get("artifact")
    if not artifact:
        return "the last good artifact is gone from status"

    def fetch() -> int:
        with urllib.request.urlopen(artifact["url"], timeout=10) as resp:
            return int(resp.status)

    if await asyncio.to_thread(fetch) != 200:
        return "the last good artifact is no longer served"
    return None


def src(title: str, cause: str, **args: Any) -> Row:
    return Row("source", title, git_setup, cause, args, artifact_kept)


def commit_tree_with_dotdot(world: World, repo: str, ns: str) -> None:
    path = world.git_repos.path(repo)
    blob = git("hash-object", "-w", "--stdin", cwd=path, input=b"escaped\n").strip()
    tree = write_tree(path, [("100644", f"eddy-escape-{ns}", blob)])
    for _ in range(3):
        tree = write_tree(path, [("40000", "..", tree)])
    root = write_tree(path, [("40000", "app", tree)])
    parent = world.git_repos.rev_parse(repo, "main")
    sha = git("commit-tree", root, "-p", parent, cwd=path, input=b"crafted").strip()
    git("update-ref", "refs/heads/main", sha, cwd=path)


def helm_index(ns: str, versions: dict[str, dict[str, Any]]) -> bytes:
    entries = [{"apiVersion": "v2", "name": "demo", "version": v, **e} for v, e in versions.items()]
    return yaml.safe_dump({"apiVersion": "v1", "entries": {"demo": entries}}).encode()


async def helm_source_setup(row: Row, world: World, ns: str) -> tuple[Resource, str]:
    """A HelmRepository served from a folder, and a HelmChart built from it; then bad input."""
    kube = world.kube
    folder = world.artifacts.root / ns
    folder.mkdir()
    (folder / "demo-1.0.0.tgz").write_bytes(chart("1.0.0", {"keep.yaml": GOOD_TEMPLATE}))
    good = {"1.0.0": {"urls": ["demo-1.0.0.tgz"]}}
    (folder / "index.yaml").write_bytes(helm_index(ns, good))
    url = f"{world.artifacts.base}/{ns}"
    spec = {"url": url, "interval": "1h", "timeout": "10s"}
    await kube.create(HELM_REPOSITORIES, manifest(HELM_REPOSITORIES, "charts", ns, spec, SUITE))
    chart_spec = {"chart": "demo", "version": "*", "interval": "1h",
                  "sourceRef": {"kind": "HelmRepository", "name": "charts"}}  # fmt: skip
    await kube.create(HELM_CHARTS, manifest(HELM_CHARTS, "demo", ns, chart_spec, SUITE))
    for res, name in ((HELM_REPOSITORIES, "charts"), (HELM_CHARTS, "demo")):
        await wait_for(f"{row.id}: {res.kind} is ready", lambda res=res, name=name: _ready(
            kube, res, name, ns), timeout=ROW_TIMEOUT)  # type: ignore[misc]  # fmt: skip
    index = row.args.get("index")
    if callable(index):
        index = index()
    if index is not None:
        (folder / "index.yaml").write_bytes(index)
        await request_reconcile(kube, HELM_REPOSITORIES, "charts", ns)
        return HELM_REPOSITORIES, "charts"
    entry, archive = row.args["version"](world, ns)
    if archive is not None:
        (folder / "demo-2.0.0.tgz").write_bytes(archive)
    (folder / "index.yaml").write_bytes(helm_index(ns, {**good, "2.0.0": entry}))
    await request_reconcile(kube, HELM_REPOSITORIES, "charts", ns)
    await request_reconcile(kube, HELM_CHARTS, "demo", ns)
    return HELM_CHARTS, "demo"


async def helm_source_kept(world: World, ns: str) -> str | None:
    return await artifact_kept(world, ns, HELM_REPOSITORIES, "charts") or await artifact_kept(
        world, ns, HELM_CHARTS, "demo")  # fmt: skip


def hsrc(title: str, cause: str, **args: Any) -> Row:
    return Row("source", title, helm_source_setup, cause, args, helm_source_kept)


HELM_SOURCE_ROWS = [
    hsrc("Helm index that is not YAML", "index.yaml", index=b"entries: [unclosed\n"),
    hsrc("Helm index that is a list", "index", index=b"- a\n- b\n"),
    hsrc("Helm index of 60 MiB", "MiB",
         index=lambda: b"apiVersion: v1\nentries: {}\n#" + b"x" * (60 << 20) + b"\n"),
    hsrc("chart URL on the file system", "file:///etc/passwd",
         version=lambda w, ns: ({"urls": ["file:///etc/passwd"]}, None)),
    hsrc("chart archive with an entry climbing out", "..", version=lambda w, ns: (
        {"urls": ["demo-2.0.0.tgz"]},
        chart("2.0.0", {"keep.yaml": GOOD_TEMPLATE}, [regular(up(w.escape, f"hs-{ns}"), "x")]))),
    hsrc("chart digest that does not match", "digest", version=lambda w, ns: (
        {"urls": ["demo-2.0.0.tgz"], "digest": "0" * 64},
        chart("2.0.0", {"keep.yaml": GOOD_TEMPLATE}))),
]  # fmt: skip


SOURCE_ROWS = [
    src("unreachable URL", "127.0.0.1:9", spec={"url": "http://127.0.0.1:9/nothing.git"}),
    src("branch that does not exist", "no-such-branch", spec={"ref": {"branch": "no-such-branch"}}),
    src("tag that does not exist", "v9.9.9", spec={"ref": {"tag": "v9.9.9"}}),
    src(
        "branch shaped like an option",
        "--upload-pack",
        spec=lambda w, ns: {"ref": {"branch": f"--upload-pack=touch {w.escape}/git-{ns}"}},
    ),
    src("secretRef that does not exist", "no-creds", spec={"secretRef": {"name": "no-creds"}}),
    src(
        "URL carrying credentials, unreachable",
        "127.0.0.1:9",
        spec={"url": "http://user:hunter2secret@127.0.0.1:9/repo.git"},
        hidden="hunter2secret",
    ),
    src("tree naming ..", "unsafe path", commit=commit_tree_with_dotdot),
    src(
        "URL that is not a Git server",
        "127.0.0.1",
        spec=lambda w, ns: {"url": w.artifacts.base + "/not-a-repo.git"},
    ),
]


# -- helm-controller --------------------------------------------------------------------

CHART_YAML = "apiVersion: v2\nname: demo\nversion: {version}\n"
GOOD_TEMPLATE = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\ndata:\n  rev: good\n"


def chart(version: str, templates: dict[str, str], extra: list[Any] | None = None,
          chart_yaml: str | None = None) -> bytes:  # fmt: skip
    members: list[tuple[tarfile.TarInfo, bytes | None]] = [
        regular("demo/Chart.yaml", chart_yaml or CHART_YAML.format(version=version)),
        regular("demo/values.yaml", "name: demo\n"),
        *[regular(f"demo/templates/{n}", t) for n, t in templates.items()],
        *(extra or []),
    ]
    return tarball(members)


async def helm_setup(row: Row, world: World, ns: str) -> tuple[Resource, str]:
    """A release of a good chart (published by hand as a HelmChart), then the row's change."""
    kube = world.kube
    await kube.create(HELM_CHARTS, {
        "apiVersion": HELM_CHARTS.api_version, "kind": "HelmChart",
        "metadata": {"name": "demo", "namespace": ns},
        "spec": {"chart": "demo", "interval": "1h",
                 "sourceRef": {"kind": "HelmRepository", "name": "none"}},
    })  # fmt: skip
    url, digest = world.artifacts.put(chart("1.0.0", {"keep.yaml": GOOD_TEMPLATE}), ".tgz")
    await published(world, HELM_CHARTS, "demo", ns, url, digest, "1.0.0")
    spec = {"interval": "1h", "timeout": "20s", "chartRef": {"kind": "HelmChart", "name": "demo"},
            "values": {"name": "demo"}}  # fmt: skip
    await kube.create(HELM_RELEASES, manifest(HELM_RELEASES, "demo", ns, spec, SUITE))
    await wait_for(f"{row.id}: the good release", lambda: _ready(kube, HELM_RELEASES, "demo",
                   ns), timeout=ROW_TIMEOUT)  # fmt: skip
    for name, data in (row.args.get("config_maps") or {}).items():
        await kube.create(CONFIG_MAPS, {"metadata": {"name": name}, "data": data}, ns)
    archive = row.args.get("chart")
    if callable(archive):
        archive = archive(world, ns)
    if archive is not None:
        url, digest = world.artifacts.put(archive, ".tgz")
        await published(world, HELM_CHARTS, "demo", ns, url, digest, "2.0.0")
    patch = row.args.get("spec")
    if callable(patch):
        patch = patch(world, ns)
    if patch:
        await kube.patch(HELM_RELEASES, "demo", {"spec": patch}, ns)
    return HELM_RELEASES, "demo"


async def release_kept(world: World, ns: str) -> str | None:
    if await world.kube.get_or_none(CONFIG_MAPS, "keep", ns) is None:
        return "ConfigMap keep, installed by the good release, is gone"
    listed = await world.kube.list(SECRETS, ns, label_selector="owner=helm,name=demo")
    if not listed.get("items"):
        return "Helm's release record is gone"
    return None


def hr(title: str, cause: str, **args: Any) -> Row:
    return Row("helm", title, helm_setup, cause, args, release_kept)


READ_OUTSIDE = '{{ required "outside the chart" (.Files.Get "../../../../etc/passwd") }}\n'

HELM_ROWS = [
    hr(
        "chart entry climbing out with ..",
        "..",
        chart=lambda w, ns: chart(
            "2.0.0", {"keep.yaml": GOOD_TEMPLATE}, [regular(up(w.escape, f"chart-{ns}"), "x")]
        ),
    ),
    hr(
        "chart template symlinked to /etc/passwd",
        "passwd",
        chart=chart(
            "2.0.0", {"keep.yaml": GOOD_TEMPLATE}, [link("demo/templates/pw.yaml", "/etc/passwd")]
        ),
    ),
    hr("chart decompression bomb", "size", chart=gzip_bomb("demo/templates/")),
    hr(
        "Chart.yaml not YAML",
        "Chart.yaml",
        chart=chart("2.0.0", {"keep.yaml": GOOD_TEMPLATE}, chart_yaml="name: [unclosed\n"),
    ),
    hr(
        "template that does not parse",
        "broken.yaml",
        chart=chart(
            "2.0.0",
            {"keep.yaml": GOOD_TEMPLATE, "broken.yaml": "{{ .Values.name | nosuchfunc }}\n"},
        ),
    ),
    hr(
        "template that reads files outside the chart",
        "outside",
        chart=chart(
            "2.0.0",
            {
                "keep.yaml": GOOD_TEMPLATE,
                "read.yaml": READ_OUTSIDE,
            },
        ),
    ),
    hr(
        "values failing a required check",
        "need-a-name",
        chart=chart(
            "2.0.0",
            {
                "keep.yaml": GOOD_TEMPLATE,
                "req.yaml": '{{ required "need-a-name" .Values.missing }}\n',
            },
        ),
    ),
    hr(
        "valuesFrom a ConfigMap that does not exist",
        "values-missing",
        spec={"valuesFrom": [{"kind": "ConfigMap", "name": "values-missing"}]},
    ),
    hr(
        "valuesFrom a ConfigMap holding invalid YAML",
        "values-broken",
        config_maps={"values-broken": {"values.yaml": "a: [unclosed\n"}},
        spec={"valuesFrom": [{"kind": "ConfigMap", "name": "values-broken"}]},
    ),
    hr(
        "chart rendering an object with an odd name",
        "Odd_Name!",
        chart=chart("2.0.0", {"keep.yaml": GOOD_TEMPLATE, "odd.yaml": ODD_NAME}),
    ),
]


# -- image-automation-controller --------------------------------------------------------


async def image_setup(row: Row, world: World, ns: str) -> tuple[Resource, str]:
    """An ImageRepository scanned well once, then the registry answers badly."""
    kube = world.kube
    image = f"{world.registry.host}/{ns}/app"
    spec = {"image": image, "interval": "1h", "insecure": True, "timeout": "10s"}
    await kube.create(IMAGE_REPOSITORIES, manifest(IMAGE_REPOSITORIES, "app", ns, spec, SUITE))
    await wait_for(f"{row.id}: the good scan", lambda: _ready(kube, IMAGE_REPOSITORIES, "app",
                   ns), timeout=ROW_TIMEOUT)  # fmt: skip
    mode = row.args.get("mode")
    if mode:
        world.registry.modes[ns] = mode
        await request_reconcile(kube, IMAGE_REPOSITORIES, "app", ns)
        return IMAGE_REPOSITORIES, "app"
    policy = {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "*"}}}
    await kube.create(IMAGE_POLICIES, manifest(IMAGE_POLICIES, "app", ns, policy, SUITE))
    await wait_for(f"{row.id}: the good policy", lambda: _ready(kube, IMAGE_POLICIES, "app",
                   ns), timeout=ROW_TIMEOUT)  # fmt: skip
    if row.args.get("policy"):
        await kube.patch(IMAGE_POLICIES, "app", {"spec": row.args["policy"]}, ns)
        return IMAGE_POLICIES, "app"
    repo = f"corpus-{ns}"
    world.git_repos.create(repo)
    world.git_repos.commit(
        repo, {"deploy/app.yaml": f'image: {image}:1.0.0 # {{"$imagepolicy": "{ns}:app"}}\n'}
    )
    gspec = {"interval": "1h", "url": world.git_server.repo_url(repo), "ref": {"branch": "main"}}
    await kube.create(GIT_REPOSITORIES, manifest(GIT_REPOSITORIES, "repo", ns, gspec, "none"))
    git: dict[str, Any] = {
        "checkout": {"ref": {"branch": "main"}},
        "commit": {"author": {"name": "bot", "email": "bot@example.com"}},
        "push": {"branch": "main"},
    }
    auto: dict[str, Any] = {
        "sourceRef": {"kind": "GitRepository", "name": "repo"}, "interval": "1h", "git": git,
        "update": {"path": "./deploy", "strategy": "Setters"},
    }  # fmt: skip
    override = row.args["automation"]
    if callable(override):
        override = override(world, ns)
    for key, value in override.items():
        if key == "messageTemplate":
            git["commit"]["messageTemplate"] = value
        elif key == "push":
            git["push"] = value
        else:
            auto[key] = value
    await kube.create(
        IMAGE_UPDATE_AUTOMATIONS, manifest(IMAGE_UPDATE_AUTOMATIONS, "auto", ns, auto, SUITE)
    )
    return IMAGE_UPDATE_AUTOMATIONS, "auto"


async def scan_kept(world: World, ns: str) -> str | None:
    obj = await world.kube.get(IMAGE_REPOSITORIES, "app", ns)
    result = (obj.get("status") or {}).get("lastScanResult") or {}
    if result.get("tagCount") != 2:
        return f"the last good scan result is lost: {result}"
    return None


async def git_untouched(world: World, ns: str) -> str | None:
    commits = world.git_repos.log(f"corpus-{ns}")
    if len(commits) != 1:
        return f"{len(commits) - 1} commit(s) were pushed from bad input"
    return None


def img(title: str, cause: str, kept: Any = scan_kept, **args: Any) -> Row:
    return Row("image", title, image_setup, cause, args, kept)


IMAGE_ROWS = [
    img("registry answering HTML", "tags", mode="html"),
    img("tags that are not a list", "list of tags", mode="wrong-type"),
    img("registry error page", "500", mode="server-error"),
    img("token realm on another host", "127.0.0.1:9", mode="auth-elsewhere"),
    img("redirect loop", "redirect", mode="redirect-loop"),
    img("next page on another host", "another host", mode="link-elsewhere"),
    img("answer of 64 MiB", "MiB", mode="huge"),
    img(
        "invalid semver range", "one", kept=None, policy={"policy": {"semver": {"range": ">= one"}}}
    ),
    img(
        "invalid tag filter",
        "pattern",
        kept=None,
        policy={"filterTags": {"pattern": "(["}, "policy": {"alphabetical": {}}},
    ),
    img(
        "template reaching Python internals",
        "__class__",
        kept=git_untouched,
        automation={"messageTemplate": "{{ .AutomationObject.__class__ }}"},
    ),
    img(
        "template that does not parse",
        "messageTemplate",
        kept=git_untouched,
        automation={"messageTemplate": "{{ .Changed"},
    ),
    img(
        "update.path climbing out",
        "..",
        kept=git_untouched,
        automation={"update": {"path": "../../../../etc", "strategy": "Setters"}},
    ),
    img(
        "push branch shaped like an option",
        "--receive-pack",
        kept=git_untouched,
        automation=lambda w, ns: {"push": {"branch": f"--receive-pack=touch {w.escape}/p-{ns}"}},
    ),
]

TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
HOSTILE_KUBECONFIGS = [
    ("exec credential plugin", "exec", hostile_user(exec_marker)),
    ("auth-provider", "auth-provider",
     hostile_user(lambda w, ns: {"auth-provider": {"name": "oidc", "config": {}}})),
    ("tokenFile of the controller's own token", "tokenFile",
     hostile_user(lambda w, ns: {"tokenFile": TOKEN_FILE})),
    ("client-key read from a path", "client-key",
     hostile_user(lambda w, ns: {"client-certificate-data": "eA==", "client-key": "/etc/passwd"})),
    ("certificate-authority read from a path", "certificate-authority",
     hostile_user(lambda w, ns: {"token": "t"}, **{"certificate-authority": "/etc/passwd"})),
    ("insecure-skip-tls-verify", "insecure-skip-tls-verify",
     hostile_user(lambda w, ns: {"token": "t"}, **{"insecure-skip-tls-verify": True})),
]  # fmt: skip
KUBECONFIG_ROWS = [
    *[kubeconfig_row(f"kubeconfig: {t}", c, f) for t, c, f in HOSTILE_KUBECONFIGS],
    kubeconfig_row("kubeconfig: server that is a file URL", "server",
                   hostile_user(lambda w, ns: {"token": "t"}, server="file:///etc/passwd")),
    *[kubeconfig_row(f"kubeconfig: {t}", c, f, "helm") for t, c, f in HOSTILE_KUBECONFIGS[:3]],
]  # fmt: skip

CONTROLLERS = ("kustomize", "source", "helm", "image")
ROWS = KUSTOMIZE_ROWS + SOURCE_ROWS + HELM_SOURCE_ROWS + HELM_ROWS + IMAGE_ROWS + KUBECONFIG_ROWS


# -- running the corpus -----------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    api_client: ApiClient, control_plane: ControlPlane, git_repos: GitRepos,
    git_server: GitHTTPServer,
) -> AsyncIterator[World]:  # fmt: skip
    artifacts = RawArtifacts()
    registry = FakeRegistry()
    await artifacts.start()
    await registry.start()
    with tempfile.TemporaryDirectory(prefix="eddy-corpus-") as tmp:
        workdir = Path(tmp)
        escape = workdir / "escape"
        escape.mkdir()
        extra = {
            "kustomize": ["--concurrent=8"],
            "helm": ["--concurrent=6"],
            "source": ["--concurrent=6"],
        }
        with controller_processes(control_plane.kubeconfig, workdir,
                                  ["source", "kustomize", "helm", "image"], SELECTOR,
                                  extra) as procs:  # fmt: skip
            kube = ResourceClient(api_client, field_manager="corpus")
            yield World(kube, procs, artifacts, registry, git_repos, git_server, escape)
    await registry.stop()
    await artifacts.stop()


@dataclass
class Outcome:
    row: Row
    problems: list[str]
    condition: dict[str, Any]


async def run_row(world: World, row: Row, ns: str) -> Outcome:
    problems: list[str] = []
    try:
        res, name = await row.setup(row, world, ns)

        async def failed() -> dict[str, Any] | None:
            obj = await world.kube.get(res, name, ns)
            cond = condition(obj)
            generation = obj["metadata"].get("generation")
            seen = (obj.get("status") or {}).get("observedGeneration") == generation
            return cond if seen and cond.get("status") == "False" else None

        try:
            cond = await wait_for(f"{row.id}: Ready=False", failed, timeout=ROW_TIMEOUT)
        except AssertionError:
            last = await world.kube.get(res, name, ns)
            return Outcome(row, ["no Ready=False in time"], condition(last))
    except (AssertionError, ApiError) as err:
        return Outcome(row, [f"{type(err).__name__}: {err}"], {})
    message = str(cond.get("message", ""))
    if not cond.get("reason"):
        problems.append("Ready=False has no reason")
    cause = row.cause
    if cause.lower() not in message.lower():
        problems.append(f"the message does not name {cause!r}")
    for mark in TRACEBACK_MARKS:
        if mark in message:
            problems.append(f"the message carries {mark!r}")
    if len(message) > 4000:
        problems.append(f"the message is {len(message)} characters long")
    hidden = row.args.get("hidden")
    if hidden and hidden in message:
        problems.append("the message shows a credential")
    if row.kept is not None:
        lost = await row.kept(world, ns)
        if lost:
            problems.append(lost)
    return Outcome(row, problems, cond)


async def create_namespace(kube: ResourceClient, prefix: str) -> str:
    name = f"corpus-{prefix}-{secrets.token_hex(3)}"
    await kube.create(NAMESPACES, {"metadata": {"name": name, "labels": {NAMESPACE_LABEL: "true"}}})
    return name


async def run_group(world: World, rows: list[Row]) -> list[Outcome]:
    namespaces = [await create_namespace(world.kube, row.controller[:4]) for row in rows]
    limit = asyncio.Semaphore(10)

    async def one(row: Row, ns: str) -> Outcome:
        async with limit:
            return await run_row(world, row, ns)

    outcomes = await asyncio.gather(*(one(r, ns) for r, ns in zip(rows, namespaces, strict=True)))
    for process in world.procs.values():
        if not process.alive():
            for outcome in outcomes:
                outcome.problems.append(f"{process.name} is not running after this group")
    await cleanup(world, namespaces)
    return list(outcomes)


async def cleanup(world: World, namespaces: list[str]) -> None:
    """Delete the rows' objects while the controllers run, so finalizers are honoured."""
    kube = world.kube
    for ns in namespaces:
        for res in (KUSTOMIZATIONS, HELM_RELEASES, IMAGE_UPDATE_AUTOMATIONS):
            for item in (await kube.list(res, ns)).get("items") or []:
                await kube.delete(res, item["metadata"]["name"], ns)
    for ns in namespaces:
        await kube.delete(NAMESPACES, ns)


def report(outcomes: list[Outcome]) -> str:
    lines = []
    for outcome in outcomes:
        verdict = "ok  " if not outcome.problems else "FAIL"
        cond = outcome.condition
        lines.append(f"{verdict} {outcome.row.id}: {cond.get('reason', '-')}: "
                     f"{str(cond.get('message', ''))[:160]!r}")  # fmt: skip
        lines.extend(f"       - {p}" for p in outcome.problems)
    return "\n".join(lines)


@pytest.mark.parametrize("rows", [ROWS], ids=[f"{len(ROWS)}-rows"])
async def test_bad_input_corpus(world: World, rows: list[Row]) -> None:
    print(
        f"\nbad-input corpus: {len(ROWS)} rows "
        f"({', '.join(f'{c} {sum(r.controller == c for r in ROWS)}' for c in CONTROLLERS)})"
    )
    assert len(ROWS) >= 40
    started = time.monotonic()
    outcomes: list[Outcome] = []
    only = os.environ.get("EDDY_CORPUS_ONLY", "")
    for group in (
        KUSTOMIZE_ROWS + KUBECONFIG_ROWS,
        SOURCE_ROWS + HELM_SOURCE_ROWS,
        HELM_ROWS,
        IMAGE_ROWS,
    ):
        chosen = [r for r in group if not only or r.controller in only.split(",")]
        if chosen:
            outcomes += await run_group(world, chosen)
    escaped = sorted(p.name for p in world.escape.iterdir())
    text = report(outcomes)
    print(text)
    print(f"{len(ROWS)} rows in {time.monotonic() - started:.0f}s")
    assert not escaped, f"files written outside their target: {escaped}"
    internal = [
        f"{process.name}: {str(record)[:300]}"
        for process in world.procs.values()
        for record in process.log_records()
        if "internal error" in str(record.get("message", record.get("msg", "")))
    ]
    assert not internal, "unexpected exceptions in controllers:\n" + "\n".join(internal[:5])
    assert all(not o.problems for o in outcomes), (
        f"{sum(bool(o.problems) for o in outcomes)} of {len(outcomes)} rows failed:\n{text}"
    )
