"""Pure rules of the helm-controller: values merge, digests, names, helm flags."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path

import pytest

from eddy_helm import actions, records
from eddy_helm.helm import HelmError, binary_args
from eddy_helm.values import (
    ValuesError,
    config_digest,
    merge,
    parse_document,
    set_path,
    split_path,
    typed,
)
from helm_controller.chart import desired_chart
from helm_controller.objects import helm_chart_name, helm_chart_namespace, release_name


def hr(name: str = "podinfo", namespace: str = "apps", **spec: object) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": namespace, "uid": "u-1"}, "spec": spec}


def test_merge_is_deep_and_later_wins() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert merge(base, {"a": {"c": [3]}, "e": True}) == {
        "a": {"b": 1, "c": [3]},
        "d": "x",
        "e": True,
    }
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}


def test_target_path_like_helm_set() -> None:
    assert split_path(r"a.b\.c[1].d") == ["a", "b.c", 1, "d"]
    values: dict[str, object] = {}
    set_path(values, "image.tag", typed("42"))
    set_path(values, "list[1].name", typed("true"))
    assert values == {"image": {"tag": 42}, "list": [None, {"name": True}]}
    assert typed("0123") == "0123" and typed("null") is None and typed("1.5") == "1.5"
    with pytest.raises(ValuesError):
        set_path({"a": [1]}, "a.b", 1)


def test_values_documents_must_be_maps() -> None:
    assert parse_document("", "x") == {}
    with pytest.raises(ValuesError, match="line 1"):
        parse_document("a: [", "key 'values.yaml' of ConfigMap 'ns/x'")
    with pytest.raises(ValuesError, match="map"):
        parse_document("- 1", "x")


def test_config_digest_is_canonical_json() -> None:
    assert config_digest({}) == "sha256:" + hashlib.sha256(b"").hexdigest()
    expected = hashlib.sha256(b'{"a":1,"b":"\\u003cx\\u003e"}\n').hexdigest()
    assert config_digest({"b": "<x>", "a": 1}) == f"sha256:{expected}"


def test_release_and_chart_names() -> None:
    assert release_name(hr()) == "podinfo"
    assert release_name(hr(targetNamespace="prod")) == "prod-podinfo"
    assert release_name(hr(releaseName="mine", targetNamespace="prod")) == "mine"
    long = release_name(hr(name="n" * 60))
    assert len(long) == 53 and long.startswith("n" * 40 + "-")
    assert helm_chart_name(hr()) == "apps-podinfo"
    ref = {"kind": "HelmRepository", "name": "charts", "namespace": "flux-system"}
    obj = hr(chart={"spec": {"chart": "podinfo", "sourceRef": ref}}, interval="5m")
    assert helm_chart_namespace(obj) == "flux-system"
    chart = desired_chart(obj, "5m")
    assert chart["metadata"]["namespace"] == "flux-system"
    assert "ownerReferences" not in chart["metadata"]
    assert chart["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "charts"}
    assert chart["spec"]["version"] == "*" and chart["spec"]["interval"] == "5m"
    assert chart["metadata"]["labels"] == {
        "helm.toolkit.fluxcd.io/name": "podinfo", "helm.toolkit.fluxcd.io/namespace": "apps"
    }  # fmt: skip
    assert "verify" not in chart["spec"]
    verify = {"provider": "cosign", "secretRef": {"name": "cosign-keys"}}
    obj = hr(chart={"spec": {"chart": "podinfo", "sourceRef": ref, "verify": verify}})
    assert desired_chart(obj, "5m")["spec"]["verify"] == verify


def test_helm_flags_follow_the_spec() -> None:
    spec = {
        "timeout": "2m",
        "install": {"createNamespace": True, "crds": "Skip", "disableWait": True},
        "upgrade": {"force": True, "timeout": "30s", "remediation": {"retries": 2}},
        "maxHistory": 3,
    }
    install = actions.install_args(spec, "r", "ns", Path("/c"), Path("/v"))
    assert "--create-namespace" in install
    assert "--wait" not in install and install[install.index("--timeout") + 1] == "2m0s"
    upgrade = actions.upgrade_args(spec, "r", "ns", Path("/c"), Path("/v"))
    assert "--force" in upgrade and "--reset-values" in upgrade and "--wait" in upgrade
    assert upgrade[upgrade.index("--timeout") + 1] == "30s"
    assert upgrade[upgrade.index("--history-max") + 1] == "3"
    assert not actions.exhausted(spec, "upgrade", 2) and actions.exhausted(spec, "upgrade", 3)
    assert actions.remediate_last_failure(spec, "upgrade")
    assert not actions.remediate_last_failure(spec, "install")
    assert actions.exhausted(spec, "install", 1)
    assert not actions.exhausted({"install": {"remediation": {"retries": -1}}}, "install", 99)


def test_crd_policies_default_as_flux_applies_them() -> None:
    labels = {"helm.toolkit.fluxcd.io/name": "app", "helm.toolkit.fluxcd.io/namespace": "ns"}
    assert actions.crds_args({}, "install", labels) == [
        "--crds", "Create",
        "--crd-label", "helm.toolkit.fluxcd.io/name=app",
        "--crd-label", "helm.toolkit.fluxcd.io/namespace=ns",
    ]  # fmt: skip
    # Flux documents Skip for upgrades, but creates the missing CRDs.
    assert actions.crds_policy({}, "upgrade") == "Create"
    assert actions.crds_policy({"install": {"skipCRDs": True}}, "install") == "Skip"
    both = {"install": {"skipCRDs": True, "crds": "CreateReplace"}}
    assert actions.crds_policy(both, "install") == "CreateReplace"
    assert actions.crds_policy({"upgrade": {"crds": "Skip"}}, "upgrade") == "Skip"


def test_the_helm_binary_gets_its_own_flags_or_a_refusal() -> None:
    base = ["upgrade", "r", "/c", "--namespace", "ns"]
    assert binary_args([*base, "--crds", "Skip", "--crd-label", "a=b"]) == [*base, "--skip-crds"]
    assert binary_args([*base, "--crds", "Create", "--storage-namespace", "ns"]) == base
    with pytest.raises(HelmError, match=r"spec\.upgrade\.crds: CreateReplace"):
        binary_args([*base, "--crds", "CreateReplace"])
    with pytest.raises(HelmError, match=r"spec\.storageNamespace"):
        binary_args([*base, "--storage-namespace", "records"])
    assert actions.storage_args("ns", "ns") == []
    assert actions.storage_args("ns", "records") == ["--storage-namespace", "records"]


def test_release_records_decode_as_helm_stores_them() -> None:
    record = {
        "name": "r", "namespace": "ns", "version": 2,
        "info": {"status": "deployed", "first_deployed": "2026-01-02T03:04:05.123456789+01:00",
                 "last_deployed": "2026-01-02T03:04:06Z"},
        "chart": {"metadata": {"name": "app", "version": "1.0.0", "appVersion": "1.0"}},
        "config": {"a": 1},
        "hooks": [{"name": "t", "events": ["test"], "last_run": {"phase": "Succeeded"}}],
    }  # fmt: skip
    raw = base64.b64encode(gzip.compress(json.dumps(record).encode()))
    rel = records.decode({"data": {"release": base64.b64encode(raw).decode()}})
    snap = rel.snapshot()
    assert (snap["chartName"], snap["chartVersion"], snap["version"]) == ("app", "1.0.0", 2)
    assert snap["firstDeployed"] == "2026-01-02T02:04:05Z"
    assert snap["configDigest"] == config_digest({"a": 1})
    assert snap["testHooks"] == {"t": {"phase": "Succeeded"}}
    assert snap["digest"].startswith("sha256:")


def test_retry_on_failure_strategy_and_its_interval() -> None:
    spec = {"install": {"strategy": {"name": "RetryOnFailure", "retryInterval": "30s"}},
            "upgrade": {"strategy": {"name": "RetryOnFailure"}}}  # fmt: skip
    assert actions.retry_on_failure(spec, "install")
    assert actions.retry_interval(spec, "install", 600.0) == 30.0
    # Without retryInterval, the release's interval.
    assert actions.retry_interval(spec, "upgrade", 600.0) == 600.0
    assert not actions.retry_on_failure({}, "install")
    remediate = {"install": {"strategy": {"name": "RemediateOnFailure"}}}
    assert not actions.retry_on_failure(remediate, "install")


def _record_secret(payload: bytes) -> dict[str, object]:
    inner = base64.b64encode(payload)
    return {
        "metadata": {"name": "sh.helm.release.v1.app.v1"},
        "data": {"release": base64.b64encode(inner).decode()},
    }


def test_a_crafted_release_record_is_refused_before_it_fills_memory() -> None:
    # Zeros gzip a thousandfold: 1 GiB would fit in a Secret a tenant may write;
    # twice the limit is enough to be refused.
    raw = bytearray()
    with gzip.GzipFile(fileobj=_Sink(raw), mode="wb", compresslevel=1) as out:
        block = b"\0" * (1 << 20)
        for _ in range(2 * records.MAX_RECORD_SIZE >> 20):
            out.write(block)
    with pytest.raises(records.RecordError, match="larger than 32 MiB") as caught:
        records.decode(_record_secret(bytes(raw)))
    assert "sh.helm.release.v1.app.v1" in str(caught.value)


def test_a_release_record_that_is_not_json_is_refused_with_its_name() -> None:
    for payload in (gzip.compress(b"not json"), b"[1, 2]", gzip.compress(b"[" * 100_000)):
        with pytest.raises(records.RecordError, match="delete it or fix its data"):
            records.decode(_record_secret(payload))


class _Sink:
    """A write-only file object appending to a bytearray."""

    def __init__(self, into: bytearray) -> None:
        self.into = into

    def write(self, data: bytes) -> int:
        self.into += data
        return len(data)

    def flush(self) -> None:
        pass
