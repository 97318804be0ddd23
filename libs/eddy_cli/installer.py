"""Apply eddy's install manifests to a cluster and wait for them: `install` and `bootstrap`.

CRDs and the namespace go first and must be established before the rest; then the
controllers, and, when asked, a wait until every Deployment is available.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from eddy_runtime.resources import ApiError

from .errors import CliError
from .health import deployment, wait_established
from .kube import Cluster
from .manifests import Doc, of_kind
from .output import step, success, waiting
from .resources import resource_of


async def apply_all(cluster: Cluster, docs: Sequence[Doc]) -> None:
    """Server-side apply, the Namespace and CRDs first, each refusal named."""
    for doc in docs:
        try:
            await cluster.client.apply(resource_of(doc), doc)
        except ApiError as err:
            meta = doc["metadata"]
            where = f" in {meta['namespace']}" if meta.get("namespace") else ""
            raise CliError(
                f"applying {doc['kind']} {meta['name']}{where} failed: "
                f"{err.message or err.reason or err.status}"
            ) from err


async def install(cluster: Cluster, docs: Sequence[Doc], wait: bool, timeout: float) -> None:
    first = of_kind(docs, "Namespace", "CustomResourceDefinition")
    crds = [d["metadata"]["name"] for d in of_kind(docs, "CustomResourceDefinition")]
    step(f"applying {len(crds)} CRDs and the namespace")
    await apply_all(cluster, first)
    await wait_established(cluster, crds, timeout)
    success("CRDs established")
    rest = [d for d in docs if d not in first]
    step(f"applying {len(rest)} objects")
    await apply_all(cluster, rest)
    success("controllers applied")
    if wait:
        await wait_available(cluster, docs, timeout)


async def wait_available(cluster: Cluster, docs: Sequence[Doc], timeout: float) -> None:
    found = of_kind(docs, "Deployment")
    names = [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in found]
    waiting(f"waiting up to {timeout:.0f}s for {len(names)} controllers to be available")
    deadline = time.monotonic() + timeout
    pending = names
    while True:
        checks = await asyncio.gather(*(deployment(cluster, ns, name) for ns, name in pending))
        for (_, name), check in zip(pending, checks, strict=True):
            if check.ok:
                success(f"{name}: {check.message}")
        stuck = [(key, c) for key, c in zip(pending, checks, strict=True) if not c.ok]
        if not stuck:
            return
        if time.monotonic() > deadline:
            details = "; ".join(f"{name}: {c.message}" for (_, name), c in stuck)
            raise CliError(f"not available within {timeout:.0f}s: {details}")
        pending = [key for key, _ in stuck]
        await asyncio.sleep(1.0)
