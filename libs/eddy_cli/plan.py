"""What a proposed revision would change: build it as the controller would, dry-run it, diff.

Each Kustomization of the source is built from the proposed files with the
kustomize-controller's own code (eddy_kustomize: generate, confine, kustomize,
substitute), applied as a server-side dry run by the same Applier, and compared
with the live objects field by field; what its inventory holds and the new build
does not is what would be pruned.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eddy_api.helm import refused_fields
from eddy_api.kustomize import KustomizationSpec, parse_inventory_id
from eddy_api.schema import unhonoured_in_use
from eddy_artifacts.archive import iter_files
from eddy_artifacts.ignore import source_ignore_rules
from eddy_kustomize import build as builder
from eddy_kustomize.apply import CONFIGURED, CREATED, SKIPPED, Applier, ApplyError
from eddy_kustomize.objects import describe, object_id
from eddy_kustomize.substitute import gather_variables, substitute_objects, substitutes
from eddy_runtime.discovery import Discovery
from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import ApiError

from .kube import Cluster
from .resources import KUSTOMIZATIONS

Doc = dict[str, Any]
PRUNED = "pruned"
MASK = "***"
# Fields the server owns: a difference there is not a change anyone made.
_IGNORED = (
    ("metadata", "managedFields"), ("metadata", "resourceVersion"), ("metadata", "generation"),
    ("metadata", "creationTimestamp"), ("metadata", "uid"), ("status",),
)  # fmt: skip


@dataclass
class FieldChange:
    path: str
    live: Any
    new: Any

    def as_dict(self) -> Doc:
        return {"path": self.path, "live": self.live, "new": self.new}


@dataclass
class ObjectChange:
    action: str  # created, configured, pruned
    subject: str
    fields: list[FieldChange] = field(default_factory=list)

    def as_dict(self) -> Doc:
        out: Doc = {"action": self.action, "object": self.subject}
        if self.fields:
            out["fields"] = [f.as_dict() for f in self.fields]
        return out


@dataclass
class KustomizationPlan:
    namespace: str
    name: str
    path: str
    changes: list[ObjectChange] = field(default_factory=list)
    unchanged: int = 0
    error: str = ""
    # The HelmReleases the build holds, for planning their releases.
    releases: list[Doc] = field(default_factory=list)

    def as_dict(self) -> Doc:
        out: Doc = {
            "kustomization": f"{self.namespace}/{self.name}",
            "path": self.path,
            "changes": [c.as_dict() for c in self.changes],
            "unchanged": self.unchanged,
        }
        if self.error:
            out["error"] = self.error
        return out


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _strip(obj: Doc) -> Doc:
    out = copy.deepcopy(obj)
    for path in _IGNORED:
        parent = out
        for key in path[:-1]:
            parent = parent.get(key) or {}
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return out


def field_changes(live: Doc, new: Doc, secret: bool, masked: Sequence[str]) -> list[FieldChange]:
    """The leaves that differ; a Secret's data and every substituted secret value masked."""
    before, after = _flatten(_strip(live)), _flatten(_strip(new))
    out = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) == after.get(path):
            continue
        old, now = before.get(path), after.get(path)
        if secret and path.split(".", 1)[0] in ("data", "stringData"):
            old, now = (MASK if old is not None else None), (MASK if now is not None else None)
        out.append(FieldChange(path, mask_secrets(old, masked), mask_secrets(now, masked)))
    return out


def mask_secrets(value: Any, masked: Sequence[str]) -> Any:
    if isinstance(value, str):
        for secret in masked:
            if secret and secret in value:
                value = value.replace(secret, MASK)
    return value


def copy_source(source: Path, dest: Path, ignore: str | None) -> None:
    """The files the source-controller would put in the artifact, copied to dest."""
    rules = source_ignore_rules(source, ignore)
    for name, path in iter_files(source, rules.ignored):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


async def plan_kustomization(
    cluster: Cluster, kinds: Discovery, ks: Doc, source: Path, ignore: str | None,
    kustomize: str,
) -> KustomizationPlan:  # fmt: skip
    meta, spec = ks["metadata"], ks.get("spec") or {}
    plan = KustomizationPlan(meta["namespace"], meta["name"], spec.get("path") or "./")
    plan.error = not_planned(spec, "Kustomization")
    if plan.error:
        return plan
    with tempfile.TemporaryDirectory(prefix="eddy-plan-") as tmp:
        root = Path(tmp) / "source"
        root.mkdir()
        await asyncio.to_thread(copy_source, source, root, ignore)
        try:
            objects = await builder.build(kustomize, root, spec, 120.0)
            masked: list[str] = []
            post_build = spec.get("postBuild")
            if isinstance(post_build, dict):
                variables, masked = await gather_variables(
                    cluster.client, meta["namespace"], post_build
                )
                if substitutes(post_build, variables):
                    objects = await asyncio.to_thread(substitute_objects, objects, variables)
            applier = Applier(
                cluster.client, kinds, (meta["name"], meta["namespace"]),
                force=bool(spec.get("force")), dry_run=True,
            )  # fmt: skip
            await applier.apply_all(objects)
        except (StepError, ApplyError, ApiError) as err:
            plan.error = _mask_text(str(err), masked if "masked" in locals() else [])
            return plan
    built = set()
    for planned in applier.plans:
        built.add(object_id(planned.obj))
        if planned.obj.get("kind") == "HelmRelease" and str(
            planned.obj.get("apiVersion", "")
        ).startswith("helm.toolkit.fluxcd.io/"):
            # The server's dry-run answer: defaults filled in, as the live object has them.
            release = copy.deepcopy(planned.dry or planned.obj)
            release["metadata"].setdefault("namespace", meta["namespace"])
            plan.releases.append(release)
        subject = describe(planned.obj)
        if planned.action == CREATED:
            plan.changes.append(ObjectChange(CREATED, subject))
        elif planned.action == CONFIGURED and planned.live is not None:
            secret = planned.obj.get("kind") == "Secret" and planned.obj.get("apiVersion") == "v1"
            fields = field_changes(planned.live, planned.dry or planned.obj, secret, masked)
            plan.changes.append(ObjectChange(CONFIGURED, subject, fields))
        elif planned.action != SKIPPED:
            plan.unchanged += 1
    if spec.get("prune"):
        for entry in ((ks.get("status") or {}).get("inventory") or {}).get("entries") or []:
            if entry.get("id") in built:
                continue
            namespace, name, group, kind = parse_inventory_id(str(entry.get("id")))
            where = f"{namespace}/{name}" if namespace else name
            plan.changes.append(ObjectChange(PRUNED, f"{kind}/{where}"))
    return plan


