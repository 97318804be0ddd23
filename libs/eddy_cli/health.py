"""Is eddy healthy in this cluster: the answers `install` waits for and `check` prints.

Each check is a name, a verdict and a sentence saying what is wrong and where to look.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import aiohttp

from eddy_runtime.resources import CRDS, ApiError

from .errors import CliError
from .kube import Cluster
from .resources import DEPLOYMENTS, PODS, Doc, condition, is_true

# The oldest Kubernetes release eddy is tested against and supports.
MIN_KUBERNETES = (1, 30)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def kubernetes_version(cluster: Cluster) -> Check:
    info = await cluster.version()
    text = str(info.get("gitVersion", ""))
    found = re.match(r"v?(\d+)\.(\d+)", text)
    minimum = ".".join(map(str, MIN_KUBERNETES))
    if not found:
        return Check("kubernetes", False, f"the API server reports version {text!r}; cannot tell")
    if (int(found[1]), int(found[2])) < MIN_KUBERNETES:
        return Check("kubernetes", False, f"{text} is older than {minimum}; upgrade the cluster")
    return Check("kubernetes", True, f"{text} >={minimum}")


async def crd_established(cluster: Cluster, name: str) -> Check:
    crd = await cluster.client.get_or_none(CRDS, name)
    if crd is None:
        return Check(f"crd/{name}", False, "not installed; run `eddy install`")
    if is_true(crd, "Established"):
        return Check(f"crd/{name}", True, "established")
    cond = condition(crd, "Established") or {}
    detail = cond.get("message") or "the API server has not established it yet"
    return Check(f"crd/{name}", False, f"not established: {detail}")


def deployment_verdict(deployment: Doc) -> tuple[bool, str]:
    """Whether a Deployment is available with its current template, and why not."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    ready = int(status.get("availableReplicas") or 0)
    generation = int((deployment.get("metadata") or {}).get("generation") or 0)
    if int(status.get("observedGeneration") or 0) < generation:
        return False, "the Deployment controller has not seen its latest spec yet"
    if wanted == 0:
        return False, "scaled to 0 replicas"
    failed = condition(deployment, "Progressing")
    if failed and failed.get("reason") == "ProgressDeadlineExceeded":
        return False, f"rollout stuck: {failed.get('message', '')}"
    if is_true(deployment, "Available") and int(status.get("updatedReplicas") or 0) >= wanted:
        return True, f"available ({ready}/{wanted} replicas)"
    return False, f"not available ({ready}/{wanted} replicas ready)"


async def _pods(cluster: Cluster, namespace: str, name: str) -> list[Doc]:
    pods, _ = await cluster.client.list_all(PODS, namespace, label_selector=f"app={name}")
    return pods


def _pod_problem(pods: Sequence[Doc]) -> str:
    """Why the Pods of a Deployment are not running, in a few words."""
    if not pods:
        return "no Pods were created (see `kubectl describe replicaset`)"
    reasons = []
    for pod in pods:
        status = pod.get("status") or {}
        waiting = [
            (c.get("state") or {}).get("waiting") or {}
            for c in status.get("containerStatuses") or []
        ]
        why = next((w.get("reason") for w in waiting if w.get("reason")), "")
        if not why and not (pod.get("spec") or {}).get("nodeName"):
            scheduled = condition(pod, "PodScheduled") or {}
            why = scheduled.get("message") or "not scheduled to any node"
        reasons.append(f"{pod['metadata']['name']} {status.get('phase', 'Unknown')}: {why}")
    return "; ".join(reasons)


async def deployment(cluster: Cluster, namespace: str, name: str) -> Check:
    found = await cluster.client.get_or_none(DEPLOYMENTS, name, namespace)
    label = f"deployment/{name}"
    if found is None:
        return Check(label, False, f"not found in namespace {namespace}; run `eddy install`")
    ok, message = deployment_verdict(found)
    if ok:
        return Check(label, True, message)
    return Check(label, False, f"{message}; {_pod_problem(await _pods(cluster, namespace, name))}")


async def endpoints(cluster: Cluster, namespace: str, name: str) -> list[Check]:
    """/healthz and /metrics of one running Pod, through a port-forward to it."""
    running = [
        p
        for p in await _pods(cluster, namespace, name)
        if (p.get("status") or {}).get("phase") == "Running" and is_true(p, "Ready")
    ]
    checks = []
    for path, port, label in (("healthz", 9440, "health"), ("metrics", 8080, "metrics")):
        check = f"{label}/{name}"
        if not running:
            checks.append(Check(check, False, "no running Pod to ask"))
            continue
        pod = running[0]["metadata"]["name"]
        try:
            code, body = await cluster.pod_get(namespace, pod, port, f"/{path}")
        except (ApiError, OSError, TimeoutError, aiohttp.ClientError) as err:
            checks.append(Check(check, False, f"{pod}:{port}/{path} unreachable: {err}"))
            continue
        if code != 200:
            checks.append(Check(check, False, f"{pod}:{port}/{path} answered {code}"))
        elif path == "metrics" and "gotk_reconcile" not in body and "# TYPE" not in body:
            checks.append(Check(check, False, f"{pod}:{port}/{path} has no Prometheus metrics"))
        else:
            checks.append(Check(check, True, f"{pod}:{port}/{path} answered 200"))
    return checks


async def wait_established(cluster: Cluster, names: Sequence[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        results = await asyncio.gather(*(crd_established(cluster, n) for n in pending))
        pending = [r.name.removeprefix("crd/") for r in results if not r.ok]
        if pending and time.monotonic() > deadline:
            raise CliError(
                f"CRDs not established within {timeout:.0f}s: {', '.join(pending)}; "
                "see `kubectl describe crd`"
            )
        if pending:
            await asyncio.sleep(0.5)
