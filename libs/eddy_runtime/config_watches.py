"""ConfigMaps and Secrets an object reads (values, substitutions, keys) as watches.

A change of a ConfigMap or Secret labelled for it (`--watch-configs-label-selector`,
Flux's `reconcile.fluxcd.io/watch=Enabled` by default) reaches the objects that
refer to it at once instead of at their next interval. Only labelled ones are listed,
watched and cached, so a cluster's other Secrets never sit in a controller's memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .informer import IndexFunc
from .manager import Watch, ref_key
from .resources import CONFIG_MAPS, SECRETS, Obj

CONFIG_MAP_INDEX = "configMap"
SECRET_INDEX = "secret"

# (kind, name) of each ConfigMap or Secret an object reads from its own namespace.
ConfigRefs = Callable[[Obj], Iterable[tuple[str, str]]]


def config_indexes(refs: ConfigRefs) -> dict[str, IndexFunc]:
    """The two indexes config_watches looks objects up in."""

    def by(kind: str) -> IndexFunc:
        def keys(obj: Obj) -> list[str]:
            namespace = str((obj.get("metadata") or {}).get("namespace", ""))
            found = {name for ref_kind, name in refs(obj) if ref_kind == kind and name}
            return [ref_key(kind, namespace, name) for name in sorted(found)]

        return keys

    return {CONFIG_MAP_INDEX: by(CONFIG_MAPS.kind), SECRET_INDEX: by(SECRETS.kind)}


def config_watches(label_selector: str) -> list[Watch]:
    """Watches of the ConfigMaps and Secrets matching `label_selector` ("" for all)."""
    return [
        Watch(CONFIG_MAPS, index=CONFIG_MAP_INDEX, label_selector=label_selector),
        Watch(SECRETS, index=SECRET_INDEX, label_selector=label_selector),
    ]


def named_refs(
    items: object, kinds: Iterable[str] = (CONFIG_MAPS.kind, SECRETS.kind)
) -> list[tuple[str, str]]:
    """(kind, name) of each `{kind, name}` entry of a list such as valuesFrom."""
    allowed = set(kinds)
    if not isinstance(items, list):
        return []
    return [
        (str(item["kind"]), str(item["name"]))
        for item in items
        if isinstance(item, dict) and item.get("kind") in allowed and item.get("name")
    ]


def secret_ref(holder: object) -> list[tuple[str, str]]:
    """The Secret a `{secretRef: {name}}` block names, if any."""
    ref = holder.get("secretRef") if isinstance(holder, dict) else None
    name = ref.get("name") if isinstance(ref, dict) else None
    return [(SECRETS.kind, str(name))] if name else []
