"""The pinned `helm` binary, run as a subprocess for every release action.

Helm itself installs, upgrades, tests, rolls back and uninstalls, so releases are
stored and behave exactly as `helm list` and `helm history` expect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from eddy_runtime.durations import format_duration
from eddy_runtime.reconciler import StepError

log = logging.getLogger("eddy.helm")

# Helm enforces its own --timeout; this is only for a helm that hangs regardless.
_GRACE = 60.0
_MESSAGE_LIMIT = 2000


class HelmError(StepError):
    """A helm command failed; the message is Helm's own explanation."""


def helm_binary(path: str) -> str:
    found = shutil.which(path)
    if found is None:
        raise FileNotFoundError(f"helm binary '{path}' not found; set --helm-path")
    return found


def _clean(output: str) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error:")]
    text = "; ".join(errors) if errors else "; ".join(lines[-5:])
    return text[:_MESSAGE_LIMIT]


@dataclass(frozen=True)
class Helm:
    binary: str
    # Helm's cache, config and data live here instead of a home directory.
    home: Path

    @staticmethod
    def create(path: str, workdir: str | None = None) -> Helm:
        home = Path(tempfile.mkdtemp(prefix="helm-home-", dir=workdir))
        return Helm(helm_binary(path), home)

    def _env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "TMPDIR", "LANG")}
        return {
            **keep,
            "HOME": str(self.home),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
            # Helm must see one cluster only: the one in --kubeconfig.
            "KUBECONFIG": "",
        }

    async def run(self, args: list[str], kubeconfig: Path, timeout: float) -> str:
        argv = [self.binary, *args, "--kubeconfig", str(kubeconfig)]
        log.debug("running helm %s", args[0])
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._env(),
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout + _GRACE)
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise HelmError(_clean(err.decode(errors="replace") or out.decode(errors="replace")))
        return out.decode(errors="replace")


def timeout_flag(seconds: float) -> list[str]:
    return ["--timeout", format_duration(seconds).replace(" ", "")]
