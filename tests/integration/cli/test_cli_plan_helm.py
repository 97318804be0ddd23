"""`eddy plan` for HelmReleases: rendered with the pinned helm and their composed values,
compared with the live objects through a server-side dry run; what the stored release
holds and the rendering does not is pruned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from eddy_helm import postrender
from eddy_testenv import ControlPlane
from eddy_testenv.gitserver import GitHTTPServer, GitRepo
from eddy_testenv.helmrepo import DEFAULT_TEMPLATE, HelmRepo, run_helm
from eddy_testenv.process import find_binary
from eddy_testenv.registry import Registry

from ..install.support import dump, kubectl
from .support import eddy, registry_secret, run_controllers, wait_ready

pytestmark = pytest.mark.integration

CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

CHART = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    "charts/web/values.yaml": "greeting: hello\ncolor: red\nextra: false\nreplicas: 1\n",
    "charts/web/templates/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  replicas: {{ .Values.replicas }}\n"
        "  selector:\n    matchLabels: {app: web}\n"
        "  template:\n    metadata:\n      labels: {app: web}\n"
        "    spec:\n      containers:\n        - name: web\n"
        "          image: registry.invalid/web:1.0\n"
    ),
    "charts/web/templates/settings.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n  color: {{ .Values.color | quote }}\n"
    ),
    "charts/web/templates/extra.yaml": (
        "{{- if .Values.extra }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: {{ .Release.Name }}-extra\ndata: {}\n{{- end }}\n"
    ),
}


def release(greeting: str, extra: bool = False, **more: Any) -> str:
    """The HelmRelease in Git: chart from the same repository, one value from a ConfigMap."""
    return yaml.safe_dump(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "web"},
            "spec": {
                **more,
                "interval": "10m",
                "chart": {
                    "spec": {
                        "chart": "./charts/web",
                        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                    }
                },
                "valuesFrom": [{"kind": "ConfigMap", "name": "web-values"}],
                "values": {"greeting": greeting, "extra": extra},
            },
        }
    )


@pytest.fixture(scope="module")
def controllers(control_plane: ControlPlane) -> Iterator[None]:
    with run_controllers(control_plane.kubeconfig, "source-controller", "kustomize-controller"):
        yield


@pytest.fixture
def released(
    controllers: None,
    control_plane: ControlPlane,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
    tmp_path: Path,
) -> str:
    """The HelmRelease applied from Git, and its release v1 installed by helm itself."""
    admin = control_plane.kubeconfig
    git_repo.commit({**CHART, "apps/release.yaml": release("hello")}, message="web")
    values = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-values"},
        "data": {"values.yaml": "color: blue\n"},
    }
    source = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "flux-system"},
        "spec": {"interval": "10m", "url": git_server.repo_url(git_repo.name),
                 "ref": {"branch": "main"}},
    }  # fmt: skip
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {"interval": "10m", "path": "./apps", "prune": True, "targetNamespace": namespace,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
    }  # fmt: skip
    kubectl(admin, "apply", f"--namespace={namespace}", "-f", "-",
            stdin=dump([values, source, kustomization]))  # fmt: skip
    wait_ready(admin, "kustomization", "apps", namespace)
    chart = tmp_path / "chart"
    for name, text in CHART.items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_text(text)
    release_as_controller(
        admin, "install", "web", chart / "charts/web", namespace, tmp_path, "--set", "color=blue"
    )
    return namespace


def release_as_controller(
    kubeconfig: Path, action: str, name: str, chart: Path, namespace: str, tmp_path: Path,
    *args: str,
) -> None:  # fmt: skip
    """`helm install|upgrade` as the helm-controller runs it: post-rendered by
    eddy-helm-server, which labels every object with the HelmRelease's name and namespace."""
    origin = tmp_path / f"post-render-{name}.json"
    labels = postrender.origin_labels(name, namespace)
    origin.write_text(json.dumps(postrender.document({}, labels)))
    run_helm(action, name, str(chart), "--namespace", namespace, *args,
             f"--kubeconfig={kubeconfig}", "--post-renderer", find_binary("eddy-helm-server"),
             "--post-renderer-args", "post-render", "--post-renderer-args", str(origin),
             home=tmp_path / "helm")  # fmt: skip


def plan(kubeconfig: Path, namespace: str, root: Path, *args: str) -> tuple[int, str, str]:
    result = eddy(
        "-n", namespace, "plan", f"--kustomize-path={find_binary('kustomize')}",
        f"--helm-path={find_binary('helm')}",
        f"--helm-server-path={find_binary('eddy-helm-server')}", "--source-dir", str(root), *args,
        kubeconfig=kubeconfig,
    )  # fmt: skip
    return result.code, result.stdout, result.stderr


