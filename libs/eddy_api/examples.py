"""Typical Flux manifests, as users write them, that eddy must accept unchanged.

They are the acceptance corpus for the CRDs: the unit tests check them against the
generated schemas and the integration tests apply them to a real API server.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

GETTING_STARTED = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: my-app, namespace: flux-system}
spec: {interval: 1m, url: https://github.com/yourorg/your-gitops-repo, ref: {branch: main}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: my-app, namespace: flux-system}
spec: {interval: 10m, path: ./apps/my-app, prune: true,
       sourceRef: {kind: GitRepository, name: my-app}}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: my-app, namespace: flux-system}
spec: {image: registry.example.com/my-app, interval: 5m}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: my-app, namespace: flux-system}
spec: {imageRepositoryRef: {name: my-app}, policy: {semver: {range: ">=1.0.0"}}}
"""

HELM_AND_AUTOMATION = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: podinfo, namespace: flux-system}
spec:
  interval: 5m0s
  url: https://stefanprodan.github.io/podinfo
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: podinfo, namespace: flux-system}
spec:
  chart: podinfo
  version: "6.x"
  reconcileStrategy: ChartVersion
  interval: 5m0s
  sourceRef: {kind: HelmRepository, name: podinfo}
  valuesFiles: [values.yaml, values-prod.yaml]
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: flux-system}
spec:
  interval: 10m
  timeout: 5m
  releaseName: podinfo
  chart:
    spec:
      chart: podinfo
      version: "6.5.*"
      interval: 5m
      sourceRef: {kind: HelmRepository, name: podinfo}
  install:
    remediation: {retries: 3}
  upgrade:
    remediation: {retries: 3, strategy: rollback}
    cleanupOnFail: true
  test: {enable: true}
  driftDetection:
    mode: enabled
    ignore:
    - paths: [/spec/replicas]
      target: {kind: Deployment}
  valuesFrom:
  - kind: ConfigMap
    name: podinfo-values
  values:
    replicaCount: 2
    ingress:
      enabled: true
      hosts: [{host: podinfo.example.com, paths: [{path: /, pathType: Prefix}]}]
  postRenderers:
  - kustomize:
      patches:
      - target: {kind: Deployment, name: podinfo}
        patch: |
          - op: add
            path: /metadata/annotations/team
            value: web
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: my-app, namespace: flux-system}
spec:
  interval: 30m
  sourceRef: {kind: GitRepository, name: my-app}
  git:
    checkout:
      ref: {branch: main}
    commit:
      author: {email: fluxcdbot@users.noreply.github.com, name: fluxcdbot}
      messageTemplate: |
        Automated image update

        {{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}
    push: {branch: main}
  update: {path: ./clusters/my-cluster, strategy: Setters}
"""


def load(text: str, namespace: str | None = None) -> list[dict[str, Any]]:
    """Parse a multi-document YAML string, optionally moving every object to a namespace."""
    docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    if namespace is not None:
        for doc in docs:
            doc.setdefault("metadata", {})["namespace"] = namespace
    return docs


def accepted(namespace: str | None = None) -> list[dict[str, Any]]:
    """Every example manifest that the API server must accept."""
    return load(GETTING_STARTED, namespace) + load(HELM_AND_AUTOMATION, namespace)


def find(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """A deep copy of the first document of a kind, to derive variants from."""
    for doc in docs:
        if doc.get("kind") == kind:
            return copy.deepcopy(doc)
    raise KeyError(kind)
