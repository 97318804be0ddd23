"""The command's exit codes and the one-line errors a person can act on.

Every failure ends as `✗ <what went wrong and what to do>` on stderr and a
documented exit code, never as a traceback.
"""

from __future__ import annotations

import aiohttp

from eddy_runtime.resources import ApiError

OK = 0
# The question had an answer, and it is "no": check found problems, plan found changes.
FINDINGS = 1
# The command could not do its job: bad input, no cluster, refused by a server.
ERROR = 2


class CliError(Exception):
    """Stops the command with `message` on stderr and exit code `code`."""

    def __init__(self, message: str, code: int = ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def explain(err: BaseException, server: str = "") -> str:
    """One line for an error raised while talking to the Kubernetes API."""
    where = f" at {server}" if server else ""
    if isinstance(err, CliError):
        return err.message
    if isinstance(err, ApiError):
        if err.status == 401:
            return (
                f"the Kubernetes API{where} did not accept the kubeconfig's credentials; "
                "log in again or pick another context with --context"
            )
        if err.status == 403:
            return f"forbidden: {err.message}; ask for RBAC that allows it, or use --context"
        return f"the Kubernetes API{where} answered {err.status} {err.reason}: {err.message}"
    if isinstance(err, aiohttp.ClientConnectorError | ConnectionError):
        return (
            f"cannot reach the Kubernetes API{where} ({err}); check that the cluster "
            "is running and that the kubeconfig's current context is the right one"
        )
    if isinstance(err, aiohttp.ClientError | TimeoutError):
        return f"talking to the Kubernetes API{where} failed: {err or type(err).__name__}"
    return str(err) or type(err).__name__
