"""Talk to a Git server with dulwich: list its refs, fetch commits, push a commit.

Blocking code by nature (sockets, pack files), so callers run it in a thread; every
failure leaves here as a GitError whose message says what to check.
"""

from __future__ import annotations

import contextlib
import functools
import shlex
import shutil
import socket
import ssl
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3
from dulwich.client import (
    FetchPackResult,
    GitClient,
    HTTPUnauthorized,
    SSHGitClient,
    SubprocessSSHVendor,
    SubprocessWrapper,
    Urllib3HttpGitClient,
)
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.objects import ObjectID
from dulwich.refs import Ref
from dulwich.repo import BaseRepo

from eddy_api.common import Reason

from .auth import GitAuth
from .bounds import Expired, Operation
from .errors import CredentialsRefused, Diverged, GitError, git_failed, timed_out

PEELED = "^{}"


def _askpass(tmp: Path, passphrase: bytes) -> list[str]:
    """An `env` prefix that makes ssh read the key's passphrase from a private file.

    OpenSSH only asks for passphrases interactively; SSH_ASKPASS with
    SSH_ASKPASS_REQUIRE=force lets it ask a program instead, and neither the
    passphrase nor a decrypted key ever appears on a command line or on disk.
    """
    secret = tmp / "passphrase"
    secret.write_bytes(passphrase)
    secret.chmod(stat.S_IRUSR | stat.S_IWUSR)
    script = tmp / "askpass"
    script.write_text(f"#!/bin/sh\nexec cat {shlex.quote(str(secret))}\n")
    script.chmod(stat.S_IRWXU)
    return ["env", f"SSH_ASKPASS={script}", "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"]


def _explain(err: BaseException, timeout: float) -> str:
    """What went wrong on the wire, with the fix, from an error and its causes."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, urllib3.exceptions.MaxRetryError) and seen.reason is not None:
            seen = seen.reason
            continue
        if isinstance(seen, ssl.SSLError | urllib3.exceptions.SSLError) or (
            "CERTIFICATE_VERIFY_FAILED" in str(seen)
        ):
            return (
                "TLS verification failed (the server's certificate is not trusted); add the "
                "CA that signed it as ca.crt to spec.secretRef"
            )
        if isinstance(seen, urllib3.exceptions.NewConnectionError | ConnectionError):
            return f"cannot connect: {seen}"
        # After the check above: urllib3's NewConnectionError is also a TimeoutError.
        if isinstance(seen, urllib3.exceptions.TimeoutError | TimeoutError):
            # Said the same way as when the whole operation runs out of time.
            return timed_out(timeout)
        seen = seen.__cause__ or seen.__context__
    return str(err) or type(err).__name__


def redact_url(url: str) -> str:
    """The URL without the user and password it may embed, for messages and logs."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return url


@functools.lru_cache(maxsize=64)
def tls_context(ca_cert: bytes | None) -> ssl.SSLContext:
    """The TLS context trusting the system roots plus `ca_cert`, built once per CA.

    Loading the system roots parses the whole CA bundle, tens of milliseconds of CPU
    under the GIL: done for every fetch it was the largest cost of reconciling
    many repositories. A context is safe to share between threads once built.
    """
    context = ssl.create_default_context()
    if ca_cert:
        try:
            context.load_verify_locations(cadata=ca_cert.decode())
        except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
            raise GitError(
                Reason.AUTHENTICATION_FAILED, f"ca.crt is not a PEM certificate: {err}"
            ) from err
    return context


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), parts.port or {"http": 80, "https": 443}.get(scheme)


