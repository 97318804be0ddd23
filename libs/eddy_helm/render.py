"""What an install or upgrade of a release would apply, without applying anything.

The helm-controller's own command line for the action (eddy_helm.actions: the
spec's flags, the composed values) run by helm as a server-side dry run, so the
chart is rendered as the release would be: with the cluster's capabilities, its
`lookup` answers and the release's revision. `eddy plan` diffs the result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import actions
from .helm import Helm, HelmError

# Waiting belongs to a real release; a dry run has nothing to wait for.
_WAITS = ("--wait", "--wait-for-jobs")


def dry_run_args(
    spec: dict[str, Any], release: str, namespace: str, chart: Path, values: Path, upgrade: bool
) -> list[str]:
    """`helm install|upgrade … --dry-run=server -o json` with the spec's own flags."""
    builder = actions.upgrade_args if upgrade else actions.install_args
    args = [a for a in builder(spec, release, namespace, chart, values) if a not in _WAITS]
    return [*args, "--dry-run=server", "--output", "json"]


async def render(
    helm: Helm,
    spec: dict[str, Any],
    release: str,
    namespace: str,
    chart: Path,
    values: Path,
    kubeconfig: Path,
    upgrade: bool,
    extra: tuple[str, ...] = (),
    post_render: dict[str, Any] | None = None,
) -> str:
    """The manifest (hooks left out, as Helm stores it) the action would apply.

    Needs the helm binary: the long-running server answers with errors only.
    """
    args = [*dry_run_args(spec, release, namespace, chart, values, upgrade), *extra]
    action = actions.UPGRADE if upgrade else actions.INSTALL
    out = await helm.run(args, kubeconfig, actions.timeout_of(spec, action), post_render)
    try:
        answer = json.loads(out)
    except ValueError:
        raise HelmError(f"helm {action} --dry-run gave no release: {out[:200]!r}") from None
    if not isinstance(answer, dict):
        raise HelmError(f"helm {action} --dry-run gave no release")
    return str(answer.get("manifest") or "")
