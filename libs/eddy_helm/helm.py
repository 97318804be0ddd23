"""The pinned Helm that makes releases: Helm's library in one long-running process
(`eddy-helm-server`), or the `helm` binary as a subprocess per action.

Helm itself installs, upgrades, tests, rolls back and uninstalls, so releases are
stored and behave exactly as `helm list` and `helm history` expect. The server takes
the same command lines as the binary and keeps its clients, discovery and OpenAPI
documents between actions; the binary is the fallback where the server is absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eddy_runtime.durations import format_duration
from eddy_runtime.reconciler import StepError

from . import postrender

log = logging.getLogger("eddy.helm")

# Helm enforces its own --timeout; this is only for a helm that hangs regardless.
_GRACE = 60.0
_MESSAGE_LIMIT = 2000
# One answer line from the server: an error message, never a manifest.
_LINE_LIMIT = 1 << 20
SERVER_NAME = "eddy-helm-server"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Judging:
    """Objects of these kinds are judged by the controller when Helm waits.

    `kinds` are `{"group", "kind"}` selectors (an empty kind: the whole group);
    `judge` gets the release's objects of those kinds (apiVersion, kind and
    metadata's name and namespace) and the seconds left of the action's timeout,
    and answers None when all are healthy, else the message the action fails with.
    """

    kinds: list[dict[str, str]]
    judge: Callable[[list[Doc], float], Awaitable[str | None]]


class HelmError(StepError):
    """A helm command failed; the message is Helm's own explanation."""


def helm_binary(path: str) -> str:
    found = shutil.which(path)
    if found is None:
        raise FileNotFoundError(f"helm binary '{path}' not found; set --helm-path")
    return found