def checkout(
    root: Path, greeting: str, extra: bool = False, without: str = "", **more: Any
) -> Path:
    files = {**CHART, "apps/release.yaml": release(greeting, extra, **more)}
    for name, text in files.items():
        if name == without:
            continue
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_helm_release_unchanged_exits_0(
    control_plane: ControlPlane, released: str, tmp_path: Path
) -> None:
    code, out, err = plan(control_plane.kubeconfig, released, checkout(tmp_path / "src", "hello"))
    assert code == 0, err + out
    assert f"HelmRelease {released}/web (./charts/web (from the proposed revision)): " \
        "no changes (2 objects unchanged)" in out  # fmt: skip


def test_helm_release_scaled_by_hand_shows_replicas(
    control_plane: ControlPlane, released: str, tmp_path: Path
) -> None:
    """The live Deployment, not the stored release, is what the rendering is compared with."""
    admin = control_plane.kubeconfig
    kubectl(admin, "scale", "deployment", "web", "--replicas=3", "-n", released)
    code, out, err = plan(admin, released, checkout(tmp_path / "src", "hello"), "-o", "json")
    assert code == 1, err + out
    (ks,) = json.loads(out)["kustomizations"]
    (hr,) = json.loads(out)["helmReleases"]
    assert ks["changes"] == []
    assert hr["changes"] == [
        {"action": "configured", "object": f"Deployment/{released}/web",
         "fields": [{"path": "spec.replicas", "live": 3, "new": 1}]},
    ]  # fmt: skip
    assert hr["unchanged"] == 1
    code, out, _ = plan(admin, released, checkout(tmp_path / "src", "hello"))
    assert code == 1
    assert f"~ Deployment/{released}/web configured" in out
    assert "spec.replicas: 3 → 1" in out
    # A dry run: the Deployment is still as scaled.
    assert kubectl(admin, "get", "deployment", "web", "-n", released,
                   "-o", "jsonpath={.spec.replicas}") == "3"  # fmt: skip


def test_helm_release_template_removed_is_pruned(
    control_plane: ControlPlane, released: str, tmp_path: Path
) -> None:
    admin = control_plane.kubeconfig
    release_as_controller(admin, "upgrade", "web", tmp_path / "chart/charts/web", released,
                          tmp_path, "--reuse-values", "--set", "extra=true")  # fmt: skip
    root = checkout(
        tmp_path / "src", "hello", extra=True, without="charts/web/templates/extra.yaml"
    )
    code, out, err = plan(admin, released, root, "-o", "json")
    assert code == 1, err + out
    (hr,) = json.loads(out)["helmReleases"]
    assert hr["changes"] == [{"action": "pruned", "object": f"ConfigMap/{released}/web-extra"}]
    code, markdown, _ = plan(admin, released, root, "-o", "markdown")
    assert code == 1
    assert f"| prune | `ConfigMap/{released}/web-extra` | pruned |" in markdown
    secrets = kubectl(admin, "get", "secrets", "-n", released, "-o", "name")
    assert "sh.helm.release.v1.web.v2" in secrets and ".v3" not in secrets


def test_helm_release_values_and_chart_changes(
    control_plane: ControlPlane, released: str, tmp_path: Path
) -> None:
    root = checkout(tmp_path / "src", "hi", extra=True)
    code, out, err = plan(control_plane.kubeconfig, released, root, "-o", "json")
    assert code == 1, err + out
    found = json.loads(out)
    (ks,) = found["kustomizations"]
    (hr,) = found["helmReleases"]
    assert hr["helmRelease"] == f"{released}/web"
    changes = {c["object"]: c for c in hr["changes"]}
    # The value from Git changes; the one from valuesFrom (blue) is composed in, so
    # it does not show as a change back to the chart's default.
    assert changes[f"ConfigMap/{released}/web-settings"]["fields"] == [
        {"path": "data.greeting", "live": "hello", "new": "hi"}
    ]
    assert changes[f"ConfigMap/{released}/web-extra"]["action"] == "created"
    # The Kustomization's own plan shows the HelmRelease object itself changing.
    ks_changes = {c["object"]: c for c in ks["changes"]}
    assert any(f["path"] == "spec.values.greeting"
               for f in ks_changes[f"HelmRelease/{released}/web"]["fields"])  # fmt: skip

    code, markdown, _ = plan(control_plane.kubeconfig, released, root, "-o", "markdown")
    assert code == 1
    assert markdown.startswith("### eddy plan: 3 changes in 1 Kustomization and 1 HelmRelease")
    assert f"#### HelmRelease `{released}/web`" in markdown
    assert f"| create | `ConfigMap/{released}/web-extra` | created |" in markdown
    # Nothing was installed: the release is still at v1.
    secrets = kubectl(control_plane.kubeconfig, "get", "secrets", "-n", released, "-o", "name")
    assert "sh.helm.release.v1.web.v1" in secrets and ".v2" not in secrets


