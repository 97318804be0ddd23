"""What Helm does to a HelmRelease's rendered manifests, and the digests that say it changed.

`spec.postRenderers` (kustomize patches and images), `spec.commonMetadata` and the
origin labels are sent with install and upgrade to eddy-helm-server, which runs
them inside the Helm action; their digests are the ones Flux records in
`status.observedPostRenderersDigest` and `status.observedCommonMetadataDigest`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .values import canonical_json

# The labels Flux puts on every object of a release, naming its HelmRelease.
ORIGIN_NAME = "helm.toolkit.fluxcd.io/name"
ORIGIN_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"

_SELECTOR = ("group", "version", "kind", "namespace", "name", "annotationSelector", "labelSelector")
_IMAGE = ("newName", "newTag", "digest")

Doc = dict[str, Any]


def origin_labels(name: str, namespace: str) -> dict[str, str]:
    """The labels naming the HelmRelease `namespace/name` (not the release's target)."""
    return {ORIGIN_NAME: name, ORIGIN_NAMESPACE: namespace}


def document(spec: Doc, origin: dict[str, str]) -> Doc:
    """The postRender part of an eddy-helm-server request for a HelmRelease."""
    doc: Doc = {"originLabels": dict(origin)}
    renderers = _renderers(spec)
    if renderers:
        doc["postRenderers"] = renderers
    common = _common_metadata(spec)
    if common:
        doc["commonMetadata"] = common
    return doc


def beyond_origin(document: Doc) -> bool:
    """Whether a document asks for more than the origin labels."""
    return bool(document.get("postRenderers") or document.get("commonMetadata"))


def post_renderers_digest(spec: Doc) -> str:
    """Flux's digest of `spec.postRenderers`; empty when the field is absent."""
    found = spec.get("postRenderers")
    return "" if found is None else _digest(_renderers(spec))


def common_metadata_digest(spec: Doc) -> str:
    """Flux's digest of `spec.commonMetadata`; empty when the field is absent."""
    found = spec.get("commonMetadata")
    return "" if found is None else _digest(_common_metadata(spec))


def _digest(value: Any) -> str:
    # Flux encodes the Go structs with encoding/json: fields in declaration order,
    # empty optional ones left out, maps by sorted key, a final newline.
    return f"sha256:{hashlib.sha256(canonical_json(value, sort_keys=False)).hexdigest()}"


def _renderers(spec: Doc) -> list[Doc]:
    out: list[Doc] = []
    for item in spec.get("postRenderers") or []:
        kustomize = (item or {}).get("kustomize")
        if kustomize is None:
            out.append({})
            continue
        made: Doc = {}
        patches = [_patch(p) for p in kustomize.get("patches") or []]
        if patches:
            made["patches"] = patches
        images = [_image(i) for i in kustomize.get("images") or []]
        if images:
            made["images"] = images
        out.append({"kustomize": made})
    return out


def _patch(patch: Doc) -> Doc:
    made: Doc = {"patch": str(patch.get("patch") or "")}
    target = patch.get("target")
    if target is not None:
        made["target"] = {k: str(target[k]) for k in _SELECTOR if target.get(k)}
    return made


def _image(image: Doc) -> Doc:
    made: Doc = {"name": str(image.get("name") or "")}
    made.update({k: str(image[k]) for k in _IMAGE if image.get(k)})
    return made


def _common_metadata(spec: Doc) -> Doc:
    found = spec.get("commonMetadata") or {}
    made: Doc = {}
    for key in ("annotations", "labels"):
        items = found.get(key) or {}
        if items:
            made[key] = {k: str(items[k]) for k in sorted(items)}
    return made
