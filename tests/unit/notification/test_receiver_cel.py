"""A Receiver's CEL compiled from its spec: which variables each expression may read."""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.cel import CelError
from notification_controller.receiver_cel import compile_receiver, object_view


def receiver(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "r", "namespace": "ns"}, "spec": spec}


def test_filters_stack_per_resource() -> None:
    programs = compile_receiver(receiver(
        type="generic", resourceFilter="req.tag.contains(res.metadata.name)",
        resources=[{"kind": "GitRepository", "name": "a"},
                   {"kind": "GitRepository", "name": "*", "filter": "res.kind == 'GitRepository'"}],
    ))  # fmt: skip
    assert programs.filtering
    assert [f.source for f in programs.filters_for(0)] == ["req.tag.contains(res.metadata.name)"]
    assert len(programs.filters_for(1)) == 2
    obj = {"apiVersion": "v1", "kind": "GitRepository", "metadata": {"name": "app"}, "spec": {}}
    view = {"req": {"tag": "x/app:1"}, "res": object_view(obj)}
    assert all(f.evaluate_bool(view) for f in programs.filters_for(1))
    assert "spec" not in object_view(obj)


def test_claims_only_for_generic_oidc() -> None:
    spec = {"resourceFilter": "claims.sub == res.metadata.name", "resources": []}
    with pytest.raises(
        CelError, match=r"^spec\.resourceFilter: .*undeclared reference to 'claims'"
    ):
        compile_receiver(receiver(type="generic", **spec))
    oidc = compile_receiver(receiver(type="generic-oidc", oidcProviders=[
        {"issuerURL": "https://issuer.example", "validations": [
            {"expression": "true", "message": "-"}]}], **spec))  # fmt: skip
    assert oidc.top is not None


def test_oidc_variables_feed_validations_in_order() -> None:
    programs = compile_receiver(receiver(type="generic-oidc", resources=[], oidcProviders=[{
        "issuerURL": "https://token.example",
        "variables": [{"name": "owner", "expression": "claims.repository_owner"},
                      {"name": "allowed", "expression": "[vars.owner + '/a', vars.owner + '/b']"}],
        "validations": [{"expression": "vars.owner == 'org'", "message": "wrong org"},
                        {"expression": "claims.repository in vars.allowed", "message": "repo"}],
    }]))  # fmt: skip
    checks = programs.providers[0]
    assert checks.audience == "notification-controller"
    assert checks.failures({"repository_owner": "org", "repository": "org/a"}) == []
    assert checks.failures({"repository_owner": "org", "repository": "org/c"}) == ["repo"]
    assert checks.failures({"repository_owner": "x", "repository": "x/a"}) == ["wrong org"]


def test_a_provider_without_validations_is_refused() -> None:
    with pytest.raises(CelError, match=r"spec\.oidcProviders\[0\]: at least one validation"):
        compile_receiver(receiver(type="generic-oidc", resources=[], oidcProviders=[
            {"issuerURL": "https://token.example"}]))  # fmt: skip