def test_helm_release_post_renderers_and_common_metadata_are_planned(
    control_plane: ControlPlane, released: str, tmp_path: Path
) -> None:
    """Post-rendered as the helm-controller would: the patch and the common label show."""
    patch = "- op: replace\n  path: /data/color\n  value: green\n"
    more = {
        "postRenderers": [
            {"kustomize": {"patches": [{"patch": patch, "target": {"kind": "ConfigMap"}}]}}
        ],
        "commonMetadata": {"labels": {"team": "blue"}},
    }
    root = checkout(tmp_path / "src", "hello", **more)
    code, out, err = plan(control_plane.kubeconfig, released, root, "-o", "json")
    assert code == 1, err + out
    (hr,) = json.loads(out)["helmReleases"]
    changes = {c["object"]: c["fields"] for c in hr["changes"]}
    fields = {
        f["path"]: (f["live"], f["new"]) for f in changes[f"ConfigMap/{released}/web-settings"]
    }
    assert fields["data.color"] == ("blue", "green")
    assert fields["metadata.labels.team"] == (None, "blue")
    # The common label goes on every object; the patch only where its target says.
    (deployment,) = changes[f"Deployment/{released}/web"]
    assert (deployment["path"], deployment["new"]) == ("metadata.labels.team", "blue")


def test_helm_release_whose_values_source_is_missing_exits_2(
    control_plane: ControlPlane, released: str, tmp_path: Path
) -> None:
    kubectl(control_plane.kubeconfig, "delete", "configmap", "web-values", "-n", released)
    code, out, err = plan(control_plane.kubeconfig, released, checkout(tmp_path / "src", "hi"))
    assert code == 2, err + out
    assert f"could not find ConfigMap '{released}/web-values' referenced in valuesFrom" in out


