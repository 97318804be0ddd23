"""The pure parts of OCI chart pulls: URLs, tags as versions, credentials, manifests."""

from __future__ import annotations

import base64
import io
import json
import tarfile

import aiohttp
import pytest

from source_controller.failures import SourceError
from source_controller.helm.oci import (
    CHART_LAYER_MEDIA_TYPE,
    INVALID_CHART_REFERENCE,
    _next_page,
    basic_from_docker_config,
    chart_layer,
    is_exact_version,
    parse_oci_url,
    select_version,
    tag_for,
    version_of,
)


def test_oci_url_gives_registry_and_prefix() -> None:
    loc = parse_oci_url("oci://ghcr.io/stefanprodan/charts/", insecure=False)
    assert loc.base_url == "https://ghcr.io"
    assert loc.repository("podinfo") == "stefanprodan/charts/podinfo"
    assert loc.reference("podinfo", "6.0.0") == "oci://ghcr.io/stefanprodan/charts/podinfo:6.0.0"
    plain = parse_oci_url("oci://127.0.0.1:5000", insecure=True)
    assert plain.base_url == "http://127.0.0.1:5000"
    assert plain.repository("demo") == "demo"


@pytest.mark.parametrize(
    "url", ["https://ghcr.io/charts", "oci://", "oci://user:pw@ghcr.io/x", "oci://h/x?y=1"]
)
def test_bad_oci_urls_are_stalled(url: str) -> None:
    with pytest.raises(SourceError) as err:
        parse_oci_url(url, insecure=False)
    assert err.value.stalled and err.value.reason == "URLInvalid"


def test_build_metadata_travels_as_underscore() -> None:
    assert tag_for("1.0.0+build.7") == "1.0.0_build.7"
    assert version_of("1.0.0_build.7") == "1.0.0+build.7"


@pytest.mark.parametrize(
    ("wanted", "exact"),
    [("1.2.3", True), ("1.2.3-rc.1", True), ("1.2.3+b", True), ("1.2", False),
     ("v1.2.3", False), (">=1.0.0", False), ("*", False), ("1.x", False)],
)  # fmt: skip
def test_exact_version_skips_the_tag_list(wanted: str, exact: bool) -> None:
    assert is_exact_version(wanted) is exact


TAGS = ["latest", "0.9.0", "1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "1.1.1_build.3", "sha-abc"]


@pytest.mark.parametrize(
    ("wanted", "chosen"),
    [("*", "2.0.0"), ("", "2.0.0"), ("1.x", "1.1.1+build.3"), ("<1.0.0", "0.9.0"),
     (">=1.2.0-0 <2.0.0-0", "1.2.0-rc.1"), ("~1.1.0", "1.1.1+build.3"), ("^0.9", "0.9.0")],
)  # fmt: skip
def test_newest_tag_in_range(wanted: str, chosen: str) -> None:
    assert select_version(TAGS, wanted, "demo") == chosen


def test_no_tag_in_range_names_what_was_found() -> None:
    with pytest.raises(SourceError) as err:
        select_version(TAGS, ">=5", "demo")
    assert err.value.reason == INVALID_CHART_REFERENCE and not err.value.stalled
    assert "matches '>=5'" in err.value.message and "2.0.0" in err.value.message


def test_no_semver_tags_at_all() -> None:
    with pytest.raises(SourceError, match="none of its 2 tags"):
        select_version(["latest", "main"], "*", "demo")


def test_invalid_range_is_stalled() -> None:
    with pytest.raises(SourceError) as err:
        select_version(TAGS, ">=>1", "demo")
    assert err.value.stalled


def _docker_config(auths: dict[str, object]) -> bytes:
    return json.dumps({"auths": auths}).encode()


def test_docker_config_credentials_for_the_registry_host() -> None:
    auth = base64.b64encode(b"robot:t0ken").decode()
    data = _docker_config({"other.io": {"auth": "eDp5"}, "https://ghcr.io/v1/": {"auth": auth}})
    assert basic_from_docker_config(data, "ghcr.io") == aiohttp.encode_basic_auth("robot", "t0ken")
    data = _docker_config({"127.0.0.1:5000": {"username": "u", "password": "p"}})
    assert basic_from_docker_config(data, "127.0.0.1:5000") == aiohttp.encode_basic_auth("u", "p")
    assert basic_from_docker_config(data, "ghcr.io") is None


def test_docker_config_that_is_not_json() -> None:
    with pytest.raises(SourceError) as err:
        basic_from_docker_config(b"{nope", "ghcr.io")
    assert err.value.reason == "AuthenticationFailed"


def test_chart_layer_is_found_by_media_type() -> None:
    layer = {"mediaType": CHART_LAYER_MEDIA_TYPE, "digest": "sha256:" + "a" * 64, "size": 3}
    manifest = {"layers": [{"mediaType": "application/vnd.cncf.helm.chart.provenance.v1.prov"},
                           layer]}  # fmt: skip
    assert chart_layer(manifest, "oci://h/demo:1.0.0") == layer
    image = {"layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}]}
    with pytest.raises(SourceError, match="is not a Helm chart"):
        chart_layer(image, "oci://h/demo:1.0.0")


def test_tag_list_pagination_link() -> None:
    link = '</v2/charts/demo/tags/list?last=1.0.0&n=2>; rel="next"'
    assert _next_page(link) == "/v2/charts/demo/tags/list?last=1.0.0&n=2"
    assert _next_page("") is None


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