def not_planned(spec: Doc, kind: str) -> str:
    """Why the object cannot be planned here, or "": the controller refuses a field it
    does not honour yet, or it applies to another cluster."""
    if kind == "HelmRelease":
        refused = refused_fields(spec)
    else:
        refused = unhonoured_in_use(KustomizationSpec, spec)
    if refused:
        return (
            f"{', '.join(refused)}: not supported by eddy yet, so the controller refuses this "
            f"{kind} and applies nothing; remove {'it' if len(refused) == 1 else 'them'}"
        )
    if spec.get("kubeConfig"):
        return (
            "spec.kubeConfig: it applies to another cluster, which eddy plan does not reach "
            "(it dry-runs in your kubeconfig's cluster)"
        )
    return ""


def _mask_text(text: str, masked: Sequence[str]) -> str:
    return str(mask_secrets(text, masked))


async def kustomizations_of(cluster: Cluster, kind: str, name: str, namespace: str) -> list[Doc]:
    """The Kustomizations, in every namespace, that build from this source."""
    items, _ = await cluster.client.list_all(KUSTOMIZATIONS)
    out = []
    for ks in items:
        ref = (ks.get("spec") or {}).get("sourceRef") or {}
        where = ref.get("namespace") or ks["metadata"]["namespace"]
        same = ref.get("kind") == kind and ref.get("name") == name and where == namespace
        if same and not (ks.get("spec") or {}).get("suspend"):
            out.append(ks)
    return sorted(out, key=lambda k: (k["metadata"]["namespace"], k["metadata"]["name"]))


class Planned(Protocol):
    """A Kustomization's or a HelmRelease's plan, as the reports read it."""

    namespace: str
    name: str
    changes: list[ObjectChange]
    unchanged: int
    error: str


def _what(plan: Planned) -> tuple[str, str]:
    """(kind, what it builds from) of a plan, for headings."""
    if isinstance(plan, KustomizationPlan):
        return "Kustomization", plan.path
    return "HelmRelease", str(getattr(plan, "chart", ""))


def total_changes(plans: Sequence[Planned]) -> int:
    return sum(len(p.changes) for p in plans)


def as_markdown(plans: Sequence[Planned], revision: str) -> str:
    """A comment ready to post on a pull request."""
    count = total_changes(plans)
    errors = [p for p in plans if p.error]
    kinds = sum(1 for p in plans if isinstance(p, KustomizationPlan))
    releases = len(plans) - kinds
    scope = f"{kinds} Kustomization{'s' if kinds != 1 else ''}"
    if releases:
        scope += f" and {releases} HelmRelease{'s' if releases != 1 else ''}"
    lines = [f"### eddy plan: {count} change{'s' if count != 1 else ''} in {scope}", ""]
    if revision:
        lines += [f"Proposed revision: `{revision}`", ""]
    for plan in plans:
        kind, origin = _what(plan)
        title = f"#### {kind} `{plan.namespace}/{plan.name}` (`{origin}`)"
        lines += [title, ""]
        if plan.error:
            lines += [f"**Error:** {plan.error}", ""]
            continue
        if not plan.changes:
            lines += [f"No changes ({plan.unchanged} objects unchanged).", ""]
            continue
        lines += ["| | object | change |", "|---|---|---|"]
        for change in plan.changes:
            mark = {CREATED: "create", CONFIGURED: "update", PRUNED: "prune"}[change.action]
            detail = (
                "<br>".join(
                    f"`{f.path}`: `{_short(f.live)}` → `{_short(f.new)}`" for f in change.fields
                )
                or change.action
            )
            lines.append(f"| {mark} | `{change.subject}` | {detail} |")
        lines.append("")
    if errors:
        lines.append(f"{len(errors)} of them could not be planned.")
    return "\n".join(lines).rstrip() + "\n"


def _short(value: Any, limit: int = 60) -> str:
    text = "(none)" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_text(plans: Sequence[Planned]) -> str:
    lines = []
    symbols = {CREATED: "+", CONFIGURED: "~", PRUNED: "-"}
    for plan in plans:
        kind, origin = _what(plan)
        head = f"{kind} {plan.namespace}/{plan.name} ({origin})"
        if plan.error:
            lines.append(f"{head}: error: {plan.error}")
            continue
        if not plan.changes:
            lines.append(f"{head}: no changes ({plan.unchanged} objects unchanged)")
            continue
        lines.append(f"{head}: {len(plan.changes)} changes")
        for change in plan.changes:
            lines.append(f"  {symbols[change.action]} {change.subject} {change.action}")
            for f in change.fields:
                lines.append(f"      {f.path}: {_short(f.live, 200)} → {_short(f.new, 200)}")
    return "\n".join(lines) + "\n"