class _HTTPClient(Urllib3HttpGitClient):
    """dulwich's smart-HTTP client that can also authenticate with a bearer token.

    dulwich sends basic credentials itself but has no bearer support (its
    `extra_headers` never reach a request), so the header is added per request,
    and only to the repository's own origin: a redirect elsewhere must not
    carry the token along.
    """

    def __init__(
        self, base_url: str, *, bearer_token: str | None, operation: Operation, **kwargs: Any
    ) -> None:
        super().__init__(base_url, **kwargs)
        self._bearer = f"Bearer {bearer_token}" if bearer_token else None
        self._bearer_origin = _origin(base_url)
        self._operation = operation

    def _http_request(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        data: bytes | Iterator[bytes] | None = None,
        raise_for_status: bool = True,
    ) -> tuple[Any, Callable[[int], bytes]]:
        if self._bearer is not None and _origin(url) == self._bearer_origin:
            headers = {**(headers or {}), "Authorization": self._bearer}
        self._operation.check()
        response, read = super()._http_request(url, headers, data, raise_for_status)
        return response, self._operation.reading(read)

    def fetch_pack(
        self, path: Any, determine_wants: Any, graph_walker: Any, pack_data: Any, *args: Any,
        **kwargs: Any,
    ) -> FetchPackResult:  # fmt: skip
        guarded = self._operation.guard_pack(pack_data)
        return super().fetch_pack(path, determine_wants, graph_walker, guarded, *args, **kwargs)


class _SSHClient(SSHGitClient):
    """dulwich's SSH client with the pack checked as it streams in."""

    def __init__(self, host: str, *, operation: Operation, **kwargs: Any) -> None:
        super().__init__(host, vendor=_WatchedSSHVendor(operation), **kwargs)
        self._operation = operation

    def fetch_pack(
        self, path: Any, determine_wants: Any, graph_walker: Any, pack_data: Any, *args: Any,
        **kwargs: Any,
    ) -> FetchPackResult:  # fmt: skip
        guarded = self._operation.guard_pack(pack_data)
        return super().fetch_pack(path, determine_wants, graph_walker, guarded, *args, **kwargs)


class _WatchedSSHVendor(SubprocessSSHVendor):
    """Runs ssh as dulwich does; the process is killed when the deadline passes."""

    def __init__(self, operation: Operation) -> None:
        self._operation = operation

    def run_command(self, *args: Any, **kwargs: Any) -> SubprocessWrapper:
        connection = super().run_command(*args, **kwargs)
        self._operation.on_expiry(connection.proc.kill)
        connection.read = self._operation.reading(connection.read)
        return connection


