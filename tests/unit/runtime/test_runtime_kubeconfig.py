"""A tenant's kubeconfig is checked as data: no programs, no files, TLS verified.

Each refusal names the field and never quotes a value; what is accepted keeps
only the current context's cluster and user.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from eddy_runtime.kubeconfig import (
    KubeconfigPolicy,
    KubeconfigRefused,
    KubeconfigUnavailable,
    check,
    from_secret,
    parse,
)

SECRET_VALUE = "s3cr3t-value-never-shown"


def kubeconfig(user: dict[str, Any] | None = None, **cluster: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "other",
                "cluster": {"server": "https://o", "certificate-authority": "/x"},
            },
            {"name": "c", "cluster": {"server": "https://127.0.0.1:6443", **cluster}},
        ],
        "users": [
            {"name": "other", "user": {"tokenFile": "/var/run/token"}},
            {"name": "u", "user": {"token": SECRET_VALUE} if user is None else user},
        ],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "ns"}}],
        "current-context": "ctx",
    }


def refusal(document: Any, policy: KubeconfigPolicy | None = None) -> str:
    with pytest.raises(KubeconfigRefused) as caught:
        check(document, policy or KubeconfigPolicy(), "Secret 'ns/kc'")
    message = str(caught.value)
    assert SECRET_VALUE not in message
    assert "Secret 'ns/kc'" in message
    return message


def test_inline_kubeconfig_keeps_only_the_current_context() -> None:
    checked = check(kubeconfig(), KubeconfigPolicy(), "here")
    doc = checked.document
    assert doc["clusters"] == [{"name": "target", "cluster": {"server": "https://127.0.0.1:6443"}}]
    assert doc["users"] == [{"name": "target", "user": {"token": SECRET_VALUE}}]
    assert doc["contexts"][0]["context"]["namespace"] == "ns"
    assert checked.impersonate == ""


@pytest.mark.parametrize(
    ("user", "field"),
    [
        ({"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}, "tokenFile"),
        ({"client-certificate": "/etc/cert.pem", "client-key-data": "eA=="}, "client-certificate"),
        ({"client-certificate-data": "eA==", "client-key": "/etc/key.pem"}, "client-key"),
    ],
)
def test_user_file_paths_are_refused_always(user: dict[str, Any], field: str) -> None:
    permissive = KubeconfigPolicy(allow_exec=True, allow_insecure_tls=True)
    message = refusal(kubeconfig(user), permissive)
    assert f"`{field}`" in message
    assert "file" in message
    assert user[field] not in message


def test_cluster_ca_path_is_refused_always() -> None:
    permissive = KubeconfigPolicy(allow_exec=True, allow_insecure_tls=True)
    message = refusal(kubeconfig(**{"certificate-authority": "/etc/ca.pem"}), permissive)
    assert "`certificate-authority`" in message
    assert "/etc/ca.pem" not in message


@pytest.mark.parametrize("field", ["exec", "auth-provider"])
def test_credential_plugins_need_the_exec_flag(field: str) -> None:
    plugin = {"command": "/bin/sh", "args": ["-c", "touch /tmp/x"], "apiVersion": "v1"}
    if field == "auth-provider":
        plugin = {"name": "oidc", "config": {"id-token": SECRET_VALUE}}
    message = refusal(kubeconfig({field: plugin}))
    assert f"`{field}`" in message
    assert "--insecure-kubeconfig-exec" in message
    assert "/bin/sh" not in message
    allowed = check(kubeconfig({field: plugin}), KubeconfigPolicy(allow_exec=True), "here")
    assert allowed.document["users"][0]["user"][field] == plugin
    assert allowed.runs_plugin
    assert not check(kubeconfig(), KubeconfigPolicy(allow_exec=True), "here").runs_plugin


def test_skipping_tls_verification_needs_the_tls_flag() -> None:
    insecure = kubeconfig(**{"insecure-skip-tls-verify": True})
    assert "--insecure-kubeconfig-tls" in refusal(insecure)
    allowed = check(insecure, KubeconfigPolicy(allow_insecure_tls=True), "here")
    assert allowed.document["clusters"][0]["cluster"]["insecure-skip-tls-verify"] is True
    verified = check(kubeconfig(**{"insecure-skip-tls-verify": False}), KubeconfigPolicy(), "x")
    assert "insecure-skip-tls-verify" not in verified.document["clusters"][0]["cluster"]
    assert "must be true or false" in refusal(kubeconfig(**{"insecure-skip-tls-verify": "yes"}))


def test_impersonation_is_the_user_only() -> None:
    checked = check(kubeconfig({"token": "t", "as": "alice"}), KubeconfigPolicy(), "here")
    assert checked.impersonate == "alice"
    assert checked.for_user("system:serviceaccount:ns:sa")["users"][0]["user"]["as"] == (
        "system:serviceaccount:ns:sa"
    )
    assert "as" not in checked.for_user("")["users"][0]["user"]
    for field in ("as-groups", "as-uid", "as-user-extra"):
        assert f"`{field}`" in refusal(kubeconfig({"token": "t", field: ["system:masters"]}))


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (["not", "a", "mapping"], "not a kubeconfig"),
        ({**kubeconfig(), "current-context": ""}, "`current-context` is not set"),
        ({**kubeconfig(), "current-context": "nope"}, "names no entry of `contexts`"),
        (kubeconfig(**{"proxy-url": "socks5://evil:1080"}), "`proxy-url`"),
        (kubeconfig(**{"server": "file:///etc/passwd"}), "`server` must be an https://"),
        (kubeconfig({"token": 7}), "`token` must be a string"),
        (kubeconfig({"token": "t", "password-file": "/x"}), "`password-file` is not supported"),
    ],
)
def test_malformed_documents_are_refused(document: Any, expected: str) -> None:
    assert expected in refusal(document)


def test_secret_value_is_decoded_and_bounded() -> None:
    raw = base64.b64encode(yaml.safe_dump(kubeconfig()).encode()).decode()
    secret = {"data": {"value.yaml": raw}}
    checked = from_secret(secret, "ns", {"name": "kc"}, KubeconfigPolicy())
    assert checked.document["users"][0]["user"]["token"] == SECRET_VALUE
    with pytest.raises(KubeconfigUnavailable, match="has no key other"):
        from_secret(secret, "ns", {"name": "kc", "key": "other"}, KubeconfigPolicy())
    with pytest.raises(KubeconfigUnavailable, match="not found"):
        from_secret(None, "ns", {"name": "kc"}, KubeconfigPolicy())
    with pytest.raises(KubeconfigRefused, match="not valid YAML"):
        parse(base64.b64encode(b"{: [").decode(), KubeconfigPolicy(), "here")
    with pytest.raises(KubeconfigRefused, match="larger than"):
        parse("A" * (3 * 1024 * 1024), KubeconfigPolicy(), "here")


async def test_checked_document_loads_into_a_client_configuration() -> None:
    checked = check(kubeconfig({"token": SECRET_VALUE}, **{"tls-server-name": "api"}),
                    KubeconfigPolicy(), "here")  # fmt: skip
    cfg = await checked.configuration()
    assert cfg.host == "https://127.0.0.1:6443"
    assert cfg.tls_server_name == "api"
    assert cfg.api_key["BearerToken"] == f"Bearer {SECRET_VALUE}"


@pytest.mark.parametrize("module", ["kustomize_controller", "helm_controller"])
def test_flux_lockdown_arguments_parse_into_the_policy(module: str) -> None:
    import argparse
    import importlib

    from eddy_runtime.flags import add_runtime_flags

    main = importlib.import_module(f"{module}.controller")
    parser = argparse.ArgumentParser()
    add_runtime_flags(parser)
    main.add_flags(parser)
    defaults = main.settings_from(parser.parse_args([]))
    assert defaults.kubeconfig == KubeconfigPolicy()
    args = [
        "--insecure-kubeconfig-exec", "--insecure-kubeconfig-tls=true",
        "--default-kubeconfig-service-account=kubeconfig", "--no-cross-namespace-refs=true",
        "--default-service-account=default",
    ]  # fmt: skip
    if module == "kustomize_controller":
        args.append("--no-remote-bases=true")
    settings = main.settings_from(parser.parse_args(args))
    assert settings.kubeconfig == KubeconfigPolicy(allow_exec=True, allow_insecure_tls=True)
    assert settings.default_service_account == "default"
