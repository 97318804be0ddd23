"""Everything the page of one object shows: tree, drift, history, events, dependencies.

Read on demand, as the person, from the hub's caches and the API server: the
inventory's live objects and what they own, who changed which field, and why an
application is not applied yet.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import yaml

from eddy_runtime import conditions
from eddy_runtime.discovery import Discovery, DiscoveryError
from eddy_runtime.kstatus import assess
from eddy_runtime.resources import EVENTS, ApiError, Obj, Resource, ResourceClient
from eddy_web.health import summarize
from eddy_web.hub import Hub
from eddy_web.inventory import inventory_refs
from eddy_web.kinds import APPS, RESOURCES, SELF_SUBJECT_ACCESS_REVIEWS
from eddy_web.summary import READY, commit_of, helm_chart_of, row, source_ref, state_of

MAX_OBJECTS = 300
REPLICA_SETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
PODS = Resource("", "v1", "pods", "Pod")
JOBS = Resource("batch", "v1", "jobs", "Job")
# Managers that write fields no one declares in Git: not drift.
SYSTEM_MANAGERS = ("kube-controller-manager", "kube-scheduler", "kubelet", "before-first-apply")
GITOPS_MANAGERS = ("kustomize-controller", "helm-controller", "helm")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def describe(hub: Hub, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    res = RESOURCES[kind]
    obj = hub.get(kind, namespace, name) or await hub.client.get_or_none(res, name, namespace)
    if obj is None:
        return None
    found: dict[str, Any] = {
        "row": hub.row(obj),
        "conditions": (obj.get("status") or {}).get("conditions") or [],
        "spec": obj.get("spec") or {},
        "metadata": {k: v for k, v in _dict(obj.get("metadata")).items() if k != "managedFields"},
    }
    events, may_patch = await asyncio.gather(
        _events(hub.client, kind, namespace, name),
        _may(hub.client, "patch", res, namespace, name),
    )
    found["events"] = events
    found["permissions"] = {"patch": may_patch}
    if kind in APPS:
        found["dependsOn"] = _dependencies(hub, obj)
        found["dependents"] = _dependents(hub, kind, namespace, name)
        found["sources"] = [
            row(src) for ref in (source_ref(obj), helm_chart_of(obj)) if ref
            for src in [hub.get(ref["kind"], ref["namespace"], ref["name"])] if src
        ]  # fmt: skip
        found["tree"], found["drift"] = await _tree(hub.client, obj)
        found["driftReport"] = drift_report(obj)
        with_wanted(found["drift"], found["driftReport"])
        if not found["row"]["health"]:
            # What the tree just read is fresher than the list's last assessment.
            health, why = summarize(
                [(f"{n['kind']}/{n['name']}", n["health"]["state"], n["health"]["message"])
                 for n in found["tree"] if n.get("health")]
            )  # fmt: skip
            if health:
                found["row"]["health"], found["row"]["healthMessage"] = health, why
        found["history"] = with_commits(history_of(obj, events), found["sources"])
    else:
        found["consumers"] = _consumers(hub, kind, namespace, name)
    return found


# -- events and permissions -----------------------------------------------------------


async def _events(client: ResourceClient, kind: str, namespace: str, name: str) -> list[Obj]:
    selector = f"involvedObject.kind={kind},involvedObject.name={name}"
    try:
        listed = await client.list(EVENTS, namespace, field_selector=selector)
    except ApiError:
        return []
    items = [_event(e) for e in listed.get("items") or []]
    items.sort(key=lambda e: e["last"], reverse=True)
    return items[:100]


def _event(event: Obj) -> dict[str, Any]:
    meta = _dict(event.get("metadata"))
    last = event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp", "")
    return {
        "type": event.get("type", ""),
        "reason": event.get("reason", ""),
        "message": event.get("message", ""),
        "count": event.get("count") or 1,
        "first": event.get("firstTimestamp") or last,
        "last": last,
        "source": _dict(event.get("source")).get("component")
        or event.get("reportingComponent", ""),
        "annotations": meta.get("annotations") or {},
    }


async def _may(client: ResourceClient, verb: str, res: Resource, namespace: str, name: str) -> bool:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "verb": verb,
                "group": res.group,
                "resource": res.plural,
                "namespace": namespace,
                "name": name,
            }
        },
    }
    try:
        answer = await client.create(SELF_SUBJECT_ACCESS_REVIEWS, review)
    except ApiError:
        return False
    return bool(_dict(answer.get("status")).get("allowed"))


# -- dependencies -----------------------------------------------------------------------


def _dependencies(hub: Hub, obj: Obj) -> list[dict[str, Any]]:
    """Each dependency, whether it counts as ready, and why not in a person's words."""
    kind = str(obj.get("kind"))
    found = []
    for dep in row(obj).get("dependsOn") or []:
        other = hub.get(kind, dep["namespace"], dep["name"])
        entry: dict[str, Any] = {"kind": kind, **dep}
        if other is None:
            entry.update(
                ready=False,
                state="Missing",
                why=f"{kind} {dep['namespace']}/{dep['name']} does not exist",
            )
        elif not conditions.is_ready(other):
            state, _, message = state_of(other)
            entry.update(
                ready=False,
                state=state,
                why=f"{kind} {dep['namespace']}/{dep['name']} is {state}"
                + (f": {message}" if message else ""),
            )
        else:
            entry.update(ready=True, state=READY, why="")
        found.append(entry)
    return found


