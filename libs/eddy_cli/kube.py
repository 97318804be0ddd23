"""The connection to the user's cluster, through the user's own kubeconfig.

The command acts as the person running it (their context, their `as`
impersonation), so Kubernetes RBAC decides what it may see and change.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config.config_exception import ConfigException

from eddy_runtime.client import KubeconfigError, load_configuration, new_client
from eddy_runtime.client import kubeconfig_impersonation as impersonation_of
from eddy_runtime.portforward import pod_get
from eddy_runtime.resources import ResourceClient

from .errors import CliError, explain

T = TypeVar("T")

FIELD_MANAGER = "eddy"


@dataclass
class Settings:
    """The options every command shares."""

    kubeconfig: str = ""
    context: str = ""
    namespace: str = "flux-system"

    def kubeconfig_path(self) -> str:
        """--kubeconfig, else $KUBECONFIG (its first existing file), else ~/.kube/config."""
        if self.kubeconfig:
            if not Path(self.kubeconfig).is_file():
                raise CliError(f"kubeconfig {self.kubeconfig} does not exist; fix --kubeconfig")
            return self.kubeconfig
        for candidate in os.environ.get("KUBECONFIG", "").split(os.pathsep):
            if candidate and Path(candidate).is_file():
                return candidate
        default = Path.home() / ".kube" / "config"
        if default.is_file():
            return str(default)
        raise CliError(
            "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config"
        )


@dataclass
class Cluster:
    """An open connection: the generated client and eddy's dict-based one."""

    api: ApiClient
    client: ResourceClient
    server: str
    context: str
    # The kubeconfig file, for programs (helm) that act as the user too.
    kubeconfig: str = ""

    async def version(self) -> dict[str, Any]:
        return await self.client.get_path("/version")

    async def pod_get(
        self, namespace: str, pod: str, port: int, path: str, timeout: float = 10.0
    ) -> tuple[int, str]:
        """GET a path inside a Pod through a port-forward (eddy_runtime.portforward)."""
        return await pod_get(self.api, namespace, pod, port, path, timeout)


def _check_context(path: str, context: str) -> str:
    """The context that will be used; refuses one the kubeconfig does not have."""
    try:
        with open(path) as handle:
            doc = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as err:
        raise CliError(f"cannot read kubeconfig {path}: {err}") from None
    if not isinstance(doc, dict):
        raise CliError(f"kubeconfig {path} is not a kubeconfig (expected a YAML mapping)")
    names = [str(c.get("name")) for c in doc.get("contexts") or [] if isinstance(c, dict)]
    chosen = context or str(doc.get("current-context") or "")
    if not chosen:
        raise CliError(f"kubeconfig {path} has no current-context; pass --context NAME")
    if chosen not in names:
        known = ", ".join(names) or "none"
        raise CliError(
            f"context {chosen!r} is not in kubeconfig {path} (it has: {known}); "
            "pass --context with one of them"
        )
    return chosen


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[Cluster]:
    """A connection to the cluster of the chosen kubeconfig and context."""
    path = settings.kubeconfig_path()
    context = _check_context(path, settings.context)
    try:
        configuration = await load_configuration(path, context)
        impersonate = impersonation_of(path, context)
    except (ConfigException, KubeconfigError) as err:
        raise CliError(f"kubeconfig {path}, context {context!r}: {err}") from None
    api = new_client(configuration, impersonate)
    try:
        yield Cluster(
            api, ResourceClient(api, FIELD_MANAGER), str(configuration.host), context, path
        )
    finally:
        await api.close()


def run(settings: Settings, work: Callable[[Cluster], Awaitable[T]]) -> T:
    """Connect, run `work` on the event loop, and turn API failures into one line."""

    async def connected() -> T:
        async with connect(settings) as cluster:
            try:
                return await work(cluster)
            except CliError:
                raise
            except Exception as err:
                raise CliError(explain(err, cluster.server)) from err

    return asyncio.run(connected())
