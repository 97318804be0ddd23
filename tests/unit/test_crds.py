"""The generated CRDs: committed copy up to date, and the schema details users rely on."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from eddy_api import crdgen, examples, schema
from eddy_api.common import Artifact, artifact_of, find_condition
from eddy_api.helm import HelmRelease
from eddy_api.image import ImagePolicy, ImageUpdateAutomation
from eddy_api.kinds import ALL_KINDS, by_kind, for_object
from eddy_api.kustomize import Kustomization
from eddy_api.resource import Resource, spec_type, status_type
from eddy_api.source import GitRepository, HelmChart, HelmRepository
from eddy_runtime.conditions import is_ready

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "manifests" / "crds"


def test_committed_crds_match_the_generator(tmp_path: Path) -> None:
    crdgen.write(tmp_path)
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.yaml")}
    committed = {p.name: p.read_text() for p in COMMITTED.glob("*.yaml")}
    stale = sorted(
        name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name)
    )
    assert not stale, (
        f"manifests/crds is out of date ({', '.join(stale)}); "
        "run `.venv/bin/python -m eddy_api.crdgen` and commit the result"
    )


def test_generation_is_deterministic() -> None:
    assert crdgen.render_all() == crdgen.render_all()


# --- helpers ---------------------------------------------------------------


def crd_of(kind: str) -> dict[str, Any]:
    return crdgen.crd(by_kind(kind))


def openapi(kind: str, version: str | None = None) -> dict[str, Any]:
    versions = crd_of(kind)["spec"]["versions"]
    chosen = next(v for v in versions if version in (None, v["name"]))
    schema_: dict[str, Any] = chosen["schema"]["openAPIV3Schema"]
    return schema_


def node(kind: str, path: str, version: str | None = None) -> dict[str, Any]:
    """The schema at a dotted path; `[]` steps into array items."""
    current = openapi(kind, version)
    for part in path.split("."):
        current = current["items"] if part == "[]" else current["properties"][part]
    return current


def walk(s: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, s)]
    for name, child in s.get("properties", {}).items():
        found += walk(child, f"{path}.{name}")
    if "items" in s:
        found += walk(s["items"], f"{path}[]")
    if isinstance(s.get("additionalProperties"), dict):
        found += walk(s["additionalProperties"], f"{path}{{}}")
    return found


def violations(s: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """A small subset of the API server's structural validation, enough for the examples."""
    if s.get("x-kubernetes-preserve-unknown-fields") and "type" not in s:
        return []
    kind = str(s.get("type"))
    if not _has_type(value, kind):
        return [f"{path}: expected {kind}"]
    found: list[str] = []
    if "enum" in s and value not in s["enum"]:
        found.append(f"{path}: {value!r} not in {s['enum']}")
    if "pattern" in s and not re.search(s["pattern"], value):
        found.append(f"{path}: {value!r} does not match {s['pattern']}")
    if "minLength" in s and len(value) < s["minLength"]:
        found.append(f"{path}: shorter than {s['minLength']}")
    if "maxLength" in s and len(value) > s["maxLength"]:
        found.append(f"{path}: longer than {s['maxLength']}")
    if kind == "object":
        for name in s.get("required", []):
            if name not in value:
                found.append(f"{path}.{name}: Required value")
        props = s.get("properties", {})
        for name, child in value.items():
            if name in props:
                found += violations(props[name], child, f"{path}.{name}")
            elif isinstance(s.get("additionalProperties"), dict):
                found += violations(s["additionalProperties"], child, f"{path}.{name}")
            elif path != ".metadata":
                found.append(f"{path}.{name}: unknown field")
    if kind == "array":
        for i, item in enumerate(value):
            found += violations(s["items"], item, f"{path}[{i}]")
    return found


def _has_type(value: Any, kind: str) -> bool:
    python_type = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int}
    if kind == "integer" and isinstance(value, bool):
        return False
    return isinstance(value, python_type[kind])


def check(obj: dict[str, Any]) -> list[str]:
    version = obj["apiVersion"].split("/")[1]
    return violations(openapi(obj["kind"], version), obj)


# --- every CRD -------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_KINDS, ids=lambda c: c.INFO.kind)
def test_crd_shape(cls: type[Resource]) -> None:
    doc = crdgen.crd(cls)
    info = cls.INFO
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["metadata"]["name"] == f"{info.plural}.{info.group}"
    assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "eddy"
    assert doc["metadata"]["labels"]["app.kubernetes.io/component"].endswith("-controller")
    assert doc["spec"]["scope"] == "Namespaced"
    assert "fluxcd" in doc["spec"]["names"]["categories"]
    versions = doc["spec"]["versions"]
    assert [v["storage"] for v in versions].count(True) == 1
    for version in versions:
        assert version["served"] is True
        assert version["subresources"] == {"status": {}}
        columns = [c["name"] for c in version["additionalPrinterColumns"]]
        assert {"Age", "Ready", "Status"} <= set(columns)
        root = version["schema"]["openAPIV3Schema"]
        assert root["properties"]["status"]["default"] == {"observedGeneration": -1}


