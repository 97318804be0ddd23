"""spec.storageNamespace: Helm's records in one namespace, the release's objects in
another, as the pinned `helm list` and `helm history` show them; records moved when it
changes; both gone after the HelmRelease is deleted."""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.manager import Manager
from eddy_runtime.resources import CONFIG_MAPS, NAMESPACES, SECRETS, ResourceClient
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.waiting import eventually
from helm_controller.objects import HELM_RELEASES, release_name

from .support import TEMPLATES, TIMEOUT, HelmCLI, release, repository, wait_revision

pytestmark = pytest.mark.integration


async def records(kube: ResourceClient, namespace: str) -> list[str]:
    """The names of the Helm release records in a namespace."""
    found = await kube.list(SECRETS, namespace, label_selector="owner=helm")
    return sorted(s["metadata"]["name"] for s in found.get("items") or [])


async def test_records_live_in_the_storage_namespace(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "hi"})
    await repository(kube, namespace, helm_repo)
    target = f"{namespace}-objects"[:63]
    spec: dict[str, Any] = {
        "targetNamespace": target,
        "storageNamespace": namespace,
        "install": {"createNamespace": True},
    }
    made = release("app", namespace, **spec)
    name = release_name(made)
    await kube.create(HELM_RELEASES, made, namespace)
    try:
        obj = await wait_revision(kube, namespace, 1)
        assert obj["status"]["storageNamespace"] == namespace
        assert await records(kube, namespace) == [f"sh.helm.release.v1.{name}.v1"]
        assert await records(kube, target) == []
        settings = await kube.get(CONFIG_MAPS, f"{name}-settings", target)
        assert settings["data"]["greeting"] == "hi"
        assert await kube.get_or_none(CONFIG_MAPS, f"{name}-settings", namespace) is None
        assert [e["id"] for e in obj["status"]["inventory"]["entries"]] == [
            f"{target}_{name}-settings__ConfigMap"
        ]
        listed = await helm_cli.releases(namespace)
        assert [(r["name"], r["namespace"], r["status"]) for r in listed] == [
            (name, target, "deployed")
        ]
        assert await helm_cli.releases(target) == []

        # An upgrade finds the release where its records are.
        await kube.patch(HELM_RELEASES, "app", {"spec": {"values": {"greeting": "hey"}}}, namespace)
        await wait_revision(kube, namespace, 2)
        history = await helm_cli.history(name, namespace)
        assert [(h["revision"], h["status"]) for h in history] == [
            (1, "superseded"), (2, "deployed")
        ]  # fmt: skip
        settings = await kube.get(CONFIG_MAPS, f"{name}-settings", target)
        assert settings["data"]["greeting"] == "hey"

        # A new storage namespace: the records move, nothing is installed again.
        await kube.patch(HELM_RELEASES, "app", {"spec": {"storageNamespace": target}}, namespace)
        obj = await wait_revision(kube, namespace, 2)
        assert obj["status"]["storageNamespace"] == target
        assert await records(kube, namespace) == []
        assert await records(kube, target) == [
            f"sh.helm.release.v1.{name}.v1", f"sh.helm.release.v1.{name}.v2"
        ]  # fmt: skip
        history = await helm_cli.history(name, target)
        assert [(h["revision"], h["status"]) for h in history] == [
            (1, "superseded"), (2, "deployed")
        ]  # fmt: skip
    finally:
        await kube.delete(HELM_RELEASES, "app", namespace)

        async def deleted() -> bool:
            return await kube.get_or_none(HELM_RELEASES, "app", namespace) is None

        await eventually(deleted, timeout=TIMEOUT)
    # The uninstall removed the objects and the records, wherever they were.
    assert await kube.get_or_none(CONFIG_MAPS, f"{name}-settings", target) is None
    assert await records(kube, target) == [] and await records(kube, namespace) == []
    assert await helm_cli.releases(target) == []
    await kube.delete(NAMESPACES, target)


async def gone(kube: ResourceClient, namespace: str, name: str = "app") -> None:
    async def probe() -> bool:
        return await kube.get_or_none(HELM_RELEASES, name, namespace) is None

    await eventually(probe, timeout=TIMEOUT)


@pytest.mark.parametrize("left_in", ["nowhere", "target", "own"])
async def test_records_default_to_the_helmrelease_namespace(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI, left_in: str,
) -> None:  # fmt: skip
    """No storageNamespace: the records are kept in the HelmRelease's namespace, as Flux
    keeps them. A release found there (what Flux leaves behind) is upgraded; one whose
    records sit beside its objects (what an earlier eddy wrote) is moved there with its
    history, not installed again."""
    helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "hi"})
    await repository(kube, namespace, helm_repo)
    target = f"{namespace}-objects"[:63]
    spec: dict[str, Any] = {"targetNamespace": target, "install": {"createNamespace": True}}
    name = release_name(release("app", namespace, **spec))
    if left_in != "nowhere":
        # The release as the other controller left it: installed, then its HelmRelease
        # deleted while suspended, so the objects and the records stay.
        earlier = {"storageNamespace": target if left_in == "target" else namespace}
        await kube.create(HELM_RELEASES, release("app", namespace, **spec, **earlier), namespace)
        await wait_revision(kube, namespace, 1)
        await kube.patch(HELM_RELEASES, "app", {"spec": {"suspend": True}}, namespace)
        await kube.delete(HELM_RELEASES, "app", namespace)
        await gone(kube, namespace)
        left = namespace if left_in == "own" else target
        assert await records(kube, left) == [f"sh.helm.release.v1.{name}.v1"]
    version = 1 if left_in == "nowhere" else 2
    await kube.create(
        HELM_RELEASES, release("app", namespace, **spec, values={"greeting": "hey"}), namespace
    )
    try:
        obj = await wait_revision(kube, namespace, version)
        assert obj["status"]["storageNamespace"] == namespace
        assert await records(kube, target) == []
        assert await records(kube, namespace) == [
            f"sh.helm.release.v1.{name}.v{v}" for v in range(1, version + 1)
        ]
        listed = await helm_cli.releases(namespace)
        assert [(r["name"], r["namespace"], r["status"]) for r in listed] == [
            (name, target, "deployed")
        ]
        history = await helm_cli.history(name, namespace)
        assert [h["status"] for h in history] == ["superseded"] * (version - 1) + ["deployed"]
        settings = await kube.get(CONFIG_MAPS, f"{name}-settings", target)
        assert settings["data"]["greeting"] == "hey"
        assert await kube.get_or_none(CONFIG_MAPS, f"{name}-settings", namespace) is None
    finally:
        await kube.delete(HELM_RELEASES, "app", namespace)
        await gone(kube, namespace)
    assert await kube.get_or_none(CONFIG_MAPS, f"{name}-settings", target) is None
    assert await records(kube, target) == [] and await records(kube, namespace) == []
    await kube.delete(NAMESPACES, target)
