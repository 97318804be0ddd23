"""`eddy plan`: what a proposed revision would change in the cluster, before it is merged.

Builds every Kustomization of a source (a GitRepository, an OCIRepository or a
Bucket) from a local directory, or from another revision of a GitRepository or
another tag or digest of an OCIRepository,
with the kustomize-controller's own code, dry-runs it on the cluster and diffs
it; renders the HelmReleases the proposal changes (or whose chart it holds)
with their composed values, as the helm-controller's upgrade would, and diffs
each object against the live one through a server-side dry run: exit code 0 no
change, 1 changes, 2 error.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click

from eddy_kustomize.build import kustomize_binary
from eddy_runtime.discovery import Discovery
from eddy_runtime.reconciler import StepError

from .. import ocisource
from ..errors import ERROR, FINDINGS, CliError
from ..gitsource import checkout
from ..helmplan import HelmReleasePlan, plan_releases, releases_to_plan
from ..kube import Cluster, Settings, run
from ..output import data, step
from ..plan import (
    KustomizationPlan,
    Planned,
    as_markdown,
    as_text,
    kustomizations_of,
    plan_kustomization,
    total_changes,
)
from ..resources import SOURCES

EXAMPLES = """\b
Examples:
  # In a pull request's checkout: what would merging it change?
  eddy plan --source-dir . --output markdown > plan.md
\b
  # A branch of the repository the GitRepository flux-system fetches
  eddy plan --revision feature/new-app
\b
  # Another GitRepository, in another namespace
  eddy -n apps plan --source app-repo --revision v1.4.0 -o json
\b
  # What pushing this directory to the OCIRepository's registry would change
  eddy plan --source-kind OCIRepository --source app --source-dir ./deploy
\b
  # What moving the OCIRepository to another tag (or digest) would change
  eddy plan --source-kind OCIRepository --source app --revision v1.3.0
\b
  # HelmReleases too: rendered with the pinned helm (and the eddy-helm-server beside it)
  eddy plan --source-dir . --helm-path .tools/bin/helm
\b
Exit codes: 0 no change, 1 changes, 2 error (a build or dry run failed).
"""


PLANNED_SOURCES = ("GitRepository", "OCIRepository", "Bucket")


async def _plan(
    cluster: Cluster, namespace: str, kind: str, source: str, source_dir: Path | None,
    revision: str, kustomize: str,
    helm: str, helm_server: str,
) -> tuple[list[KustomizationPlan], list[HelmReleasePlan], str]:  # fmt: skip
    repo = await cluster.client.get_or_none(SOURCES[kind], source, namespace)
    if repo is None:
        raise CliError(
            f"{kind} {namespace}/{source} not found; name the source with --source "
            "(and --source-kind) and its namespace with -n"
        )
    kustomizations = await kustomizations_of(cluster, kind, source, namespace)
    if not kustomizations and not await releases_to_plan(cluster, [], kind, source, namespace):
        raise CliError(f"no Kustomization or HelmRelease builds from {kind} {namespace}/{source}")
    ignore = (repo.get("spec") or {}).get("ignore")
    kinds = Discovery(cluster.client)
    with tempfile.TemporaryDirectory(prefix="eddy-plan-") as tmp:
        root, label = source_dir, str(source_dir)
        if root is None:
            root = Path(tmp) / "checkout"
            root.mkdir()
            step(f"fetching {revision} of {kind} {namespace}/{source}")
            if kind == "OCIRepository":
                label = await ocisource.pull(cluster, repo, revision, root)
            else:
                sha = await checkout(cluster, repo, revision, root)
                label = f"{revision}@sha1:{sha}"
        plans = []
        for ks in kustomizations:
            meta = ks["metadata"]
            step(f"planning Kustomization {meta['namespace']}/{meta['name']}")
            plans.append(await plan_kustomization(cluster, kinds, ks, root, ignore, kustomize))
        built = [r for p in plans if not p.error for r in p.releases]
        step("planning the HelmReleases it changes or whose chart it holds")
        try:
            releases = await plan_releases(
                cluster, kinds, helm, built, root, (kind, source, namespace), helm_server
            )
        except StepError as err:
            raise CliError(err.message) from err
    return plans, releases, label


@click.command(epilog=EXAMPLES)
@click.option(
    "--source-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="A checkout of the repository with the proposed changes.",
)
@click.option(
    "--revision",
    default="",
    help="A branch, tag or commit of the GitRepository's repository; a tag or digest of "
    "the OCIRepository's.",
)
@click.option(
    "--source",
    default="flux-system",
    show_default=True,
    help="The source (in -n's namespace) whose Kustomizations and HelmReleases to plan.",
)
@click.option(
    "--source-kind",
    type=click.Choice(PLANNED_SOURCES),
    default="GitRepository",
    show_default=True,
    help="The kind of --source; a Bucket needs --source-dir.",
)
@click.option(
    "--kustomize-path",
    default="kustomize",
    show_default=True,
    help="The kustomize binary (the version the controller pins).",
)
@click.option(
    "--helm-path",
    default="helm",
    show_default=True,
    help="The helm binary (the version the controller pins), for HelmReleases.",
)
@click.option(
    "--helm-server-path",
    default="eddy-helm-server",
    show_default=True,
    help="eddy-helm-server, which post-renders HelmReleases as the helm-controller does "
    "(postRenderers, commonMetadata, the helm.toolkit.fluxcd.io labels); looked for on PATH, "
    "then beside the helm binary.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "markdown", "json", "yaml"]),
    default="text",
    show_default=True,
)
@click.pass_obj
def command(
    settings: Settings,
    source_dir: Path | None,
    revision: str,
    source: str,
    source_kind: str,
    kustomize_path: str,
    helm_path: str,
    helm_server_path: str,
    output: str,
) -> None:
    """Show what a proposed revision would change, object by object and field by field."""
    if (source_dir is None) == (not revision):
        raise CliError("give either --source-dir DIR or --revision REF")
    if revision and source_kind == "Bucket":
        raise CliError(
            "a Bucket keeps no revisions to fetch; give the files you would upload with "
            "--source-dir DIR"
        )
    if source_dir is not None and not source_dir.is_dir():
        raise CliError(f"--source-dir {source_dir} is not a directory")
    binary = kustomize_binary(kustomize_path)
    if shutil.which(binary) is None:
        raise CliError(
            f"kustomize not found at {kustomize_path!r}; install it or pass --kustomize-path"
        )
    plans, releases, label = run(
        settings,
        lambda cluster: _plan(
            cluster,
            settings.namespace,
            source_kind,
            source,
            source_dir.resolve() if source_dir else None,
            revision,
            binary,
            helm_path,
            helm_server_path,
        ),
    )
    every: list[Planned] = [*plans, *releases]
    if output == "markdown":
        click.echo(as_markdown(every, label), nl=False)
    elif output == "text":
        click.echo(as_text(every), nl=False)
    else:
        data(
            {
                "revision": label,
                "kustomizations": [p.as_dict() for p in plans],
                "helmReleases": [p.as_dict() for p in releases],
            },
            output,
        )
    if any(p.error for p in every):
        raise SystemExit(ERROR)
    if total_changes(every):
        raise SystemExit(FINDINGS)