@pytest.mark.parametrize("cls", ALL_KINDS, ids=lambda c: c.INFO.kind)
def test_schema_is_structural_and_documented(cls: type[Resource]) -> None:
    for path, s in walk(openapi(cls.INFO.kind)):
        if s.get("x-kubernetes-preserve-unknown-fields"):
            assert path == ".spec.values", f"free-form JSON only where Flux has it, not {path}"
            continue
        assert "type" in s, f"{path} has no type"
        if path.startswith((".spec.", ".status.")) and not path.endswith(("[]", "{}")):
            assert s.get("description"), f"{path} has no description"


def test_free_form_json_only_for_helm_values() -> None:
    values = node("HelmRelease", "spec.values")
    assert values == {
        "description": values["description"],
        "x-kubernetes-preserve-unknown-fields": True,
    }


@pytest.mark.parametrize(
    ("kind", "short_names"),
    [
        ("GitRepository", ["gitrepo"]),
        ("HelmRepository", ["helmrepo"]),
        ("HelmChart", ["hc"]),
        ("Kustomization", ["ks"]),
        ("HelmRelease", ["hr"]),
        ("ImageRepository", ["imgrepo", "imagerepo"]),
        ("ImagePolicy", ["imgpol", "imagepol"]),
        ("ImageUpdateAutomation", ["iua", "imgupd", "imgauto"]),
    ],
)
def test_short_names(kind: str, short_names: list[str]) -> None:
    assert crd_of(kind)["spec"]["names"]["shortNames"] == short_names


def test_printer_columns_read_like_flux() -> None:
    def columns(kind: str) -> list[str]:
        version = crd_of(kind)["spec"]["versions"][-1]
        return [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]

    assert columns("GitRepository") == ["URL", "Age", "Ready", "Status"]
    assert columns("Kustomization") == ["Age", "Ready", "Status"]
    assert columns("HelmRelease") == ["Age", "Ready", "Status"]
    assert columns("HelmChart")[:4] == ["Chart", "Version", "Source Kind", "Source Name"]
    wide = crd_of("HelmRelease")["spec"]["versions"][0]["additionalPrinterColumns"]
    assert any(c["name"] == "Revision" and c["priority"] == 1 for c in wide)


def test_image_kinds_serve_v1beta2_and_v1_and_store_v1() -> None:
    for kind in ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation"):
        versions = {v["name"]: v["storage"] for v in crd_of(kind)["spec"]["versions"]}
        assert versions == {"v1": True, "v1beta2": False}
        assert openapi(kind, "v1") == openapi(kind, "v1beta2")


# --- details users rely on -------------------------------------------------

DURATION_KINDS = [
    ("GitRepository", "spec.interval"),
    ("Kustomization", "spec.interval"),
    ("Kustomization", "spec.retryInterval"),
    ("HelmRelease", "spec.interval"),
    ("ImageRepository", "spec.interval"),
]


@pytest.mark.parametrize(("kind", "path"), DURATION_KINDS)
@pytest.mark.parametrize("text", ["1m", "10m0s", "1h30m", "500ms", "1.5h", "90s"])
def test_durations_accept_go_durations(kind: str, path: str, text: str) -> None:
    assert re.search(node(kind, path)["pattern"], text)


@pytest.mark.parametrize(("kind", "path"), DURATION_KINDS)
@pytest.mark.parametrize("text", ["5 minutes", "1d", "", "m", "10", "-1m", "1m "])
def test_durations_reject_other_text(kind: str, path: str, text: str) -> None:
    assert not re.search(node(kind, path)["pattern"], text)


def test_git_timeout_default_and_pattern() -> None:
    timeout = node("GitRepository", "spec.timeout")
    assert timeout["default"] == "60s"
    assert not re.search(timeout["pattern"], "1h")


def test_required_fields() -> None:
    assert node("Kustomization", "spec")["required"] == ["interval", "prune", "sourceRef"]
    assert node("GitRepository", "spec")["required"] == ["interval", "url"]
    assert node("HelmRepository", "spec")["required"] == ["url"]
    assert node("HelmChart", "spec")["required"] == ["chart", "interval", "sourceRef"]
    assert node("HelmRelease", "spec")["required"] == ["interval"]
    assert node("ImageRepository", "spec")["required"] == ["image", "interval"]
    assert node("ImagePolicy", "spec")["required"] == ["imageRepositoryRef", "policy"]
    assert node("ImageUpdateAutomation", "spec")["required"] == ["interval", "sourceRef"]
    assert node("Kustomization", "spec.sourceRef")["required"] == ["kind", "name"]
    assert node("GitRepository", "status.artifact")["required"] == [
        "digest",
        "lastUpdateTime",
        "path",
        "revision",
        "url",
    ]


