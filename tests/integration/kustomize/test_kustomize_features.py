"""The spec's build options and the per-object annotations, as a Flux user writes them.

targetNamespace, prefixes, commonMetadata, patches, images, components, postBuild
substitution and the ssa/reconcile annotations each change what lands in the cluster.
"""

from __future__ import annotations

import base64

import pytest

from eddy_runtime.resources import SECRETS, ResourceClient

from .conftest import StartController
from .support import (
    CONFIG_MAPS,
    DEPLOYMENTS,
    Sources,
    config_map,
    create_kustomization,
    deployment,
    eventually,
    ready,
)

pytestmark = pytest.mark.integration


async def test_build_options(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    component = """apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
  - extra.yaml
"""
    await sources.publish(
        "repo",
        {
            "app/kustomization.yaml": "resources:\n  - deploy.yaml\n  - cm.yaml\n",
            "app/deploy.yaml": deployment("web", replicas=1, image="nginx:1.25"),
            "app/cm.yaml": config_map("settings", colour="blue"),
            "components/extra/kustomization.yaml": component,
            "components/extra/extra.yaml": config_map("extra", from_component="yes"),
        },
    )
    await start_controller()
    await create_kustomization(
        kube, "app", namespace, path="./app",
        namePrefix="pre-", nameSuffix="-suf",
        commonMetadata={"labels": {"team": "blue"}, "annotations": {"owner": "ops"}},
        images=[{"name": "nginx", "newTag": "1.27"}],
        components=["../components/extra", "../components/missing"],
        ignoreMissingComponents=True,
        patches=[
            {"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                      "spec:\n  replicas: 3\n",
             "target": {"kind": "Deployment"}},
            {"patch": '[{"op": "add", "path": "/data/patched", "value": "json6902"}]',
             "target": {"kind": "ConfigMap", "name": "settings"}},
        ],
    )  # fmt: skip
    await ready(kube, namespace, "app")

    deploy = await kube.get(DEPLOYMENTS, "pre-web-suf", namespace)
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert deploy["metadata"]["labels"]["team"] == "blue"
    assert deploy["metadata"]["annotations"]["owner"] == "ops"
    settings = await kube.get(CONFIG_MAPS, "pre-settings-suf", namespace)
    assert settings["data"] == {"colour": "blue", "patched": "json6902"}
    extra = await kube.get(CONFIG_MAPS, "pre-extra-suf", namespace)
    assert extra["data"] == {"from_component": "yes"}


async def test_post_build_substitution(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    opted_out = config_map("literal", text="${untouched}").replace(
        "name: literal",
        "name: literal\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled",
    )
    await sources.publish(
        "repo",
        {
            "app/cm.yaml": config_map(
                "vars", cluster="${cluster}", region="${region:=eu-west}",
                token="${token}", inline="${inline}", escaped="$${kept}",
            ),
            "app/literal.yaml": opted_out,
        },
    )  # fmt: skip
    await kube.create(
        CONFIG_MAPS,
        {"metadata": {"name": "cluster-vars", "namespace": namespace},
         "data": {"cluster": "prod", "inline": "from-configmap"}},
    )  # fmt: skip
    await kube.create(
        SECRETS,
        {"metadata": {"name": "secret-vars", "namespace": namespace},
         "data": {"token": base64.b64encode(b"s3cret").decode()}},
    )  # fmt: skip
    await start_controller()
    await create_kustomization(
        kube, "app", namespace, path="./app",
        postBuild={
            "substitute": {"inline": "from-spec"},
            "substituteFrom": [
                {"kind": "ConfigMap", "name": "cluster-vars"},
                {"kind": "Secret", "name": "secret-vars"},
                {"kind": "ConfigMap", "name": "absent", "optional": True},
            ],
        },
    )  # fmt: skip
    await ready(kube, namespace, "app")
    data = (await kube.get(CONFIG_MAPS, "vars", namespace))["data"]
    assert data == {
        "cluster": "prod",
        "region": "eu-west",
        "token": "s3cret",
        "inline": "from-spec",
        "escaped": "${kept}",
    }
    literal = await kube.get(CONFIG_MAPS, "literal", namespace)
    assert literal["data"] == {"text": "${untouched}"}


async def test_annotations_steer_apply(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    def annotated(name: str, value: str, annotation: str) -> str:
        return config_map(name, value=value).replace(
            f"name: {name}", f"name: {name}\n  annotations:\n    {annotation}"
        )

    files = {
        "app/once.yaml": annotated("once", "v1", "kustomize.toolkit.fluxcd.io/ssa: IfNotPresent"),
        "app/ignored.yaml": annotated("ignored", "v1", "kustomize.toolkit.fluxcd.io/ssa: Ignore"),
        "app/normal.yaml": config_map("normal", value="v1"),
    }
    await sources.publish("repo", files)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app")
    await ready(kube, namespace, "app")
    assert (await kube.get(CONFIG_MAPS, "once", namespace))["data"] == {"value": "v1"}
    assert await kube.get_or_none(CONFIG_MAPS, "ignored", namespace) is None

    # Someone marks a managed object by hand: the controller must leave it alone.
    await kube.patch(
        CONFIG_MAPS, "normal",
        {"metadata": {"annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}},
         "data": {"value": "by-hand"}},
        namespace,
    )  # fmt: skip
    changed = {
        "app/once.yaml": files["app/once.yaml"].replace('"v1"', '"v2"'),
        "app/ignored.yaml": files["app/ignored.yaml"],
        "app/normal.yaml": config_map("normal", value="v2"),
    }
    revision = await sources.publish("repo", changed)
    await ready(kube, namespace, "app", revision)
    assert (await kube.get(CONFIG_MAPS, "once", namespace))["data"] == {"value": "v1"}
    assert (await kube.get(CONFIG_MAPS, "normal", namespace))["data"] == {"value": "by-hand"}


async def test_substitute_strategy(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish(
        "repo",
        {
            "default/cm.yaml": config_map("by-default", region="${region:=eu-west}"),
            "always/cm.yaml": config_map("always", region="${region:=eu-west}"),
        },
    )
    await start_controller()
    # No variable is defined: WithVariables (the default) leaves the text alone.
    await create_kustomization(
        kube, "by-default", namespace, path="./default", postBuild={"substituteFrom": []}
    )
    await create_kustomization(
        kube, "always", namespace, path="./always", postBuild={"substituteStrategy": "Always"}
    )
    await ready(kube, namespace, "by-default")
    await ready(kube, namespace, "always")
    assert (await kube.get(CONFIG_MAPS, "by-default", namespace))["data"] == {
        "region": "${region:=eu-west}"
    }
    assert (await kube.get(CONFIG_MAPS, "always", namespace))["data"] == {"region": "eu-west"}


async def test_build_metadata(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish(
        "repo",
        {
            "app/kustomization.yaml": "resources:\n  - cm.yaml\nnamePrefix: dev-\n",
            "app/cm.yaml": config_map("settings", value="v1"),
        },
    )
    await start_controller()
    await create_kustomization(
        kube,
        "app",
        namespace,
        path="./app",
        buildMetadata=["originAnnotations", "transformerAnnotations"],
    )
    await ready(kube, namespace, "app")
    annotations = (await kube.get(CONFIG_MAPS, "dev-settings", namespace))["metadata"][
        "annotations"
    ]
    assert "path: cm.yaml" in annotations["config.kubernetes.io/origin"]
    assert "PrefixTransformer" in annotations["alpha.config.kubernetes.io/transformations"]


async def test_a_labelled_substitution_source_reapplies_at_once(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish("repo", {"app/cm.yaml": config_map("vars", cluster="${cluster}")})
    labels = {"reconcile.fluxcd.io/watch": "Enabled"}
    await kube.create(CONFIG_MAPS, {
        "metadata": {"name": "cluster-vars", "namespace": namespace, "labels": labels},
        "data": {"cluster": "staging"},
    })  # fmt: skip
    await start_controller()
    await create_kustomization(
        kube, "app", namespace, path="./app", interval="1h",
        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}]},
    )  # fmt: skip
    await ready(kube, namespace, "app")
    assert (await kube.get(CONFIG_MAPS, "vars", namespace))["data"] == {"cluster": "staging"}

    await kube.patch(CONFIG_MAPS, "cluster-vars", {"data": {"cluster": "prod"}}, namespace)

    async def substituted() -> bool:
        found = await kube.get(CONFIG_MAPS, "vars", namespace)
        return bool(found["data"] == {"cluster": "prod"})

    # An hour's interval: only the watch brings the new value this soon.
    await eventually(substituted)
