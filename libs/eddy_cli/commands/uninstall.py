"""`eddy uninstall`: remove eddy's controllers, and with --crds its CRDs.

What eddy applied stays: the finalizers of eddy's objects are removed once the
controllers are gone, so deleting them (or their CRDs) prunes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from eddy_runtime.resources import MERGE_PATCH, ApiError

from ..errors import CliError
from ..kube import Cluster, Settings, run
from ..manifests import Doc, Options, of_kind, render
from ..output import step, success
from ..resources import resource_of, served_by

FINALIZER = "finalizers.fluxcd.io"

EXAMPLES = """\b
Examples:
  # Remove the controllers; keep the CRDs and every GitRepository, Kustomization …
  eddy uninstall --yes
\b
  # Remove everything eddy installed, CRDs (and so all eddy objects) included
  eddy uninstall --crds --yes
\b
  # To prune what a Kustomization applied, delete it first, while eddy runs:
  kubectl -n flux-system delete kustomization apps && eddy uninstall --yes
"""


async def _delete(cluster: Cluster, doc: Doc, dry_run: bool) -> bool:
    meta = doc["metadata"]
    if dry_run:
        found = await cluster.client.get_or_none(
            resource_of(doc), meta["name"], meta.get("namespace")
        )
        return found is not None
    gone = await cluster.client.delete(
        resource_of(doc), meta["name"], meta.get("namespace"), propagation="Background"
    )
    return gone is not None


async def release_objects(cluster: Cluster, crds: Sequence[Doc], dry_run: bool) -> int:
    """Drop eddy's finalizer from every object of its kinds, in every namespace."""
    released = 0
    for crd in crds:
        res = served_by(crd)
        try:
            items, _ = await cluster.client.list_all(res)
        except ApiError as err:
            if err.not_found:
                continue  # the CRD is not installed
            raise
        for item in items:
            finalizers = item["metadata"].get("finalizers") or []
            if FINALIZER not in finalizers:
                continue
            released += 1
            if dry_run:
                continue
            keep = [f for f in finalizers if f != FINALIZER]
            patch = {"metadata": {"finalizers": keep or None}}
            meta = item["metadata"]
            try:
                await cluster.client.patch(
                    res, meta["name"], patch, meta.get("namespace"), MERGE_PATCH
                )
            except ApiError as err:
                if not err.not_found:
                    raise
    return released


async def uninstall(
    cluster: Cluster, docs: Sequence[Doc], crds: bool, keep_namespace: bool, dry_run: bool
) -> None:
    verb = "would delete" if dry_run else "deleted"
    removed = []
    for doc in of_kind(docs, "Deployment"):
        if await _delete(cluster, doc, dry_run):
            removed.append(f"Deployment/{doc['metadata']['name']}")
    definitions = of_kind(docs, "CustomResourceDefinition")
    released = await release_objects(cluster, definitions, dry_run)
    step(f"{'would remove' if dry_run else 'removed'} eddy's finalizer from {released} objects")
    kept = {"Deployment", "CustomResourceDefinition", "Namespace"}
    for doc in docs:
        if doc["kind"] not in kept and await _delete(cluster, doc, dry_run):
            removed.append(f"{doc['kind']}/{doc['metadata']['name']}")
    if crds:
        for doc in definitions:
            if await _delete(cluster, doc, dry_run):
                removed.append(f"CustomResourceDefinition/{doc['metadata']['name']}")
    if not keep_namespace:
        for doc in of_kind(docs, "Namespace"):
            if await _delete(cluster, doc, dry_run):
                removed.append(f"Namespace/{doc['metadata']['name']}")
    for name in removed:
        success(f"{verb} {name}")


@click.command(epilog=EXAMPLES)
@click.option("--crds", is_flag=True, help="Delete the CRDs too, and with them all eddy objects.")
@click.option("--keep-namespace", is_flag=True, help="Keep the namespace (and what else is in it).")
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def command(settings: Settings, crds: bool, keep_namespace: bool, dry_run: bool, yes: bool) -> None:
    """Remove eddy's controllers from the current cluster.

    Objects eddy applied stay in place; with --crds the CRDs go too, and with
    them every GitRepository, Kustomization, HelmRelease … in the cluster.
    """
    docs = render(Options(settings.namespace))
    if not (yes or dry_run):
        if not sys.stdin.isatty():
            raise CliError("uninstall needs confirmation: pass --yes (or try --dry-run first)")
        what = "controllers, CRDs and all eddy objects" if crds else "controllers"
        click.confirm(f"Remove eddy's {what} from namespace {settings.namespace}?", abort=True)
    run(settings, lambda cluster: uninstall(cluster, docs, crds, keep_namespace, dry_run))
    if not dry_run:
        success("eddy uninstalled")
