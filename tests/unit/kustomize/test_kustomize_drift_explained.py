"""How drift is told apart from a change in Git, and how sops' refusals are worded.

Pure logic over managedFields and sops' error text; the integration tests run the
real kubectl and sops."""

from __future__ import annotations

from pathlib import Path

from eddy_kustomize.drift import find_drift, without_paths
from eddy_kustomize.sops import _explain, encrypted_format, format_for

OURS = "kustomize-controller"


def deployment(replicas: int, image: str, managers: list[dict[str, object]]) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps", "managedFields": managers},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "app", "image": image}]}},
        },
    }


def entry(manager: str, fields: dict[str, object], sub: str = "") -> dict[str, object]:
    found: dict[str, object] = {"manager": manager, "operation": "Update", "fieldsV1": fields}
    if sub:
        found["subresource"] = sub
    return found


IMAGE = {"f:spec": {"f:template": {"f:spec": {"f:containers": {
    'k:{"name":"app"}': {".": {}, "f:image": {}}}}}}}  # fmt: skip


def test_a_field_another_manager_owns_is_drift_with_its_manager() -> None:
    live = deployment(5, "nginx:1.28", [
        entry(OURS, IMAGE), entry("kubectl", {"f:spec": {"f:replicas": {}}}, "scale"),
    ])  # fmt: skip
    dry = deployment(2, "nginx:1.28", [])
    [drift] = find_drift(live, dry, OURS)
    assert drift.describe(corrected=True) == (
        "Deployment/apps/web spec.replicas: 5 (set by kubectl through /scale) "
        "restored to 2 from Git"
    )


def test_a_field_we_own_changes_because_git_did() -> None:
    live = deployment(2, "nginx:1.27", [entry(OURS, IMAGE)])
    assert find_drift(live, deployment(2, "nginx:1.28", []), OURS) == []


def test_list_items_are_found_by_their_keys() -> None:
    live = deployment(2, "nginx:1.28", [entry("kubectl-set", IMAGE)])
    [drift] = find_drift(live, deployment(2, "nginx:1.27", []), OURS)
    assert drift.field == "spec.template.spec.containers[0].image"
    assert (drift.manager, drift.found, drift.wanted) == ("kubectl-set", "nginx:1.28", "nginx:1.27")
    reduced = without_paths(deployment(2, "nginx:1.27", []), [drift.path])
    assert reduced["spec"]["template"]["spec"]["containers"] == [{"name": "app"}]


def test_secret_values_are_never_shown() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "managedFields": [entry("kubectl-edit", {"f:data": {"f:token": {}}})],
        },
        "data": {"token": "aGFuZHM="},
    }
    dry = {**live, "data": {"token": "Z2l0"}}
    [drift] = find_drift(live, dry, OURS)
    assert "aGFuZHM=" not in drift.describe(True) and "Z2l0" not in drift.describe(True)
    assert drift.to_status(True, "now")["found"] == "<redacted>"


def test_sops_errors_say_what_to_do_without_quoting_values(tmp_path: Path) -> None:
    path = tmp_path / "input"
    mac = _explain(f"MAC mismatch. File has ABC, computed DEF\n{path}", path)
    assert "encrypt it again" in mac and "ABC" not in mac
    keys = _explain("Failed to get the data key required to decrypt the SOPS file.", path)
    assert "spec.decryption.secretRef" in keys
    quoted = _explain("Input string hunter2 does not match sops' data format", path)
    assert "hunter2" not in quoted


def test_formats_follow_file_names_and_markers() -> None:
    assert [format_for(n) for n in ("a.yaml", "b.json", ".dockerconfigjson", "c.env", "d.ini",
                                    "key.bin")] == ["yaml", "json", "json", "dotenv", "ini",
                                                    "binary"]  # fmt: skip
    assert encrypted_format(b"sops_mac=ENC[AES256_GCM,data:x]") == "dotenv"
    assert encrypted_format(b"plain: text") is None