def _dependents(hub: Hub, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
    found = []
    for other in hub.objects(kind):
        other_row = row(other)
        for dep in other_row.get("dependsOn") or []:
            if dep["namespace"] == namespace and dep["name"] == name:
                found.append(
                    {
                        "kind": kind,
                        "namespace": other_row["namespace"],
                        "name": other_row["name"],
                        "state": other_row["state"],
                    }
                )
    return sorted(found, key=lambda d: (d["namespace"], d["name"]))


def _consumers(hub: Hub, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
    """Applications (and image objects) that use this source or repository."""
    found = []
    for app_kind in APPS:
        for app in hub.objects(app_kind):
            refs = [source_ref(app), helm_chart_of(app)]
            if any(
                r and (r["kind"], r["namespace"], r["name"]) == (kind, namespace, name)
                for r in refs
            ):
                found.append(row(app))
    for other_kind in ("ImagePolicy", "ImageUpdateAutomation"):
        for other in hub.objects(other_kind):
            spec = _dict(other.get("spec"))
            ref = _dict(spec.get("imageRepositoryRef")) or _dict(spec.get("sourceRef"))
            ref_kind = ref.get("kind") or ("ImageRepository" if other_kind == "ImagePolicy" else "")
            ref_ns = ref.get("namespace") or _dict(other.get("metadata")).get("namespace")
            if (ref_kind, ref_ns, ref.get("name")) == (kind, namespace, name):
                found.append(row(other))
    return found


# -- history --------------------------------------------------------------------------


def history_of(obj: Obj, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Revisions applied, newest first: from status.history, else from the Events."""
    status = _dict(obj.get("status"))
    entries = []
    for item in status.get("history") or []:
        item = _dict(item)
        meta = _dict(item.get("metadata"))
        entries.append(
            {
                "revision": meta.get("revision")
                or (
                    f"{item.get('chartName')}@{item.get('chartVersion')}"
                    if item.get("chartName")
                    else item.get("digest", "")
                ),
                "first": item.get("firstReconciled") or item.get("firstDeployed", ""),
                "last": item.get("lastReconciled") or item.get("lastDeployed", ""),
                "status": item.get("lastReconciledStatus") or item.get("status", ""),
                "count": item.get("totalReconciliations") or 1,
                "version": item.get("version"),
            }
        )
        commit = commit_of({"metadata": meta})
        if commit:
            entries[-1]["commit"] = commit
    if entries:
        return entries
    by_revision: dict[str, dict[str, Any]] = {}
    for event in events:
        annotations = event["annotations"]
        revision = next((v for k, v in annotations.items() if k.endswith("/revision")), "")
        if not revision:
            continue
        entry = by_revision.setdefault(
            revision,
            {"revision": revision, "first": event["first"], "last": event["last"],
             "status": "", "count": 0, "messages": []},
        )  # fmt: skip
        entry["first"] = min(entry["first"], event["first"])
        entry["last"] = max(entry["last"], event["last"])
        entry["count"] += event["count"]
        if event["reason"] == "ReconciliationSucceeded" and not entry["status"]:
            entry["status"] = "Succeeded"
        elif event["type"] == "Warning" and not entry["status"]:
            entry["status"] = "Failed"
        entry["messages"].append(event["message"][:300])
    current = status.get("lastAppliedRevision")
    if current and current not in by_revision:
        ready = conditions.get(status, conditions.READY) or {}
        by_revision[current] = {
            "revision": current, "first": ready.get("lastTransitionTime", ""),
            "last": ready.get("lastTransitionTime", ""), "status": "Succeeded", "count": 1,
            "messages": [],
        }  # fmt: skip
    # Newest revision first: the one applied now, then by when each first appeared.
    return sorted(
        by_revision.values(), key=lambda e: (e["revision"] == current, e["first"]), reverse=True
    )


def with_commits(
    history: list[dict[str, Any]], sources: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each Git revision of the history with its commit's author, date and message.

    The source-controller records them in its artifact's metadata; a revision
    that is no longer the source's artifact keeps only its name.
    """
    commits = {
        str(artifact.get("revision", "")): artifact["commit"]
        for artifact in (_dict(source.get("artifact")) for source in sources)
        if artifact.get("commit")
    }
    for entry in history:
        commit = commits.get(str(entry.get("revision", "")))
        if commit and not entry.get("commit"):
            entry["commit"] = commit
        status = str(entry.get("status", ""))
        entry["ok"] = status in (
            "Succeeded",
            "ReconciliationSucceeded",
            "deployed",
            "superseded",
            "uninstalled",
        )
    return history


# -- the resource tree ------------------------------------------------------------------


async def watched_resources(client: ResourceClient, obj: Obj) -> set[tuple[Resource, str]]:
    """(resource, namespace) pairs whose changes can change the application's tree."""
    try:
        refs = await inventory_refs(client, obj)
    except (ApiError, ValueError, OSError, yaml.YAMLError):
        return set()
    discovery = Discovery(client)
    found: set[tuple[Resource, str]] = set()
    for ref in refs[:MAX_OBJECTS]:
        try:
            res = await discovery.lookup(ref["apiVersion"], ref["kind"])
        except DiscoveryError:
            continue
        if res is None:
            continue
        namespace = ref["namespace"] if res.namespaced else ""
        found.add((res, namespace))
        if namespace and ref["kind"] in (
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "CronJob",
        ):
            found.update({(REPLICA_SETS, namespace), (PODS, namespace), (JOBS, namespace)})
    return found


async def _tree(
    client: ResourceClient, obj: Obj
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The application's objects with what they own, and the fields changed outside Git."""
    try:
        refs = await inventory_refs(client, obj)
    except (ApiError, ValueError, OSError, yaml.YAMLError) as err:
        return [{"kind": "", "name": "", "error": f"cannot read the inventory: {err}"}], []
    discovery = Discovery(client)
    gate = asyncio.Semaphore(16)
    children = _Children(client)

    async def node(ref: dict[str, str]) -> dict[str, Any]:
        found: dict[str, Any] = {**ref}
        async with gate:
            try:
                res = await discovery.lookup(ref["apiVersion"], ref["kind"])
                live = (
                    await client.get_or_none(res, ref["name"], ref["namespace"] or None)
                    if res is not None
                    else None
                )
            except (ApiError, DiscoveryError) as err:
                found["health"] = {"state": "Unknown", "message": str(err)}
                return found
        health = assess(live)
        found["health"] = {"state": health.state, "message": health.message}
        if live is not None:
            found["created"] = _dict(live.get("metadata")).get("creationTimestamp", "")
            found["drift"] = drift_of(live)
            found["children"] = await children.of(live)
        if len(refs) > MAX_OBJECTS:
            found["truncated"] = True
        return found

    nodes = await asyncio.gather(*(node(r) for r in refs[:MAX_OBJECTS]))
    drift = [
        {"kind": n["kind"], "namespace": n["namespace"], "name": n["name"], **d}
        for n in nodes
        for d in n.pop("drift", [])
    ]
    return list(nodes), drift


class _Children:
    """ReplicaSets, Pods and Jobs owned by a live object, listed once per namespace."""

    def __init__(self, client: ResourceClient) -> None:
        self.client = client
        self._lists: dict[tuple[str, str], asyncio.Task[list[Obj]]] = {}

    async def _list(self, res: Resource, namespace: str) -> list[Obj]:
        key = (res.plural, namespace)
        if key not in self._lists:
            self._lists[key] = asyncio.ensure_future(self._fetch(res, namespace))
        return await self._lists[key]

    async def _fetch(self, res: Resource, namespace: str) -> list[Obj]:
        try:
            items, _ = await self.client.list_all(res, namespace)
        except ApiError:
            return []
        return items

    async def of(self, live: Obj) -> list[dict[str, Any]]:
        kind = live.get("kind")
        meta = _dict(live.get("metadata"))
        namespace = str(meta.get("namespace", ""))
        wanted = {
            "Deployment": (REPLICA_SETS,),
            "StatefulSet": (PODS,),
            "DaemonSet": (PODS,),
            "ReplicaSet": (PODS,),
            "Job": (PODS,),
            "CronJob": (JOBS,),
        }.get(str(kind), ())
        found = []
        for res in wanted:
            for child in await self._list(res, namespace):
                owners = _dict(child.get("metadata")).get("ownerReferences") or []
                if not any(o.get("uid") == meta.get("uid") for o in owners):
                    continue
                if (
                    res is REPLICA_SETS
                    and not (child.get("spec") or {}).get("replicas")
                    and not (child.get("status") or {}).get("replicas")
                ):
                    continue  # an old ReplicaSet scaled to zero: history, not the tree
                health = assess(child)
                found.append(
                    {
                        "kind": res.kind,
                        "apiVersion": res.api_version,
                        "namespace": namespace,
                        "name": _dict(child.get("metadata")).get("name", ""),
                        "created": _dict(child.get("metadata")).get("creationTimestamp", ""),
                        "health": {"state": health.state, "message": health.message},
                        "children": await self.of(child),
                    }
                )
        return sorted(found, key=lambda c: (c["kind"], c["name"]))


# -- drift ------------------------------------------------------------------------------


def drift_report(obj: Obj) -> list[dict[str, Any]]:
    """The drift the kustomize-controller last found (status.drift): found, Git's value, who."""
    entries = _dict(obj.get("status")).get("drift")
    found = []
    for entry in entries if isinstance(entries, list) else []:
        entry = _dict(entry)
        if not entry.get("object") or not entry.get("field"):
            continue
        found.append(
            {
                "object": str(entry["object"]),
                "field": str(entry["field"]),
                "found": entry.get("found"),
                "git": entry.get("restored") if entry.get("corrected") else entry.get("wanted"),
                "manager": str(entry.get("manager") or ""),
                "corrected": bool(entry.get("corrected")),
                "time": str(entry.get("detectedAt") or ""),
            }
        )
    return found[:50]


def with_wanted(drift: list[dict[str, Any]], report: list[dict[str, Any]]) -> None:
    """Give each live drifted field the value Git wants, where the controller reported it."""
    wanted = {(r["object"], r["field"]): r["git"] for r in report if not r["corrected"]}
    for entry in drift:
        key = (f"{entry['kind']}/{entry['namespace']}/{entry['name']}", str(entry["field"]))
        if key in wanted:
            entry["wanted"] = wanted[key]


def drift_of(live: Obj) -> list[dict[str, Any]]:
    """Fields of a live object last written by someone other than eddy or the cluster.

    The API server records who set each field (managedFields); a field that a
    person or another tool took over from eddy's apply is drift, and we name who.
    """
    found = []
    for entry in _dict(live.get("metadata")).get("managedFields") or []:
        entry = _dict(entry)
        manager = str(entry.get("manager", ""))
        if entry.get("subresource") == "status":
            continue
        if manager in SYSTEM_MANAGERS or manager in GITOPS_MANAGERS:
            continue
        for path, selector in _field_paths(_dict(entry.get("fieldsV1"))):
            if path[:1] == ["status"] or path[:2] in (
                ["metadata", "resourceVersion"],
                ["metadata", "generation"],
            ):
                continue
            if (
                path[:2] == ["metadata", "annotations"]
                and len(path) > 2
                and path[2]
                in (
                    "deployment.kubernetes.io/revision",
                    "kubectl.kubernetes.io/last-applied-configuration",
                )
            ):
                continue
            found.append(
                {
                    "field": selector,
                    "value": _value_at(live, path),
                    "manager": manager,
                    "operation": entry.get("operation", ""),
                    "subresource": entry.get("subresource", ""),
                    "time": entry.get("time", ""),
                }
            )
    return found


def _field_paths(
    fields: dict[str, Any], prefix: list[Any] | None = None
) -> list[tuple[list[Any], str]]:
    """Leaf paths of a fieldsV1 set, as key lists and as readable selectors."""
    prefix = prefix or []
    leaves: list[tuple[list[Any], str]] = []
    for key, sub in fields.items():
        if key == ".":
            continue
        if key.startswith("f:"):
            step: Any = key[2:]
        elif key.startswith("k:"):
            try:
                step = {"match": json.loads(key[2:])}
            except ValueError:
                continue
        elif key.startswith("v:"):
            try:
                step = {"value": json.loads(key[2:])}
            except ValueError:
                continue
        else:
            continue
        path = [*prefix, step]
        if isinstance(sub, dict) and any(k != "." for k in sub):
            leaves.extend(_field_paths(sub, path))
        else:
            leaves.append((path, _selector(path)))
    return leaves


def _selector(path: list[Any]) -> str:
    text = ""
    for step in path:
        if isinstance(step, dict) and "match" in step:
            text += "[" + ",".join(f"{k}={v}" for k, v in step["match"].items()) + "]"
        elif isinstance(step, dict):
            text += f"[{json.dumps(step['value'])}]"
        else:
            text += ("." if text else "") + str(step)
    return text


def _value_at(obj: Any, path: list[Any]) -> Any:
    current = obj
    for step in path:
        if isinstance(step, dict):
            if not isinstance(current, list):
                return None
            if "match" in step:
                current = next(
                    (i for i in current if isinstance(i, dict)
                     and all(i.get(k) == v for k, v in step["match"].items())),
                    None,
                )  # fmt: skip
            else:
                return step["value"]
        elif isinstance(current, dict):
            current = current.get(step)
        else:
            return None
    if isinstance(current, (dict, list)):
        text = json.dumps(current)
        return text if len(text) < 200 else text[:200] + "…"
    return current
