"""Faults: controllers killed, the API server restarted, the Git and artifact servers down.

Each test runs the controllers as processes and breaks one thing a real cluster breaks,
then checks what a user would check: conditions, inventories, objects, and that nothing
the user still wants was ever deleted. Run them alone with `pytest -m faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import ApiClient

from eddy_runtime.client import make_client
from eddy_runtime.resources import NAMESPACES, Obj, ResourceClient
from eddy_testenv import ControlPlane
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.registry import Registry
from tests.integration.image.support import push_image

from .support import (
    CONFIG_MAPS,
    GIT_REPOSITORIES,
    HELM_RELEASES,
    HELM_REPOSITORIES,
    IMAGE_POLICIES,
    IMAGE_REPOSITORIES,
    KUSTOMIZATIONS,
    SUITE_LABEL,
    config_map,
    controller_processes,
    handled,
    is_ready,
    manifest,
    ready,
    request_reconcile,
    restart,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

SUITE = "faults"
SELECTOR = f"{SUITE_LABEL}={SUITE}"
ROLLOUT_SIZE = 50
KILLS = 10
NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"


@pytest_asyncio.fixture(loop_scope="session")
async def kube(api_client: ApiClient) -> ResourceClient:
    return ResourceClient(api_client, field_manager="fault-tests")


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="eddy-faults-") as tmp:
        yield Path(tmp)


def git_repository(name: str, ns: str, url: str, interval: str = "1m") -> Obj:
    spec = {"interval": interval, "timeout": "5s", "url": url, "ref": {"branch": "main"}}
    return manifest(GIT_REPOSITORIES, name, ns, spec, SUITE)


def kustomization(name: str, ns: str, path: str, interval: str = "1m") -> Obj:
    spec = {
        "interval": interval,
        "retryInterval": "2s",
        "path": path,
        "prune": True,
        "targetNamespace": ns,
        "sourceRef": {"kind": "GitRepository", "name": "app"},
    }
    return manifest(KUSTOMIZATIONS, name, ns, spec, SUITE)


async def applied(kube: ResourceClient, name: str, ns: str, sha: str) -> Obj | None:
    obj = await kube.get(KUSTOMIZATIONS, name, ns)
    status = obj.get("status") or {}
    done = is_ready(obj) and status.get("lastAppliedRevision") == f"main@sha1:{sha}"
    return obj if done else None


async def delete_kustomizations(kube: ResourceClient, ns: str) -> None:
    """Delete while the controller still runs, so finalizers are honoured."""
    for item in (await kube.list(KUSTOMIZATIONS, ns)).get("items") or []:
        await kube.delete(KUSTOMIZATIONS, item["metadata"]["name"], ns)

    async def gone() -> bool:
        return not (await kube.list(KUSTOMIZATIONS, ns)).get("items")

    with contextlib.suppress(AssertionError):
        await wait_for("the Kustomizations are deleted", gone, timeout=30)


class DeleteWatch:
    """Records every ConfigMap DELETED in a namespace, from before the faults begin."""

    def __init__(self, kube: ResourceClient, ns: str) -> None:
        self.kube = kube
        self.ns = ns
        self.deleted: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    async def __aenter__(self) -> DeleteWatch:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._started.wait(), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        listed = await self.kube.list(CONFIG_MAPS, self.ns)
        version = listed["metadata"]["resourceVersion"]
        self._started.set()
        while True:
            async for event in self.kube.watch(CONFIG_MAPS, self.ns, resource_version=version):
                obj = event.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if event.get("type") == "DELETED":
                    self.deleted.append(obj["metadata"]["name"])


async def test_kill_kustomize_controller_during_a_rollout(
    kube: ResourceClient,
    namespace: str,
    control_plane: ControlPlane,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    workdir: Path,
) -> None:
    """kill -9 ten times while 50 Kustomizations roll out two revisions: all converge,
    nothing is lost or duplicated, and no object that is still wanted is ever deleted."""
    seed = int(os.environ.get("EDDY_FAULTS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"fault seed: {seed} (set EDDY_FAULTS_SEED to repeat)")
    dirs = [f"k{i:02d}" for i in range(ROLLOUT_SIZE)]
    repo = f"rollout-{namespace}"
    git_repos.create(repo)
    first = git_repos.commit(
        repo,
        {f"{d}/{o}.yaml": config_map(f"{d}-{o}", rev="1") for d in dirs for o in ("a", "b")},
    )
    started = time.monotonic()
    with controller_processes(
        control_plane.kubeconfig, workdir, ["source", "kustomize"], SELECTOR
    ) as procs:
        kustomize = procs["kustomize"]
        await kube.create(
            GIT_REPOSITORIES, git_repository("app", namespace, git_server.repo_url(repo))
        )

        async def source_at(sha: str) -> bool:
            obj = await kube.get(GIT_REPOSITORIES, "app", namespace)
            artifact = (obj.get("status") or {}).get("artifact") or {}
            return artifact.get("revision") == f"main@sha1:{sha}"

        await wait_for("the source has the first revision", lambda: source_at(first))
        try:
            async with DeleteWatch(kube, namespace) as watch:
                for d in dirs:
                    await kube.create(KUSTOMIZATIONS, kustomization(d, namespace, f"./{d}"))
                second = ""
                for kill in range(KILLS):
                    await asyncio.sleep(rng.uniform(0.2, 1.5))
                    await asyncio.to_thread(kustomize.kill)
                    if kill == KILLS // 2:
                        # The second revision drops b and adds c everywhere: prune must
                        # remove exactly the b objects while kills keep coming.
                        changes: dict[str, str | None] = {}
                        for d in dirs:
                            changes[f"{d}/a.yaml"] = config_map(f"{d}-a", rev="2")
                            changes[f"{d}/b.yaml"] = None
                            changes[f"{d}/c.yaml"] = config_map(f"{d}-c", rev="2")
                        second = git_repos.commit(repo, changes)
                        await request_reconcile(kube, GIT_REPOSITORIES, "app", namespace)
                    await restart(kustomize)
                await wait_for(
                    "the source has the second revision", lambda: source_at(second), timeout=30
                )
                for d in dirs:
                    await wait_for(
                        f"Kustomization {d} applies the second revision",
                        lambda d=d: applied(kube, d, namespace, second),  # type: ignore[misc]
                        timeout=120,
                    )
                converged = time.monotonic() - started
                print(f"{ROLLOUT_SIZE} Kustomizations converged through {KILLS} kills "
                      f"in {converged:.1f}s")  # fmt: skip
                # Events reach the watch a moment after the object changes; a marker
                # ConfigMap deleted last proves every earlier DELETE has arrived.
                await kube.create(CONFIG_MAPS, {"metadata": {"name": "marker"}}, namespace)
                await kube.delete(CONFIG_MAPS, "marker", namespace)
                await wait_for("the watch sees the marker", lambda: _seen(watch, "marker"))
            wanted = {f"{d}-{o}" for d in dirs for o in ("a", "c")}
            dropped = {f"{d}-b" for d in dirs}
            deleted = [n for n in watch.deleted if n != "marker"]
            assert not wanted & set(deleted), f"wanted objects deleted: {wanted & set(deleted)}"
            # A Kustomization first applied after the second commit never created its b.
            assert set(deleted) <= dropped
            assert len(deleted) == len(set(deleted)), "an object was deleted twice"

            listed = await kube.list(
                CONFIG_MAPS, namespace, label_selector=f"{NAMESPACE_LABEL}={namespace}"
            )
            found = [item["metadata"]["name"] for item in listed["items"]]
            assert sorted(found) == sorted(wanted), "objects lost or left over"
            for item in listed["items"]:
                name = item["metadata"]["name"]
                assert item["metadata"]["labels"][NAME_LABEL] == name.rsplit("-", 1)[0]
                assert item["data"] == {"rev": "2"}
            for d in dirs:
                obj = await kube.get(KUSTOMIZATIONS, d, namespace)
                ids = [e["id"] for e in obj["status"]["inventory"]["entries"]]
                assert sorted(ids) == sorted(f"{namespace}_{d}-{o}__ConfigMap" for o in "ac")
            for process in procs.values():
                assert process.alive(), f"{process.name} is not running"
        finally:
            await delete_kustomizations(kube, namespace)


async def _seen(watch: DeleteWatch, name: str) -> bool:
    return name in watch.deleted


async def test_api_server_restart(
    workdir: Path,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    helm_repo: HelmRepo,
    oci_registry_anonymous: Registry,
) -> None:
    """The API server goes away and comes back on the same address: every controller
    notices a change made meanwhile within two intervals, and none restarts."""
    interval = 10.0
    every = f"{interval:.0f}s"
    registry = oci_registry_anonymous
    plane = ControlPlane(workdir / "plane", controller_manager=False)
    plane.start()  # children die with the thread that starts them
    api = None
    try:
        await plane.install_crds(Path(__file__).parents[2] / "manifests" / "crds")
        api = await make_client(str(plane.kubeconfig))
        kube = ResourceClient(api, field_manager="fault-tests")
        ns = "restart"
        await kube.create(NAMESPACES, {"metadata": {"name": ns}})
        repo = f"restart-{os.getpid()}-{random.randrange(1 << 20)}"
        git_repos.create(repo)
        first = git_repos.commit(repo, {"app/cm.yaml": config_map("settings", rev="1")})
        await asyncio.to_thread(helm_repo.package, "demo", "1.0.0", values={"greeting": "one"})
        image = f"{registry.host}/{repo}"
        await asyncio.to_thread(push_image, registry, repo, "1.0.0")
        names = ["source", "kustomize", "helm", "image"]
        with controller_processes(plane.kubeconfig, workdir, names) as procs:
            pids = {name: p.pid for name, p in procs.items()}
            url = git_server.repo_url(repo)
            await kube.create(GIT_REPOSITORIES, git_repository("app", ns, url, every))
            await kube.create(KUSTOMIZATIONS, kustomization("app", ns, "./app", every))
            await kube.create(HELM_REPOSITORIES, manifest(HELM_REPOSITORIES, "charts", ns, {
                "url": helm_repo.url, "interval": every}, SUITE))  # fmt: skip
            await kube.create(HELM_RELEASES, manifest(HELM_RELEASES, "demo", ns, {
                "interval": every, "chart": {"spec": {
                    "chart": "demo", "version": "*", "interval": every,
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
            }, SUITE))  # fmt: skip
            await kube.create(IMAGE_REPOSITORIES, manifest(IMAGE_REPOSITORIES, "app", ns, {
                "image": image, "interval": every, "insecure": True}, SUITE))  # fmt: skip
            await kube.create(IMAGE_POLICIES, manifest(IMAGE_POLICIES, "app", ns, {
                "imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "*"}},
            }, SUITE))  # fmt: skip

            async def converged(sha: str, greeting: str, tag: str) -> bool:
                if not await applied(kube, "app", ns, sha):
                    return False
                release = await kube.get(HELM_RELEASES, "demo", ns)
                made = await kube.get_or_none(CONFIG_MAPS, "demo-demo", ns)
                if not is_ready(release) or (made or {}).get("data") != {"greeting": greeting}:
                    return False
                policy = await kube.get(IMAGE_POLICIES, "app", ns)
                latest = ((policy.get("status") or {}).get("latestRef") or {}).get("tag")
                return is_ready(policy) and latest == tag

            await wait_for("all four controllers converge", lambda: converged(first, "one",
                           "1.0.0"), timeout=90)  # fmt: skip

            await asyncio.to_thread(plane.stop_apiserver)
            second = git_repos.commit(repo, {"app/cm.yaml": config_map("settings", rev="2")})
            await asyncio.to_thread(helm_repo.package, "demo", "1.1.0", values={"greeting": "two"})
            await asyncio.to_thread(push_image, registry, repo, "1.1.0")
            # Long enough that watches break and at least one interval falls in the outage.
            await asyncio.sleep(interval)
            plane.start_apiserver()
            back = time.monotonic()
            await wait_for(
                "every controller picks up the changes after the API server returns",
                lambda: converged(second, "two", "1.1.0"),
                timeout=3 * interval,
            )
            took = time.monotonic() - back
            print(f"converged {took:.1f}s after the API server returned (interval {every})")
            assert took <= 2 * interval, f"took {took:.1f}s, more than two intervals"
            for name, process in procs.items():
                assert process.alive(), f"{process.name} is not running"
                assert process.pid == pids[name], f"{process.name} was restarted"
    finally:
        if api is not None:
            await api.close()
        await asyncio.to_thread(plane.stop)


@contextlib.asynccontextmanager
async def own_git_server(root: Path) -> AsyncIterator[GitHTTPServer]:
    server = GitHTTPServer(GitRepos(root / "repos"), workdir=root / "git-server")
    server.start()
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


def artifact_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        data: bytes = resp.read()
        return data


async def test_git_server_and_artifact_server_down(
    kube: ResourceClient, namespace: str, control_plane: ControlPlane, workdir: Path
) -> None:
    """With Git down the source reports why and keeps serving its last artifact, which
    stays applied; with the source-controller down the Kustomization keeps what it
    applied and says it cannot download. Both recover when the server returns."""
    async with own_git_server(workdir) as server:
        repos = server.repos
        repos.create("app")
        first = repos.commit("app", {"app/cm.yaml": config_map("settings", rev="1")})
        with controller_processes(
            control_plane.kubeconfig, workdir, ["source", "kustomize"], SELECTOR
        ) as procs:
            await kube.create(
                GIT_REPOSITORIES, git_repository("app", namespace, server.repo_url("app"), "1h")
            )
            await kube.create(KUSTOMIZATIONS, kustomization("app", namespace, "./app", "1h"))
            try:
                await wait_for("rev 1 is applied", lambda: applied(kube, "app", namespace, first))
                source = await kube.get(GIT_REPOSITORIES, "app", namespace)
                artifact = source["status"]["artifact"]

                # (c) The Git server goes away.
                await asyncio.to_thread(server.stop)
                stamp = await request_reconcile(kube, GIT_REPOSITORIES, "app", namespace)

                async def source_failed() -> Obj | None:
                    obj = await kube.get(GIT_REPOSITORIES, "app", namespace)
                    failed = handled(obj, stamp) and ready(obj).get("status") == "False"
                    return obj if failed else None

                down = await wait_for("the source reports Git is down", source_failed)
                condition = ready(down)
                assert condition["reason"], condition
                assert server.repo_url("app").split("//")[1].split("/")[0] in condition["message"]
                assert "Traceback" not in condition["message"]
                assert down["status"]["artifact"]["revision"] == artifact["revision"]
                data = await asyncio.to_thread(artifact_bytes, artifact["url"])
                assert len(data) == artifact["size"]
                stamp = await request_reconcile(kube, KUSTOMIZATIONS, "app", namespace)

                async def kustomization_handled() -> Obj | None:
                    obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
                    return obj if handled(obj, stamp) else None

                still = await wait_for("the Kustomization reapplies", kustomization_handled)
                assert is_ready(still), ready(still)
                assert still["status"]["lastAppliedRevision"] == f"main@sha1:{first}"
                assert (await kube.get(CONFIG_MAPS, "settings", namespace))["data"] == {"rev": "1"}

                second = repos.commit("app", {"app/cm.yaml": config_map("settings", rev="2")})
                server.start()
                await request_reconcile(kube, GIT_REPOSITORIES, "app", namespace)
                await wait_for("rev 2 is applied", lambda: applied(kube, "app", namespace, second))

                # (d) The source-controller, and with it the artifact server, goes away.
                await asyncio.to_thread(procs["source"].stop)
                stamp = await request_reconcile(kube, KUSTOMIZATIONS, "app", namespace)

                async def kustomization_failed() -> Obj | None:
                    obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
                    failed = handled(obj, stamp) and ready(obj).get("status") == "False"
                    return obj if failed else None

                failing = await wait_for("the Kustomization reports it", kustomization_failed)
                condition = ready(failing)
                assert condition["reason"] == "ArtifactFailed", condition
                assert "artifact" in condition["message"], condition
                assert "Traceback" not in condition["message"]
                assert failing["status"]["lastAppliedRevision"] == f"main@sha1:{second}"
                assert (await kube.get(CONFIG_MAPS, "settings", namespace))["data"] == {"rev": "2"}
                entries = failing["status"]["inventory"]["entries"]
                assert [e["id"] for e in entries] == [f"{namespace}_settings__ConfigMap"]

                await restart(procs["source"])
                stamp = await request_reconcile(kube, KUSTOMIZATIONS, "app", namespace)

                async def recovered() -> bool:
                    obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
                    return handled(obj, stamp) and is_ready(obj)

                await wait_for("the Kustomization recovers", recovered)
                assert procs["kustomize"].alive()
            finally:
                await delete_kustomizations(kube, namespace)
