"""Image names and registry credentials, the Docker way."""

from __future__ import annotations

import base64
import json

import pytest

from image_automation_controller.registry import (
    ScanError,
    credentials_from_dockerconfig,
    parse_image,
)
from image_automation_controller.repository import exclude, latest_tags


def test_image_names() -> None:
    assert parse_image("alpine").canonical == "docker.io/library/alpine"
    assert parse_image("org/app").canonical == "docker.io/org/app"
    assert parse_image("alpine").api_host == "registry-1.docker.io"
    found = parse_image("127.0.0.1:5000/team/app")
    assert (found.host, found.repository) == ("127.0.0.1:5000", "team/app")
    for bad in ("", "app:1.0", "https://ghcr.io/x", "Upper/Case"):
        with pytest.raises(ScanError):
            parse_image(bad)


def test_dockerconfig_entries() -> None:
    auth = base64.b64encode(b"me:secret").decode()
    hub_entry = {"username": "u", "password": "p"}
    raw = json.dumps({"auths": {"https://ghcr.io": {"auth": auth},
                                "https://index.docker.io/v1/": hub_entry}})  # fmt: skip
    found = credentials_from_dockerconfig(raw.encode(), "ghcr.io")
    assert found is not None and (found.username, found.password) == ("me", "secret")
    assert "secret" not in repr(found)
    hub = credentials_from_dockerconfig(raw.encode(), "docker.io")
    assert hub is not None and hub.username == "u"
    assert credentials_from_dockerconfig(raw.encode(), "quay.io") is None
    with pytest.raises(ScanError):
        credentials_from_dockerconfig(b"{not json", "ghcr.io")


def test_exclusion_and_latest_tags() -> None:
    tags = ["1.0.0", "sha256-abc.sig", "1.1.0", "latest"]
    assert exclude(tags, [r"^.*\.sig$", "^latest$"]) == ["1.0.0", "1.1.0"]
    with pytest.raises(ValueError, match="exclusionList"):
        exclude(tags, ["("])
    assert latest_tags([str(i) for i in range(20)]) == [
        "9", "8", "7", "6", "5", "4", "3", "2", "19", "18",
    ]  # fmt: skip
