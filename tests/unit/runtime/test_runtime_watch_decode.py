"""Watch lines that are not JSON become a marker the informer skips, not a crash."""

from __future__ import annotations

from eddy_runtime.informer import object_key
from eddy_runtime.resources import Resource, _decode_event


def test_undecodable_lines_are_marked() -> None:
    assert _decode_event(b"{not json")["type"] == "UNDECODABLE"
    assert _decode_event(b"[1, 2]")["type"] == "UNDECODABLE"
    event = _decode_event(b'{"type": "ADDED", "object": {"metadata": {"name": "a"}}}')
    assert event["type"] == "ADDED"


def test_paths_and_keys() -> None:
    res = Resource("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository")
    assert res.path("flux-system", "podinfo") == (
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/podinfo"
    )
    assert res.path() == "/apis/source.toolkit.fluxcd.io/v1/gitrepositories"
    assert Resource("", "v1", "namespaces", "Namespace", namespaced=False).path("x", "default") == (
        "/api/v1/namespaces/default"
    )
    assert object_key({"metadata": {"name": "a", "namespace": "b"}}) == "b/a"
    assert object_key({"metadata": {"name": "a"}}) == "a"
