"""Inventory ids read and written exactly as Flux does, names with '_' and ':' included.

A Kustomization that Flux applied must keep its inventory under eddy (nothing
orphaned on migration), and RBAC names such as `system:tenant-view` round-trip.
"""

from __future__ import annotations

import pytest

from eddy_api.kustomize import inventory_id, parse_inventory_id
from kustomize_controller import inventory

RBAC = "rbac.authorization.k8s.io"


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        (("apps", "web", "apps", "Deployment"), "apps_web_apps_Deployment"),
        (("apps", "c", "", "ConfigMap"), "apps_c__ConfigMap"),
        (("", "apps", "", "Namespace"), "_apps__Namespace"),
        (("", "system:tenant-view", RBAC, "ClusterRole"),
         f"_system__tenant-view_{RBAC}_ClusterRole"),
        (("", "tenant_reader", RBAC, "ClusterRole"), f"_tenant_reader_{RBAC}_ClusterRole"),
        (("team", "a_b:c", RBAC, "RoleBinding"), f"team_a_b__c_{RBAC}_RoleBinding"),
        (("", "widgets.eddy.dev", "apiextensions.k8s.io", "CustomResourceDefinition"),
         "_widgets.eddy.dev_apiextensions.k8s.io_CustomResourceDefinition"),
    ],
)  # fmt: skip
def test_ids_round_trip_in_flux_format(parts: tuple[str, str, str, str], text: str) -> None:
    assert inventory_id(*parts) == text
    assert parse_inventory_id(text) == parts


@pytest.mark.parametrize("text", ["", "no-separators", "ns_name", "ns__Kind", "ns_name_group_"])
def test_malformed_ids_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid inventory id"):
        parse_inventory_id(text)


def test_an_inventory_written_by_flux_is_read_whole() -> None:
    # As Flux's kustomize-controller records it in status.inventory.
    status = {
        "inventory": {
            "entries": [
                {"id": "_system__tenant-view_rbac.authorization.k8s.io_ClusterRole", "v": "v1"},
                {"id": "_tenant_reader_rbac.authorization.k8s.io_ClusterRole", "v": "v1"},
                {"id": "team_app__ConfigMap", "v": "v1"},
                {"id": "team_app_apps_Deployment", "v": "v1"},
            ]
        }
    }
    entries = inventory.entries_of(status)
    assert [(e.namespace, e.name, e.group, e.kind) for e in entries] == [
        ("", "system:tenant-view", RBAC, "ClusterRole"),
        ("", "tenant_reader", RBAC, "ClusterRole"),
        ("team", "app", "", "ConfigMap"),
        ("team", "app", "apps", "Deployment"),
    ]
    assert entries[0].api_version == "rbac.authorization.k8s.io/v1"
    assert inventory.to_status(entries) == status["inventory"]
