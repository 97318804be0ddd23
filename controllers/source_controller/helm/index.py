"""A Helm repository's index.yaml: validate it, and pick a chart version from it.

The HelmRepository stores the index; HelmChart reads the stored copy to choose the
newest version in range and to learn the digest the archive must have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import yaml

from eddy_api.common import Reason
from eddy_runtime.semver import InvalidVersion, parse_range, versions_of

from ..failures import fetch_failed, invalid_spec


@dataclass(frozen=True)
class ChartVersion:
    name: str
    version: str
    url: str
    digest: str


def parse_index(data: bytes) -> dict[str, Any]:
    """The index as a dict; IndexationFailed when it is not a Helm repository index."""
    try:
        # libyaml's parser: a big repository's index is megabytes, four times slower
        # through the pure-Python one (same safe constructors, same values).
        loaded = yaml.load(data, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as err:
        raise fetch_failed(
            Reason.INDEXATION_FAILED, f"index.yaml is not valid YAML: {err}"
        ) from err
    if not isinstance(loaded, dict) or not loaded.get("apiVersion"):
        raise fetch_failed(
            Reason.INDEXATION_FAILED,
            "index.yaml is not a Helm repository index (no apiVersion); check spec.url",
        )
    entries = loaded.get("entries")
    if entries is not None and not isinstance(entries, dict):
        raise fetch_failed(
            Reason.INDEXATION_FAILED, "index.yaml is malformed: 'entries' must be a mapping"
        )
    return loaded


def select(index: dict[str, Any], chart: str, wanted: str, repo_url: str) -> ChartVersion:
    """The newest version of `chart` in the range `wanted`, with its absolute URL."""
    try:
        versions = parse_range(wanted or "*")
    except InvalidVersion as err:
        raise invalid_spec(f"spec.version: {err}") from err
    entries = (index.get("entries") or {}).get(chart)
    if not entries:
        raise fetch_failed(
            Reason.CHART_PULL_FAILED,
            f"no chart named '{chart}' in the repository index; check spec.chart",
        )
    candidates = versions_of(
        (e for e in entries if isinstance(e, dict)), lambda e: str(e.get("version", ""))
    )
    best = versions.best(candidates)
    if best is None:
        raise fetch_failed(
            Reason.CHART_PULL_FAILED,
            f"no '{chart}' chart version matches '{wanted}' (found "
            f"{', '.join(sorted(str(v) for v in candidates)[:10]) or 'none'})",
        )
    entry = candidates[best]
    urls = entry.get("urls") or []
    if not urls:
        raise fetch_failed(
            Reason.CHART_PULL_FAILED, f"chart '{chart}' {best} has no download URL in the index"
        )
    base = repo_url if repo_url.endswith("/") else repo_url + "/"
    return ChartVersion(chart, str(entry["version"]), urljoin(base, str(urls[0])),
                        str(entry.get("digest", "")))  # fmt: skip