def test_helm_release_from_a_chart_repository(
    controllers: None,
    control_plane: ControlPlane,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
    helm_repo: HelmRepo,
    tmp_path: Path,
) -> None:
    """A chart from a HelmRepository: rendered from the HelmChart's artifact, which
    eddy plan downloads from the artifact server and verifies."""
    admin = control_plane.kubeconfig
    archive = helm_repo.package("shop", "1.0.0")
    shop = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "shop"},
        "spec": {
            "interval": "10m",
            "chart": {"spec": {"chart": "shop", "version": "1.0.0",
                               "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
            "values": {"greeting": "hello"},
        },
    }  # fmt: skip
    git_repo.commit({"apps/shop.yaml": yaml.safe_dump(shop)}, message="shop")
    objects = [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "flux-system"},
         "spec": {"interval": "10m", "url": git_server.repo_url(git_repo.name),
                  "ref": {"branch": "main"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "apps"},
         "spec": {"interval": "10m", "path": "./apps", "prune": True,
                  "targetNamespace": namespace,
                  "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}},
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
         "metadata": {"name": "charts"}, "spec": {"interval": "10m", "url": helm_repo.url}},
        # What the helm-controller makes of spec.chart (none runs here).
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
         "metadata": {"name": f"{namespace}-shop"},
         "spec": {"interval": "10m", "chart": "shop", "version": "1.0.0",
                  "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
    ]  # fmt: skip
    kubectl(admin, "apply", f"--namespace={namespace}", "-f", "-", stdin=dump(objects))
    wait_ready(admin, "kustomization", "apps", namespace)
    wait_ready(admin, "helmchart", f"{namespace}-shop", namespace)
    release_as_controller(admin, "install", "shop", archive, namespace, tmp_path, "--set",
                          "greeting=hello")  # fmt: skip

    root = tmp_path / "src"
    (root / "apps").mkdir(parents=True)
    shop["spec"]["values"] = {"greeting": "hola"}
    (root / "apps/shop.yaml").write_text(yaml.safe_dump(shop))
    code, out, err = plan(admin, namespace, root, "-o", "json")
    assert code == 1, err + out
    (hr,) = json.loads(out)["helmReleases"]
    assert hr["chart"].startswith(f"HelmChart {namespace}/{namespace}-shop 1.0.0")
    assert hr["changes"] == [
        {"action": "configured", "object": f"ConfigMap/{namespace}/shop-shop",
         "fields": [{"path": "data.greeting", "live": "hello", "new": "hola"}]},
    ]  # fmt: skip

    # A new chart version cannot be rendered before the source-controller has it.
    shop["spec"]["chart"]["spec"]["version"] = "2.0.0"
    (root / "apps/shop.yaml").write_text(yaml.safe_dump(shop))
    code, out, err = plan(admin, namespace, root)
    assert code == 2, err + out
    assert "the proposal changes spec.chart" in out


def test_helm_release_field_no_longer_rendered_is_removed(
    control_plane: ControlPlane, released: str, tmp_path: Path
) -> None:
    """A field the stored release rendered and the proposal does not is shown going away,
    as Helm's upgrade removes it, though a dry-run apply leaves it to Helm's field manager."""
    root = checkout(tmp_path / "src", "hello")
    template = root / "charts/web/templates/settings.yaml"
    template.write_text(template.read_text().replace("  color: {{ .Values.color | quote }}\n", ""))
    code, out, err = plan(control_plane.kubeconfig, released, root, "-o", "json")
    assert code == 1, err + out
    (hr,) = json.loads(out)["helmReleases"]
    assert hr["changes"] == [
        {"action": "configured", "object": f"ConfigMap/{released}/web-settings",
         "fields": [{"path": "data.color", "live": "blue", "new": None}]},
    ]  # fmt: skip


def test_helm_release_the_controller_would_refuse_exits_2(
    control_plane: ControlPlane, released: str, tmp_path: Path
) -> None:
    """A field eddy does not honour yet is named, as the helm-controller names it, instead
    of a rendering that leaves it out."""
    root = checkout(tmp_path / "src", "hello")
    doc = yaml.safe_load((root / "apps/release.yaml").read_text())
    doc["spec"]["postRenderStrategy"] = "combined"
    (root / "apps/release.yaml").write_text(yaml.safe_dump(doc))
    code, out, err = plan(control_plane.kubeconfig, released, root, "-o", "json")
    assert code == 2, err + out
    (hr,) = json.loads(out)["helmReleases"]
    assert hr["error"].startswith(
        "spec.postRenderStrategy: not supported by eddy yet, so the controller refuses this "
        "HelmRelease and applies nothing"
    )


def test_helm_release_chart_ref_to_another_tag_of_an_oci_repository(
    controllers: None,
    control_plane: ControlPlane,
    namespace: str,
    oci_registry: Registry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    """--revision of the OCIRepository a chartRef names: that tag's chart, rendered with the
    release's values and compared with the live objects."""
    admin = control_plane.kubeconfig
    first = oci_registry.publish("shop", "1.0.0", repository=oci_repository)
    extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\n"
    templates = {"configmap.yaml": DEFAULT_TEMPLATE, "extra.yaml": extra}
    oci_registry.publish("shop", "2.0.0", repository=oci_repository, templates=templates)
    registry_secret(admin, namespace, oci_registry)
    objects = [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
         "metadata": {"name": "shop-chart"},
         "spec": {"interval": "10m", "url": oci_registry.url(f"{oci_repository}/shop"),
                  "insecure": True, "secretRef": {"name": "registry"}, "ref": {"tag": "1.0.0"},
                  "layerSelector": {"mediaType": CHART_LAYER, "operation": "copy"}}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
         "metadata": {"name": "shop"},
         "spec": {"interval": "10m", "values": {"greeting": "hola"},
                  "chartRef": {"kind": "OCIRepository", "name": "shop-chart"}}},
    ]  # fmt: skip
    kubectl(admin, "apply", f"--namespace={namespace}", "-f", "-", stdin=dump(objects))
    release_as_controller(admin, "install", "shop", first, namespace, tmp_path, "--set",
                          "greeting=hola")  # fmt: skip
    oci = ("--source-kind", "OCIRepository", "--source", "shop-chart")
    server = (f"--helm-server-path={find_binary('eddy-helm-server')}",)

    result = eddy("-n", namespace, "plan", f"--kustomize-path={find_binary('kustomize')}",
                  f"--helm-path={find_binary('helm')}", *server, *oci, "--revision", "1.0.0",
                  kubeconfig=admin)  # fmt: skip
    assert result.code == 0, result.stderr + result.stdout
    assert f"HelmRelease {namespace}/shop (shop (from the proposed revision)): no changes" \
        in result.stdout  # fmt: skip

    result = eddy("-n", namespace, "plan", f"--kustomize-path={find_binary('kustomize')}",
                  f"--helm-path={find_binary('helm')}", *server, *oci, "--revision", "2.0.0", "-o",
                  "json", kubeconfig=admin)  # fmt: skip
    assert result.code == 1, result.stderr + result.stdout
    found = result.json()
    assert found["revision"].startswith("2.0.0@sha256:")
    (hr,) = found["helmReleases"]
    assert hr["changes"] == [{"action": "created", "object": f"ConfigMap/{namespace}/shop-extra"}]
