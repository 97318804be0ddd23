"""Render eddy's install (kustomize base or Helm chart) and drive it with the pinned kubectl.

The install tests apply exactly what a user applies, into a namespace of their own.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import yaml

from eddy_testenv.process import find_binary

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "manifests"
CHART = ROOT / "charts" / "eddy"
CONTROLLERS = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "image-automation-controller",
    "notification-controller",
]

Doc = dict[str, Any]


def token() -> str:
    return secrets.token_hex(3)


def run(argv: list[str], stdin: str | None = None, check: bool = True) -> str:
    """stdout; with check=False, stdout and stderr for the caller to judge."""
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv[:4])} … failed ({done.returncode}):\n{done.stderr}{done.stdout}"
        )
    return done.stdout if check else done.stdout + done.stderr


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    return run([find_binary("kubectl"), f"--kubeconfig={kubeconfig}", *args], stdin, check)


def get(kubeconfig: Path, *args: str) -> Doc:
    found: Doc = json.loads(kubectl(kubeconfig, "get", "-o", "json", *args))
    return found


def load(text: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all(text) if d]


def dump(docs: list[Doc]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def build_manifests(workdir: Path, namespace: str) -> list[Doc]:
    """`kustomize build` of an overlay that installs manifests/ into `namespace`."""
    overlay = workdir / "overlay"
    overlay.mkdir(parents=True, exist_ok=True)
    # kustomize takes bases by relative path only.
    base = os.path.relpath(MANIFESTS, overlay)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {namespace}\nresources:\n  - {base}\n"
    )
    return load(run([find_binary("kustomize"), "build", str(overlay)]))


def render_chart(namespace: str, *sets: str) -> list[Doc]:
    argv = [find_binary("helm"), "template", "eddy", str(CHART), f"--namespace={namespace}"]
    return load(run([*argv, "--include-crds", *(f"--set={s}" for s in sets)]))


def of_kind(docs: list[Doc], *kinds: str) -> list[Doc]:
    return [d for d in docs if d["kind"] in kinds]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def rename_cluster_rbac(docs: list[Doc], suffix: str) -> list[Doc]:
    """Give eddy's cluster-scoped RBAC names of its own, so an install under test
    never touches (or is touched by) another one in the same cluster."""
    own = {d["metadata"]["name"] for d in of_kind(docs, "ClusterRole")}
    for doc in of_kind(docs, "ClusterRole", "ClusterRoleBinding"):
        doc["metadata"]["name"] += suffix
        ref = doc.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole" and ref.get("name") in own:
            ref["name"] += suffix
    return docs


def delete_cluster_rbac(kubeconfig: Path, docs: list[Doc]) -> None:
    for doc in of_kind(docs, "ClusterRole", "ClusterRoleBinding"):
        kind, name = doc["kind"].lower(), doc["metadata"]["name"]
        kubectl(kubeconfig, "delete", kind, name, "--ignore-not-found", "--wait=false")


def service_account_kubeconfig(admin: Path, namespace: str, name: str, dest: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount itself, with a token
    the API server issues for it: the identity the controller has in its Pod."""
    issued = kubectl(admin, "create", "token", name, f"--namespace={namespace}", "--duration=1h")
    config = yaml.safe_load(admin.read_text())
    current = config["current-context"]
    context = next(c for c in config["contexts"] if c["name"] == current)["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])
    user = f"system:serviceaccount:{namespace}:{name}"
    dest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": user, "user": {"token": issued.strip()}}],
                "contexts": [{"name": name, "context": {"cluster": cluster["name"], "user": user}}],
                "current-context": name,
            }
        )
    )
    dest.chmod(0o600)
    return dest


def whoami(kubeconfig: Path) -> str:
    review = json.loads(kubectl(kubeconfig, "auth", "whoami", "-o", "json"))
    return str(review["status"]["userInfo"]["username"])


def can_i(kubeconfig: Path, verb: str, resource: str, namespace: str) -> bool:
    answer = kubectl(
        kubeconfig, "auth", "can-i", verb, resource, f"--namespace={namespace}", check=False
    )
    return answer.strip().splitlines()[:1] == ["yes"]


def pod_from(deployment: Doc, namespace: str) -> Doc:
    """The Pod a Deployment's template makes, to put it through Pod admission."""
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": deployment["metadata"]["name"],
            "namespace": namespace,
            "labels": template["metadata"].get("labels", {}),
        },
        "spec": template["spec"],
    }
