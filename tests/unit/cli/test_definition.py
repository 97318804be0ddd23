"""Finding an object's file and line, and what changed it, in a commit's YAML files."""

from __future__ import annotations

from eddy_cli.definition import (
    Target,
    find_definitions,
    kustomization_changes,
    normalize,
    spec_changes,
    substitutions,
)

DEPLOYMENT = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  replicas: ${replicas:=1}
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/stefanprodan/podinfo:6.0.0
          env:
            - name: COLOR
              value: ${color}
"""

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
patches:
  - path: replicas.yaml
    target:
      kind: Deployment
      name: podinfo
  - patch: |
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: settings
images:
  - name: ghcr.io/stefanprodan/podinfo
    newTag: 6.1.0
"""

FILES = {
    "apps/podinfo/deployment.yaml": DEPLOYMENT,
    "apps/podinfo/kustomization.yaml": KUSTOMIZATION,
    "apps/podinfo/replicas.yaml": "kind: Deployment\nmetadata:\n  name: podinfo\n",
    "other/deployment.yaml": DEPLOYMENT,
}

TARGET = Target(
    "apps", "v1", "Deployment", "podinfo", "apps", {}, ["ghcr.io/stefanprodan/podinfo:6.1.0"]
)


def test_the_definition_under_the_path_wins() -> None:
    (place,) = find_definitions(FILES, normalize("./apps"), TARGET)
    assert (place.path, place.line) == ("apps/podinfo/deployment.yaml", 6)
    assert place.text.startswith("apiVersion: apps/v1")


def test_outside_the_path_only_when_nothing_is_inside() -> None:
    places = find_definitions(FILES, normalize("./missing"), TARGET)
    assert {p.path for p in places} == {"apps/podinfo/deployment.yaml", "other/deployment.yaml"}


def test_kind_and_group_must_match() -> None:
    other = Target("", "v1", "ConfigMap", "podinfo", "apps", {}, [])
    assert find_definitions(FILES, "", other) == []


def test_patches_and_images_of_kustomization_yaml() -> None:
    changes = kustomization_changes(FILES, "apps", TARGET)
    details = [(c.detail, c.path, c.line) for c in changes]
    assert details == [
        ("patches[0]: replicas.yaml", "apps/podinfo/kustomization.yaml", 6),
        (
            "images[0] sets ghcr.io/stefanprodan/podinfo to ghcr.io/stefanprodan/podinfo:6.1.0",
            "apps/podinfo/kustomization.yaml",
            16,
        ),
    ]


def test_kustomization_spec_patches_by_target_and_by_name() -> None:
    spec = {
        "patches": [
            {"patch": "- op: add", "target": {"kind": "Deployment", "name": "pod.*"}},
            {"patch": "- op: add", "target": {"kind": "Service"}},
            {"patch": "kind: Deployment\nmetadata:\n  name: podinfo\n"},
        ],
        "targetNamespace": "apps",
    }
    changes = spec_changes("flux-system/apps", spec, TARGET)
    assert [c.detail.split(":")[0] for c in changes] == [
        "spec.patches[0]",
        "spec.patches[2]",
        "spec.targetNamespace = 'apps'",
    ]


def test_substitutions_name_their_source_and_line() -> None:
    (place,) = find_definitions(FILES, "apps", TARGET)
    post_build = {
        "substitute": {"color": "blue"},
        "substituteFrom": [{"kind": "ConfigMap", "name": "vars"}],
    }
    changes = substitutions(place, post_build, disabled=False)
    assert [(c.detail, c.line) for c in changes] == [
        (
            "${replicas} from spec.postBuild.substituteFrom (ConfigMap vars), else the default '1'",
            11,
        ),
        ("${color} from spec.postBuild.substitute.color = 'blue'", 19),
    ]
    assert substitutions(place, post_build, disabled=True) == []
    assert substitutions(place, None, disabled=False) == []