class _WatchedPoolManager(urllib3.PoolManager):
    """A PoolManager whose connections are shut down when the deadline passes.

    urllib3's read timeout applies to each read, so a server sending a byte every
    few seconds would hold a thread forever; shutting the socket down from the
    watchdog wakes the blocked read at once.
    """

    def __init__(self, operation: Operation, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._operation = operation

    def _new_pool(self, *args: Any, **kwargs: Any) -> Any:
        pool = super()._new_pool(*args, **kwargs)
        pool.ConnectionCls = _watched(pool.ConnectionCls, self._operation)
        return pool


class _WatchedProxyManager(urllib3.ProxyManager):
    """The same, through an HTTP proxy: plain HTTP forwarded, HTTPS tunnelled (CONNECT)."""

    def __init__(self, operation: Operation, proxy_url: str, **kwargs: Any) -> None:
        super().__init__(proxy_url, **kwargs)
        self._operation = operation

    def _new_pool(self, *args: Any, **kwargs: Any) -> Any:
        pool = super()._new_pool(*args, **kwargs)
        pool.ConnectionCls = _watched(pool.ConnectionCls, self._operation)
        return pool


def _watched(base: Any, operation: Operation) -> Any:
    class Watched(base):  # type: ignore[misc]
        def connect(self) -> None:
            operation.on_expiry(self._cut)
            super().connect()

        def _cut(self) -> None:
            sock = self.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    return Watched


class Remote:
    """One Git remote with its credentials; use as a context manager (holds temp files)."""

    def __init__(self, url: str, auth: GitAuth, timeout: float) -> None:
        self.url = url
        self.display_url = redact_url(url)
        self.auth = auth
        self.timeout = timeout
        self._tmp: Path | None = None
        self.client: GitClient
        self.path: str
        self.operation: Operation

    def __enter__(self) -> Remote:
        # The deadline starts here and covers everything done with this remote.
        self.operation = Operation(self.timeout)
        self._tmp = Path(tempfile.mkdtemp(prefix="eddy-git-auth-"))
        try:
            self.client, self.path = self._open(self._tmp)
        except BaseException:
            self.operation.finish()
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.operation.finish()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def check(self) -> None:
        """Raise the timeout GitError when the deadline has passed (for work between reads)."""
        try:
            self.operation.check()
        except Expired:
            raise git_failed(f"working on {self.display_url} {timed_out(self.timeout)}") from None

    def _open(self, tmp: Path) -> tuple[GitClient, str]:
        client: GitClient
        parts = urlsplit(self.url)
        auth = self.auth
        if parts.scheme == "ssh":
            key = tmp / "identity"
            identity = auth.identity or b""
            key.write_bytes(identity if identity.endswith(b"\n") else identity + b"\n")
            key.chmod(stat.S_IRUSR | stat.S_IWUSR)
            known = tmp / "known_hosts"
            known.write_bytes(auth.known_hosts or b"")
            seconds = max(1, int(self.timeout))
            # Only the Secret's known_hosts is trusted: an unknown or changed host
            # key ends the connection before any credential is offered.
            argv = [
                "ssh", "-F", "none", "-i", str(key),
                "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey",
                "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
                "-o", "NumberOfPasswordPrompts=1",
                "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={known}",
                "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", f"ConnectTimeout={seconds}",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=2",
            ]  # fmt: skip
            if auth.passphrase:
                argv = [*_askpass(tmp, auth.passphrase), *argv]
            else:
                argv[1:1] = ["-o", "BatchMode=yes"]
            command = shlex.join(argv)
            client = _SSHClient(
                parts.hostname or "",
                operation=self.operation,
                port=parts.port,
                username=parts.username or auth.username or "git",
                ssh_command=command,
            )
            return client, parts.path
        context = tls_context(auth.ca_cert) if parts.scheme == "https" else None
        options: dict[str, Any] = {
            "ssl_context": context,
            "timeout": urllib3.Timeout(connect=self.timeout, read=self.timeout),
            "retries": urllib3.Retry(total=None, connect=0, read=0, redirect=3, status=0, other=0),
        }
        pool: urllib3.PoolManager
        if auth.proxy_url:
            basic = f"{auth.proxy_username or ''}:{auth.proxy_password or ''}"
            headers = (
                urllib3.make_headers(proxy_basic_auth=basic)
                if auth.proxy_username or auth.proxy_password
                else None
            )
            pool = _WatchedProxyManager(
                self.operation, auth.proxy_url, proxy_headers=headers, **options
            )
        else:
            pool = _WatchedPoolManager(self.operation, **options)
        username, password = auth.username, auth.password
        if auth.bearer_token:
            username = password = None
        elif username is None and password is None and parts.username is not None:
            # As git does: credentials written into the URL, when the Secret has none.
            username, password = unquote(parts.username), unquote(parts.password or "")
        # Credentials never travel in the base URL, where dulwich might show them.
        base = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "/", "", ""))
        client = _HTTPClient(
            base,
            bearer_token=auth.bearer_token,
            operation=self.operation,
            pool_manager=pool,
            username=username,
            password=password,
            timeout=self.timeout,
        )
        return client, parts.path

    @contextmanager
    def _errors(self, doing: str, denied: str = "") -> Iterator[None]:
        where = self.display_url
        try:
            yield
        except Expired:
            raise git_failed(f"{doing} {where}: {timed_out(self.timeout)}") from None
        except (GitError, Diverged):
            raise
        except Exception as err:
            # A connection cut by the deadline fails in whatever way it was reading.
            if self.operation.expired:
                raise git_failed(f"{doing} {where}: {timed_out(self.timeout)}") from err
            failure = self._failure(err, f"{doing} {where}", denied)
            if failure is None:
                raise
            raise failure from err

    def _failure(self, err: Exception, doing: str, denied: str) -> GitError | None:
        """The GitError that says what `err` means for the user, if it is a known kind."""
        if isinstance(err, HTTPUnauthorized):
            return CredentialsRefused(
                Reason.GIT_OPERATION_FAILED,
                f"{doing}: authentication failed (HTTP 401); check the username and "
                "password or bearerToken in spec.secretRef",
            )
        if isinstance(err, NotGitRepository):
            return git_failed(f"{doing}: repository not found (HTTP 404)")
        if isinstance(err, HangupException):
            text = str(err).strip()
            if "Host key verification failed" in text or "host key" in text.lower():
                hint = "the server's host key is not in known_hosts of spec.secretRef"
            elif "Permission denied" in text:
                hint = "the server refused the SSH identity in spec.secretRef"
            else:
                hint = text or "the server closed the connection"
            return git_failed(f"{doing}: {hint}")
        if isinstance(err, urllib3.exceptions.HTTPError | GitProtocolError | OSError):
            detail = _explain(err, self.timeout)
            if denied and "403" in detail:
                detail = f"access denied (HTTP 403); {denied}"
            return git_failed(f"{doing}: {detail}")
        return None

    def refs(self) -> dict[str, str]:
        """Every ref the remote advertises (name -> hex sha); peeled tags end in ^{}."""
        with self._errors("cannot list refs of"):
            result = self.client.get_refs(self.path.encode())
        out: dict[str, str] = {}
        for name, sha in result.refs.items():
            if sha is not None:
                out[name.decode(errors="surrogateescape")] = sha.decode()
        return out

    def fetch(
        self,
        repo: BaseRepo,
        wants: Sequence[str] | Callable[[Mapping[str, str]], Sequence[str]],
        depth: int | None,
    ) -> None:
        """Fetch the wanted commits into repo, `depth` deep (None: all history).

        `wants` are hex shas, or a function choosing them from the refs the fetch
        itself advertises, which saves listing them first.
        """

        def determine_wants(
            refs: Mapping[Ref, ObjectID], depth: int | None = None
        ) -> list[ObjectID]:
            chosen = wants
            if callable(chosen):
                names = {k.decode(errors="surrogateescape"): v.decode() for k, v in refs.items()}
                chosen = chosen(names)
            return [ObjectID(w.encode()) for w in chosen]

        with self._errors("cannot fetch from"):
            self.client.fetch(self.path.encode(), repo, determine_wants, depth=depth)

    def push(
        self,
        repo: BaseRepo,
        ref: str,
        commit: str,
        expected: Sequence[str],
        options: Sequence[str] = (),
    ) -> None:
        """Point the remote's `ref` at `commit`, sending what it lacks from repo.

        Raises Diverged when the ref is no longer one of `expected` (moved since it
        was fetched) or the server calls the push not a fast-forward: pushing
        anyway would drop the commits that came in meanwhile.
        """
        target = Ref(ref.encode())
        allowed = {ObjectID(sha.encode()) for sha in expected}

        def update_refs(remote: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
            current = remote.get(target)
            if current is not None and current not in allowed:
                raise Diverged()
            return {target: ObjectID(commit.encode())}

        with self._errors("cannot push to", denied="the credentials may not allow pushing"):
            sent = self.client.send_pack(
                self.path.encode(),
                update_refs,
                repo.generate_pack_data,  # type: ignore[arg-type]
                push_options=[o.encode() for o in options] or None,
            )
        for name, error in (sent.ref_status or {}).items():
            if error is None:
                continue
            if "fast-forward" in error or "fetch first" in error:
                raise Diverged()
            raise git_failed(f"the server rejected the push to {name.decode()}: {error}")
