"""`eddy why KIND/NAME`: where an object in the cluster comes from, down to the line in Git.

Prints the chain (HelmRelease, Kustomization, source, revision, commit, file:line)
and every patch, image override or substitution that changed it on the way.
"""

from __future__ import annotations

import click

from ..discovery import resolve
from ..errors import FINDINGS, CliError
from ..kube import Cluster, Settings, run
from ..output import data, output_option
from ..provenance import Answer, explain

EXAMPLES = """\b
Examples:
  eddy why deployment/podinfo -n apps
  eddy why configmap/settings -n apps -o yaml
  eddy why clusterrole/view-apps
\b
Exit code 1 when the object was not applied by eddy (or Flux).
"""


def _split(reference: str) -> tuple[str, str]:
    kind, _, name = reference.partition("/")
    if not kind or not name or "/" in name:
        raise CliError(f"{reference!r} is not KIND/NAME, e.g. deployment/podinfo")
    return kind, name


async def _why(cluster: Cluster, kind: str, name: str, namespace: str) -> Answer:
    res = await resolve(cluster, kind)
    found = await cluster.client.get_or_none(res, name, namespace if res.namespaced else None)
    if found is None:
        where = f" in namespace {namespace}" if res.namespaced else ""
        raise CliError(f"{res.kind} {name} not found{where}; check the name and -n")
    found.setdefault("apiVersion", res.api_version)
    found.setdefault("kind", res.kind)
    return await explain(cluster, found)


def _print(answer: Answer) -> None:
    obj = answer.object
    where = f"{obj['namespace']}/" if obj.get("namespace") else ""
    click.echo(f"{obj['kind']} {where}{obj['name']}")
    rows: list[tuple[str, str]] = []
    for link in answer.applied_by:
        rows.append(("applied by", f"{link['kind']} {link['namespace']}/{link['name']}"))
        for key in ("chart", "chartSource", "release", "path", "revision", "ready"):
            if link.get(key):
                rows.append((f"  {key}", str(link[key])))
        for value in link.get("values") or []:
            rows.append(("  values from", value))
    if answer.source:
        src = answer.source
        rows.append(("source", f"{src['kind']} {src['namespace']}/{src['name']}"))
        for key, label in (("url", "url"), ("revision", "revision"), ("originUrl", "origin"),
                           ("originRevision", "origin rev")):  # fmt: skip
            if src.get(key):
                rows.append((f"  {label}", str(src[key])))
    if answer.commit:
        commit = answer.commit
        rows.append(("commit", f"{commit['sha']}"))
        rows.append(("  author", str(commit["author"])))
        rows.append(("  date", str(commit["date"])))
        first, *_ = str(commit["message"]).splitlines() or [""]
        rows.append(("  message", first))
    for place in answer.defined_at:
        rows.append(("defined at", f"{place['path']}:{place['line']}"))
    for change in answer.changes:
        at = f" ({change['path']}:{change['line']})" if change.get("path") else ""
        rows.append(("changed by", f"{change['by']}: {change['detail']}{at}"))
    for note in answer.notes:
        rows.append(("note", note))
    for label, value in rows:
        click.echo(f"  {label:<14} {value}")


@click.command(epilog=EXAMPLES)
@click.argument("reference", metavar="KIND/NAME")
@output_option()
@click.pass_obj
def command(settings: Settings, reference: str, output: str) -> None:
    """Explain where an object comes from: applier, source, commit and line.

    Follows the Kustomization and HelmRelease labels on the object to the
    source and revision, fetches the commit, and finds the file and line that
    define the object and every patch or substitution that changed it.
    """
    kind, name = _split(reference)
    answer = run(settings, lambda cluster: _why(cluster, kind, name, settings.namespace))
    if output == "text":
        _print(answer)
    else:
        data(answer.as_dict(), output)
    if not answer.managed:
        raise SystemExit(FINDINGS)
