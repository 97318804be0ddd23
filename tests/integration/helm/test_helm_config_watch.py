"""valuesFrom ConfigMaps and Secrets labelled `reconcile.fluxcd.io/watch: Enabled`
are watched: a change upgrades the releases that read them at once, with an interval
of an hour. Unlabelled ones are not even cached, and wait for the next interval."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from eddy_runtime.annotations import WATCH_ENABLED, WATCH_LABEL
from eddy_runtime.manager import Manager
from eddy_runtime.resources import CONFIG_MAPS, SECRETS, ResourceClient
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.managers import settled
from eddy_testenv.waiting import eventually
from helm_controller.objects import HELM_RELEASES

from .support import TEMPLATES, HelmCLI, release, repository, wait_condition

pytestmark = pytest.mark.integration

WATCHED = {WATCH_LABEL: WATCH_ENABLED}
SELECTOR = f"{WATCH_LABEL}={WATCH_ENABLED}"


def values_map(name: str, values: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": {"values.yaml": values}}


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def applied(kube: ResourceClient, namespace: str, release_name: str, key: str) -> str:
    found = await kube.get(CONFIG_MAPS, f"{release_name}-settings", namespace)
    return str(found["data"][key])


async def until_applied(
    kube: ResourceClient, namespace: str, release_name: str, key: str, value: str
) -> None:
    async def probe() -> bool:
        return await applied(kube, namespace, release_name, key) == value

    # The releases' interval is an hour: only the watch can bring the value this soon.
    await eventually(probe, timeout=20.0)


async def test_a_labelled_values_source_upgrades_its_releases_at_once(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "hi"})
    await repository(kube, namespace, helm_repo)
    await kube.create(CONFIG_MAPS, values_map("watched", "greeting: one\n", WATCHED), namespace)
    await kube.create(CONFIG_MAPS, values_map("plain", "greeting: one\n"), namespace)
    await kube.create(SECRETS, {
        "metadata": {"name": "secret-values", "labels": WATCHED},
        "data": {"values.yaml": encoded("password: first\n")},
    }, namespace)  # fmt: skip
    await kube.create(HELM_RELEASES, release("watched", namespace, valuesFrom=[
        {"kind": "ConfigMap", "name": "watched"}, {"kind": "Secret", "name": "secret-values"},
    ]), namespace)  # fmt: skip
    await kube.create(HELM_RELEASES, release("plain", namespace, valuesFrom=[
        {"kind": "ConfigMap", "name": "plain"},
    ]), namespace)  # fmt: skip
    await wait_condition(kube, namespace, "watched", "Ready", "True", "InstallSucceeded")
    plain = await wait_condition(kube, namespace, "plain", "Ready", "True", "InstallSucceeded")

    # Only the labelled ConfigMaps and Secrets are in the controller's memory.
    cache = helm_controller.informer(CONFIG_MAPS, SELECTOR)
    assert cache.get("watched", namespace) is not None
    assert cache.get("plain", namespace) is None
    assert helm_controller.informer(SECRETS, SELECTOR).get("secret-values", namespace)

    # The unlabelled source changes first, then the labelled one.
    await kube.patch(CONFIG_MAPS, "plain", {"data": {"values.yaml": "greeting: two\n"}}, namespace)
    await kube.patch(CONFIG_MAPS, "watched", {"data": {"values.yaml": "greeting: two\n"}},
                     namespace)  # fmt: skip
    await until_applied(kube, namespace, "watched", "greeting", "two")
    # The controller has handled the later change, and has no work for "plain".
    await settled(helm_controller, "helmrelease", plain)
    assert await applied(kube, namespace, "plain", "greeting") == "one"
    assert len(await helm_cli.history("plain", namespace)) == 1

    # A labelled Secret in valuesFrom counts the same.
    await kube.patch(SECRETS, "secret-values", {"data": {"values.yaml": encoded(
        "password: second\n")}}, namespace)  # fmt: skip
    await until_applied(kube, namespace, "watched", "password", "second")
    assert [r["revision"] for r in await helm_cli.history("watched", namespace)] == [1, 2, 3]

    # Labelling the other ConfigMap brings its change in now, not in an hour.
    await kube.patch(CONFIG_MAPS, "plain", {"metadata": {"labels": WATCHED}}, namespace)
    await until_applied(kube, namespace, "plain", "greeting", "two")