def test_enums() -> None:
    assert node("Kustomization", "spec.sourceRef.kind")["enum"] == [
        "OCIRepository",
        "GitRepository",
        "Bucket",
        "ExternalArtifact",
    ]
    assert node("HelmRepository", "spec.type")["enum"] == ["default", "oci"]
    assert node("HelmChart", "spec.sourceRef.kind")["enum"] == [
        "HelmRepository",
        "GitRepository",
        "Bucket",
    ]
    assert node("GitRepository", "spec.provider")["enum"] == ["generic", "aws", "azure", "github"]
    assert node("HelmRelease", "spec.chartRef.kind")["enum"] == [
        "OCIRepository",
        "HelmChart",
        "ExternalArtifact",
    ]


def test_json_names_that_are_not_plain_camel_case() -> None:
    install = node("HelmRelease", "spec.install")["properties"]
    assert "disableOpenAPIValidation" in install and "skipCRDs" in install
    assert "matchOIDCIdentity" in node("HelmChart", "spec.verify")["properties"]
    assert "v" in node("Kustomization", "status.inventory.entries.[]")["properties"]


def test_cel_rules_are_declared() -> None:
    rules = node("HelmRelease", "spec")["x-kubernetes-validations"]
    assert any("chartRef" in r["rule"] for r in rules)
    assert node("Kustomization", "spec.kubeConfig")["x-kubernetes-validations"]


def test_not_honoured_fields_say_so() -> None:
    refused = node("GitRepository", "spec.provider")
    assert schema.NOT_HONOURED in refused["description"]
    assert "refused" in refused["description"]
    assert schema.NOT_HONOURED not in node("GitRepository", "spec.url")["description"]


# --- example manifests against the schemas ---------------------------------


@pytest.mark.parametrize("obj", examples.accepted(), ids=lambda o: o["kind"])
def test_examples_validate(obj: dict[str, Any]) -> None:
    assert check(obj) == []


def _variant(kind: str) -> dict[str, Any]:
    return examples.find(examples.accepted(), kind)


def test_invalid_variants_are_caught() -> None:
    ks = _variant("Kustomization")
    del ks["spec"]["sourceRef"]
    assert check(ks) == [".spec.sourceRef: Required value"]

    ks = _variant("Kustomization")
    ks["spec"]["interval"] = "5 minutes"
    assert [v.split(":")[0] for v in check(ks)] == [".spec.interval"]

    ks = _variant("Kustomization")
    ks["spec"]["sourceRef"]["kind"] = "Foo"
    assert [v.split(":")[0] for v in check(ks)] == [".spec.sourceRef.kind"]

    repo = _variant("HelmRepository")
    repo["spec"]["type"] = "svn"
    assert [v.split(":")[0] for v in check(repo)] == [".spec.type"]

    git = _variant("GitRepository")
    del git["spec"]["url"]
    assert check(git) == [".spec.url: Required value"]


# --- typed objects ---------------------------------------------------------


def test_from_dict_applies_defaults_and_tolerates_gaps() -> None:
    git = GitRepository.from_dict(examples.find(examples.accepted(), "GitRepository"))
    assert git.name == "my-app" and git.namespace == "flux-system"
    assert git.spec.url.startswith("https://") and git.spec.interval == "1m"
    assert git.spec.ref is not None and git.spec.ref.branch == "main"
    assert git.spec.timeout == "60s"
    assert git.status.artifact is None

    bare = Kustomization.from_dict({"metadata": {"name": "x"}})
    assert bare.kind == "Kustomization"
    assert bare.api_version == "kustomize.toolkit.fluxcd.io/v1"
    assert bare.spec.prune is False and bare.spec.source_ref.name == ""
    assert bare.spec.force is False

    policy = ImagePolicy.from_dict(examples.find(examples.accepted(), "ImagePolicy"))
    assert policy.spec.policy.semver is not None
    assert policy.spec.policy.semver.range == ">=1.0.0"
    assert policy.spec.digest_reflection_policy == "Never"

    auto = ImageUpdateAutomation.from_dict({"spec": {"interval": "1m"}})
    assert auto.spec.update.strategy == "Setters"
    assert auto.spec.source_ref.kind == "GitRepository"


def test_round_trip_keeps_fields() -> None:
    original = examples.find(examples.accepted(), "HelmRelease")
    hr = HelmRelease.from_dict(original)
    assert hr.spec.values == original["spec"]["values"]
    again = hr.to_dict()
    assert again["spec"]["chart"]["spec"]["sourceRef"] == {
        "kind": "HelmRepository",
        "name": "podinfo",
    }
    assert again["spec"]["install"] == {"remediation": {"retries": 3}}
    assert again["metadata"] == original["metadata"]


