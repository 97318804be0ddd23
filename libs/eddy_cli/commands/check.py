"""`eddy check`: is eddy working in this cluster, and if not, what is wrong.

Kubernetes version, CRDs established, each controller available and its health
and metrics endpoints answering; exit code 1 when anything fails.
"""

from __future__ import annotations

import asyncio

import click

from ..errors import FINDINGS
from ..health import Check, crd_established, deployment, endpoints, kubernetes_version
from ..kube import Cluster, Settings, run
from ..manifests import Options, deployments, of_kind, render
from ..output import data, failure, output_option, success
from .install import components_option, split

EXAMPLES = """\b
Examples:
  eddy check
  eddy check --pre                 # before installing: only the cluster itself
  eddy check -n eddy -o json       # as data, for a script
"""


async def run_checks(cluster: Cluster, namespace: str, components: str, pre: bool) -> list[Check]:
    checks = [await kubernetes_version(cluster)]
    if pre:
        return checks
    docs = render(Options(namespace, split(components)))
    crds = [d["metadata"]["name"] for d in of_kind(docs, "CustomResourceDefinition")]
    checks += await asyncio.gather(*(crd_established(cluster, n) for n in crds))
    for name in deployments(docs):
        found = await deployment(cluster, namespace, name)
        checks.append(found)
        checks += await endpoints(cluster, namespace, name)
    return checks


@click.command(epilog=EXAMPLES)
@components_option
@click.option("--pre", is_flag=True, help="Check only the cluster, before installing.")
@output_option()
@click.pass_obj
def command(settings: Settings, components: str, pre: bool, output: str) -> None:
    """Check that eddy is installed and healthy; exit code 1 if anything is wrong."""
    checks = run(settings, lambda cluster: run_checks(cluster, settings.namespace, components, pre))
    if output != "text":
        data([c.as_dict() for c in checks], output)
    else:
        for check in checks:
            (success if check.ok else failure)(f"{check.name}: {check.message}")
    if not all(c.ok for c in checks):
        if output == "text":
            failure("check failed")
        raise SystemExit(FINDINGS)
    if output == "text":
        success("all checks passed")