def _clean(output: str) -> str:
    """Helm's `Error:` lines, each with the lines that continue it (a post-renderer's
    own output follows its error line), or the last lines when there is none."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors: list[list[str]] = []
    current: list[str] | None = None
    for line in (raw.strip() for raw in output.strip().splitlines()):
        if line.startswith("Error:"):
            current = [line.removeprefix("Error: ")]
            errors.append(current)
        elif line and current is not None:
            current.append(line)
        else:
            current = None
    text = "; ".join(" ".join(e) for e in errors) if errors else "; ".join(lines[-5:])
    return text[:_MESSAGE_LIMIT]


def _env(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "TMPDIR", "LANG")}
    return {
        **keep,
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        # Helm must see one cluster only: the one in --kubeconfig.
        "KUBECONFIG": "",
    }


class HelmServer:
    """`eddy-helm-server`, started on first use, one JSON line per request and answer.

    Requests run concurrently in the server; each waits for the answer with its
    id. If the server dies, the actions in flight fail with a message saying so and
    the next action starts a new server.
    """

    def __init__(self, binary: str, home: Path) -> None:
        self.binary = binary
        self.home = home
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[str | None]] = {}
        self._judging: dict[int, Judging] = {}
        self._verdicts: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def _started(self) -> asyncio.subprocess.Process:
        async with self._lock:
            if self._proc is None or self._proc.returncode is not None:
                self._proc = await asyncio.create_subprocess_exec(
                    self.binary,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    env=_env(self.home),
                    limit=_LINE_LIMIT,
                )
                self._reader = asyncio.create_task(self._read(self._proc))
                log.info("started %s (pid %d)", self.binary, self._proc.pid)
            return self._proc

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                answer = json.loads(line)
                if "judge" in answer:
                    self._ask(proc, answer)
                    continue
                future = self._pending.pop(int(answer["id"]), None)
                if future is not None and not future.done():
                    future.set_result(None if answer.get("ok") else str(answer.get("error")))
        except (ValueError, KeyError, asyncio.LimitOverrunError) as err:
            log.error("unreadable answer from %s: %s", self.binary, err)
        finally:
            code = await proc.wait()
            log.warning("%s exited with code %s", self.binary, code)
            for future in self._pending.values():
                if not future.done():
                    future.set_result(f"{SERVER_NAME} stopped (exit code {code}) during the action")
            self._pending.clear()

    def _ask(self, proc: asyncio.subprocess.Process, question: Doc) -> None:
        """A wait of the server asks for a verdict on objects: judge them aside."""
        ident = int(question["id"])
        judging = self._judging.get(ident)

        async def answer() -> None:
            verdict: str | None = f"no judge for the objects of request {ident}"
            if judging is not None:
                try:
                    verdict = await judging.judge(
                        list(question["judge"]), float(question["timeout"])
                    )
                except Exception as err:  # the server must get an answer, whatever happens
                    log.exception("judging the objects of request %d failed", ident)
                    verdict = f"judging the release's objects failed: {err}"
            assert proc.stdin is not None
            line = {"id": ident, "judged": True, "verdict": verdict or ""}
            with contextlib.suppress(OSError, RuntimeError):
                proc.stdin.write(json.dumps(line).encode() + b"\n")
                await proc.stdin.drain()

        task = asyncio.create_task(answer())
        self._verdicts.add(task)
        task.add_done_callback(self._verdicts.discard)

    async def run(
        self,
        args: list[str],
        kubeconfig: Path,
        timeout: float,
        post_render: Doc | None = None,
        judging: Judging | None = None,
    ) -> str:
        proc = await self._started()
        assert proc.stdin is not None
        ident = next(self._ids)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        request: Doc = {"id": ident, "args": args, "kubeconfig": str(kubeconfig)}
        if post_render is not None:
            request["postRender"] = post_render
        if judging is not None:
            request["healthChecks"] = judging.kinds
            self._judging[ident] = judging
        log.debug("helm %s (server)", args[0])
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            await proc.stdin.drain()
            error = await asyncio.wait_for(asyncio.shield(future), timeout + _GRACE)
        except (TimeoutError, asyncio.CancelledError):
            self._pending.pop(ident, None)
            with contextlib.suppress(OSError, RuntimeError):
                proc.stdin.write(json.dumps({"id": ident, "cancel": True}).encode() + b"\n")
            raise
        except (BrokenPipeError, ConnectionResetError) as err:
            self._pending.pop(ident, None)
            raise HelmError(f"{SERVER_NAME} is not running: {err}") from None
        finally:
            self._judging.pop(ident, None)
        if error is not None:
            raise HelmError(error[:_MESSAGE_LIMIT])
        return ""

    async def close(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the server cancels what it can and finishes the rest
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if self._reader is not None:
            await self._reader


class Helm:
    """Runs helm command lines: through the server when there is one, else the binary."""

    def __init__(
        self, binary: str, home: Path, server: str | None = None, *, serve: bool = True
    ) -> None:
        self.binary = binary
        # Helm's cache, config and data live here instead of a home directory.
        self.home = home
        # eddy-helm-server runs the actions when `serve`; either way it is the
        # post-renderer of the helm binary (`eddy-helm-server post-render FILE`).
        self.server_binary = server
        self.server = HelmServer(server, home) if server and serve else None

    @staticmethod
    def create(path: str, workdir: str | None = None, server: str = "", serve: bool = True) -> Helm:
        home = Path(tempfile.mkdtemp(prefix="helm-home-", dir=workdir))
        found = shutil.which(server) if server else None
        if server and found is None:
            log.info("%s not found; running the helm binary for each action", server)
        return Helm(helm_binary(path), home, found, serve=serve)

    async def run(
        self,
        args: list[str],
        kubeconfig: Path,
        timeout: float,
        post_render: Doc | None = None,
        judging: Judging | None = None,
    ) -> str:
        """Run one helm command line; `post_render` (eddy_helm.postrender.document) is
        what install, upgrade and template do to the rendered manifests, `judging`
        who decides the health of the objects of some kinds when Helm waits."""
        if self.server is not None:
            return await self.server.run(args, kubeconfig, timeout, post_render, judging)
        if judging is not None:
            raise HelmError(
                f"spec.healthCheckExprs are evaluated while {SERVER_NAME} waits, which was "
                "not found; install it (make tools) or pass --helm-server-path"
            )
        argv = [self.binary, *binary_args(args), "--kubeconfig", str(kubeconfig)]
        document: Path | None = None
        if post_render is not None and self.server_binary:
            document = await asyncio.to_thread(_write_private, self.home, json.dumps(post_render))
            argv += ["--post-renderer", self.server_binary, "--post-renderer-args", "post-render",
                     "--post-renderer-args", str(document)]  # fmt: skip
        elif post_render and postrender.beyond_origin(post_render):
            raise HelmError(
                f"spec.postRenderers and spec.commonMetadata are run by {SERVER_NAME}, which "
                "was not found; install it (make tools) or pass --helm-server-path"
            )
        try:
            return await self._run_binary(argv, args[0], timeout)
        finally:
            if document is not None:
                await asyncio.to_thread(document.unlink, True)

    async def _run_binary(self, argv: list[str], action: str, timeout: float) -> str:
        log.debug("running helm %s", action)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_env(self.home),
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

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()


def binary_args(args: list[str]) -> list[str]:
    """The helm command's own flags for a command line written for the server.

    The server also takes `--storage-namespace` and `--crds` with `--crd-label`;
    the binary does what it can of them and refuses, naming the field, what only
    the server does.
    """
    out: list[str] = []
    namespace = args[args.index("--namespace") + 1] if "--namespace" in args else "default"
    flags = iter(args)
    for arg in flags:
        if arg == "--storage-namespace":
            if next(flags) != namespace:
                raise HelmError(
                    f"spec.storageNamespace other than the target namespace needs {SERVER_NAME}"
                    " (the helm command keeps records beside the objects); install it or "
                    "remove storageNamespace"
                )
        elif arg == "--crds":
            policy = next(flags)
            if policy == "Skip":
                out.append("--skip-crds")
            elif policy == "CreateReplace":
                raise HelmError(
                    f"spec.{args[0]}.crds: CreateReplace needs {SERVER_NAME}; install it or "
                    "use Create"
                )
            # Create: helm install creates the missing CRDs itself; helm upgrade
            # creates none, so new CRDs of an upgrade need the server.
        elif arg == "--crd-label":
            next(flags)
        else:
            out.append(arg)
    return out


def _write_private(folder: Path, text: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="post-render-", suffix=".json", dir=folder)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return Path(name)


def timeout_flag(seconds: float) -> list[str]:
    return ["--timeout", format_duration(seconds).replace(" ", "")]