def test_helm_release_helpers() -> None:
    hr = HelmRelease.from_dict(
        {"metadata": {"name": "web", "namespace": "apps"}, "spec": {"targetNamespace": "prod"}}
    )
    assert hr.release_name() == "prod-web"
    assert hr.release_namespace() == "prod"
    assert hr.storage_namespace() == "apps"
    assert hr.helm_chart_name() == "apps-web"
    assert hr.spec.timeout_seconds() == 300.0
    assert hr.spec.effective_max_history() == 5


def test_kustomization_timeout_rules() -> None:
    ks = Kustomization.from_dict({"spec": {"interval": "10m"}})
    assert ks.spec.timeout_seconds() == 600.0
    ks = Kustomization.from_dict({"spec": {"interval": "5s"}})
    assert ks.spec.timeout_seconds() == 30.0
    assert ks.spec.effective_deletion_policy() == "MirrorPrune"


@pytest.mark.parametrize(
    ("text", "seconds"), [("1m", 60.0), ("10m0s", 600.0), ("1h30m", 5400.0), ("250ms", 0.25)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert schema.parse_duration(text) == seconds


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        schema.parse_duration("5 minutes")


def test_lookups() -> None:
    assert by_kind("HelmChart") is HelmChart
    assert for_object({"apiVersion": "image.toolkit.fluxcd.io/v1beta2", "kind": "ImagePolicy"})
    assert (
        for_object({"apiVersion": "source.toolkit.fluxcd.io/v1beta1", "kind": "HelmChart"}) is None
    )
    assert HelmRepository.INFO.crd_name == "helmrepositories.source.toolkit.fluxcd.io"
    for cls in ALL_KINDS:
        assert spec_type(cls).__name__.endswith("Spec")
        assert status_type(cls).__name__.endswith("Status")


def test_condition_helpers_on_plain_dicts() -> None:
    obj: dict[str, Any] = {
        "metadata": {"generation": 2},
        "status": {
            "observedGeneration": 2,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded"}],
            "artifact": {
                "path": "p",
                "url": "http://x/p",
                "revision": "main@sha1:ab",
                "digest": "sha256:00",
            },
        },
    }
    assert find_condition(obj, "Ready") is not None
    assert is_ready(obj)
    obj["metadata"]["generation"] = 3
    assert not is_ready(obj)
    artifact = artifact_of(obj)
    assert isinstance(artifact, Artifact) and artifact.digest == "sha256:00"


# --- docs ------------------------------------------------------------------


def _not_honoured_paths(cls: type, prefix: str) -> list[str]:
    found = []
    for f, tp in schema.schema_fields(cls):
        path = f"{prefix}.{schema.json_name(f)}"
        if not schema.field_spec(f).honoured:
            found.append(path)
        inner = schema.unwrap_optional(tp)
        if typing.get_origin(inner) in (list, dict):
            inner = typing.get_args(inner)[-1]
        if dataclasses.is_dataclass(inner) and isinstance(inner, type):
            found += _not_honoured_paths(inner, path)
    return found


def test_docs_list_every_field_not_yet_honoured() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    missing = []
    for cls in ALL_KINDS:
        for path in _not_honoured_paths(spec_type(cls), "spec"):
            if f"`{path}`" not in text:
                missing.append(f"{cls.INFO.kind} {path}")
    assert not missing, f"docs/api.md does not mention: {', '.join(sorted(set(missing)))}"


def test_docs_list_every_kind_and_short_name() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    for cls in ALL_KINDS:
        assert cls.INFO.kind in text
        for short in cls.INFO.short_names:
            assert f"`{short}`" in text


def test_crd_files_parse_as_single_documents() -> None:
    for path in COMMITTED.glob("*.yaml"):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert len(docs) == 1, path.name


def test_unhonoured_fields_in_use_are_found_by_path() -> None:
    from eddy_api.kustomize import KustomizationSpec

    spec = {
        "interval": "1m",
        "prune": True,
        "decryption": {"provider": "sops", "serviceAccountName": "kms"},
        "healthCheckExprs": [],
        "dependsOn": [{"name": "a"}, {"name": "b", "readyExpr": "true"}],
        "kubeConfig": {"configMapRef": {"name": "workload-identity"}},
    }
    found = schema.unhonoured_in_use(KustomizationSpec, spec)
    assert found == ["spec.decryption.serviceAccountName", "spec.kubeConfig.configMapRef"]
    assert schema.unhonoured_in_use(KustomizationSpec, {"interval": "1m", "prune": True}) == []
