"""The post-rendering document sent to eddy-helm-server and Flux's digests of it."""

from __future__ import annotations

from typing import Any

from eddy_helm import postrender

SPEC: dict[str, Any] = {
    "postRenderers": [
        {
            "kustomize": {
                "images": [{"newTag": "1.27", "name": "nginx"}],
                "patches": [
                    {
                        "target": {"labelSelector": "app=web", "kind": "Deployment"},
                        "patch": "- op: add\n  path: /x\n  value: <a&b>\n",
                    },
                    {"patch": "kind: ConfigMap"},
                ],
            }
        },
        {"kustomize": {}},
        {},
    ],
    "commonMetadata": {"labels": {"team": "blue", "app": "wéb"}, "annotations": {"owner": "ops"}},
}


def test_digests_are_the_ones_go_encoding_gives_for_fluxs_types() -> None:
    # Expected values: Go's encoding/json over structs laid out as Flux's API types
    # (helm-controller api/v2, fluxcd/pkg apis/kustomize), decoding the same JSON.
    assert postrender.post_renderers_digest(SPEC) == (
        "sha256:00d11c0c95f36b955e102647f3ee3fd3ab692505d20d139e4cd4bdb6785275eb"
    )
    assert postrender.common_metadata_digest(SPEC) == (
        "sha256:10997fdc63af337121663433640af19851d0ccb8b691c37cc842427fa7b92d97"
    )
    assert postrender.post_renderers_digest({"postRenderers": []}) == (
        "sha256:37517e5f3dc66819f61f5a7bb8ace1921282415f10551d2defa5c3eb0985b570"
    )
    assert postrender.common_metadata_digest({"commonMetadata": {}}) == (
        "sha256:ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356"
    )


def test_absent_fields_have_no_digest() -> None:
    assert postrender.post_renderers_digest({}) == ""
    assert postrender.common_metadata_digest({"values": {}}) == ""


def test_the_document_names_the_helmrelease_in_the_origin_labels() -> None:
    doc = postrender.document({}, postrender.origin_labels("web", "apps"))
    assert doc == {
        "originLabels": {
            "helm.toolkit.fluxcd.io/name": "web",
            "helm.toolkit.fluxcd.io/namespace": "apps",
        }
    }
    assert not postrender.beyond_origin(doc)
    full = postrender.document(SPEC, postrender.origin_labels("web", "apps"))
    assert full["postRenderers"][0]["kustomize"]["patches"][0]["target"] == {
        "kind": "Deployment",
        "labelSelector": "app=web",
    }
    assert full["commonMetadata"]["labels"] == {"app": "wéb", "team": "blue"}
    assert postrender.beyond_origin(full)


def test_the_helm_binary_error_keeps_the_post_renderers_own_explanation() -> None:
    from eddy_helm.helm import _clean

    output = (
        "Error: UPGRADE FAILED: error while running post render on files: error while running "
        "command /bin/eddy-helm-server. error output:\n"
        "eddy-helm-server: spec.postRenderers[0].kustomize: unable to parse SM or JSON patch\n"
        ": exit status 1\n\nUse --debug flag to render out invalid YAML\n"
    )
    assert _clean(output) == (
        "UPGRADE FAILED: error while running post render on files: error while running command "
        "/bin/eddy-helm-server. error output: eddy-helm-server: spec.postRenderers[0].kustomize: "
        "unable to parse SM or JSON patch : exit status 1"
    )
    assert _clean("WARNING: x\nError: INSTALLATION FAILED: no\n") == "INSTALLATION FAILED: no"
    assert _clean("a\nb\n") == "a; b"
