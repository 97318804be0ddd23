"""Real Git servers for tests: smart HTTP through git-http-backend, and OpenSSH.

The source- and image-automation-controllers must be tested against the protocols
they meet in production (auth, TLS, host keys), so nothing here imitates git.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import gzip
import hmac
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

from eddy_testenv import certs
from eddy_testenv.controlplane import free_port
from eddy_testenv.process import Process, ProcessError, Service, check_credentials

DEFAULT_BRANCH = "main"
_PASSWORD_ENV = "EDDY_GITSERVER_PASSWORD"
_TOKEN_ENV = "EDDY_GITSERVER_BEARER_TOKEN"
# Logged once per upload-pack request that sends objects (not for ref listings).
_FETCH_MARK = "fetch"
_GIT_TIMEOUT = 60.0
_START_TIMEOUT = 20.0

# Helpers must not pick up the developer's git configuration, hooks or identity.
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "eddy test",
    "GIT_AUTHOR_EMAIL": "test@eddy.invalid",
    "GIT_COMMITTER_NAME": "eddy test",
    "GIT_COMMITTER_EMAIL": "test@eddy.invalid",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(
    *args: str,
    cwd: Path | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run the git CLI with a clean configuration; its stdout, or an error quoting stderr."""
    full_env = {**os.environ, **_GIT_ENV, **(env or {})}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            env=full_env,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as err:
        raise ProcessError("git is not installed (install the 'git' package)") from err
    if done.returncode != 0:
        raise ProcessError(
            f"git {' '.join(args)} failed ({done.returncode}): "
            f"{done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout.decode(errors="replace")


@dataclass(frozen=True)
class CommitInfo:
    """A commit as a test reads it back: who, what, and which files changed."""

    sha: str
    message: str
    author_name: str
    author_email: str
    parents: tuple[str, ...]
    files: tuple[str, ...]


FileContent = str | bytes | None


class GitRepos:
    """Bare repositories under one root, with helpers to write and read them.

    Commits are written with git plumbing straight into the bare repository (no
    working copy), so a test sets up history in a few milliseconds.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / f"{name}.git"

    def create(
        self,
        name: str,
        files: Mapping[str, FileContent] | None = None,
        *,
        branch: str = DEFAULT_BRANCH,
        message: str = "initial commit",
    ) -> Path:
        """A new bare repository; with files, its first commit on `branch`."""
        path = self.path(name)
        if path.exists():
            raise ProcessError(f"repository {name} already exists at {path}")
        git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(path))
        # Lets anonymous pushes through git-http-backend when no auth is set up.
        git("config", "http.receivepack", "true", cwd=path)
        if files:
            self.commit(name, files, branch=branch, message=message)
        return path

    def commit(
        self,
        name: str,
        files: Mapping[str, FileContent],
        *,
        branch: str = DEFAULT_BRANCH,
        message: str = "update",
        executable: frozenset[str] = frozenset(),
    ) -> str:
        """Commit files (path -> content; None deletes) on top of `branch`; the new sha."""
        repo = self.path(name)
        parent = self.resolve(name, branch)
        with tempfile.TemporaryDirectory(prefix="eddy-git-index-") as tmp:
            # A private index file: the bare repository has none, and parallel
            # commits must not share one.
            index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent:
                git("read-tree", parent, cwd=repo, env=index)
            # --index-info works without a working tree; mode 0 removes a path.
            lines = []
            for rel, content in files.items():
                if content is None:
                    lines.append(f"0 {'0' * 40}\t{rel}\n")
                    continue
                data = content.encode() if isinstance(content, str) else content
                blob = git("hash-object", "-w", "--stdin", cwd=repo, input=data).strip()
                mode = "100755" if rel in executable else "100644"
                lines.append(f"{mode} {blob}\t{rel}\n")
            info = "".join(lines).encode()
            git("update-index", "--index-info", cwd=repo, input=info, env=index)
            tree = git("write-tree", cwd=repo, env=index).strip()
        parent_args = ["-p", parent] if parent else []
        sha = git("commit-tree", tree, *parent_args, cwd=repo, input=message.encode()).strip()
        old = parent or "0" * 40
        git("update-ref", f"refs/heads/{branch}", sha, old, cwd=repo)
        return sha

    def create_branch(self, name: str, branch: str, start: str = DEFAULT_BRANCH) -> str:
        sha = self.rev_parse(name, start)
        git("update-ref", f"refs/heads/{branch}", sha, "0" * 40, cwd=self.path(name))
        return sha

    def create_tag(
        self, name: str, tag: str, ref: str = DEFAULT_BRANCH, *, message: str | None = None
    ) -> str:
        """A lightweight tag, or an annotated one when message is given; the commit sha."""
        sha = self.rev_parse(name, ref)
        args = ["tag", "-a", "-m", message, tag, sha] if message else ["tag", tag, sha]
        git(*args, cwd=self.path(name))
        return sha

    def resolve(self, name: str, ref: str) -> str | None:
        """The commit sha of ref, or None when it does not exist (yet)."""
        try:
            return self.rev_parse(name, ref)
        except ProcessError:
            return None

    def rev_parse(self, name: str, ref: str) -> str:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=self.path(name))[
            :40
        ]

    def read_file(self, name: str, path: str, ref: str = DEFAULT_BRANCH) -> bytes:
        repo = self.path(name)
        out = subprocess.run(
            ["git", "show", f"{ref}:{path}"],
            cwd=repo,
            capture_output=True,
            env={**os.environ, **_GIT_ENV},
            timeout=_GIT_TIMEOUT,
            check=False,
        )
        if out.returncode != 0:
            raise ProcessError(f"{path} not found at {ref} in {name}: {out.stderr.decode()}")
        return out.stdout

    def log(self, name: str, ref: str = DEFAULT_BRANCH, limit: int = 20) -> list[CommitInfo]:
        """The newest commits on ref, newest first, with the files each one touched."""
        sep, end = "\x1f", "\x1e"
        out = git(
            "log",
            f"--max-count={limit}",
            f"--format={end}%H{sep}%P{sep}%an{sep}%ae{sep}%B{sep}",
            "--name-only",
            ref,
            "--",
            cwd=self.path(name),
        )
        commits = []
        for record in out.split(end)[1:]:
            sha, parents, author, email, body, names = record.split(sep)
            commits.append(
                CommitInfo(
                    sha=sha,
                    message=body.strip(),
                    author_name=author,
                    author_email=email,
                    parents=tuple(parents.split()),
                    files=tuple(n for n in names.splitlines() if n),
                )
            )
        return commits

    def set_push_webhook(self, name: str, url: str | None, secret: str = "") -> None:
        """After each push, POST GitHub's push event (signed with `secret`) to `url`,
        as a forge does from its post-receive hook; None removes the hook."""
        hook = self.path(name) / "hooks" / "post-receive"
        if url is None:
            hook.unlink(missing_ok=True)
            return
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(_PUSH_HOOK.format(python=sys.executable, secret=secret, url=url))
        hook.chmod(0o755)

    def branches(self, name: str) -> dict[str, str]:
        out = git(
            "for-each-ref",
            "--format=%(refname:short) %(objectname)",
            "refs/heads",
            cwd=self.path(name),
        )
        return dict(line.split(" ", 1) for line in out.splitlines() if line)


# GitHub's push webhook: X-GitHub-Event and the HMAC-SHA256 of the body.
_PUSH_HOOK = """#!{python}
import hashlib, hmac, json, sys, urllib.request
for line in sys.stdin:
    old, new, ref = line.split()
    body = json.dumps({{"ref": ref, "before": old, "after": new}}).encode()
    sig = "sha256=" + hmac.new({secret!r}.encode(), body, hashlib.sha256).hexdigest()
    headers = {{"Content-Type": "application/json", "X-GitHub-Event": "push",
               "X-Hub-Signature-256": sig}}
    request = urllib.request.Request({url!r}, data=body, headers=headers)
    urllib.request.urlopen(request, timeout=10).read()
"""


@dataclass(frozen=True)
class GitRepo:
    """One repository of a GitRepos, so a test can write `repo.commit({...})`."""

    repos: GitRepos
    name: str

    @property
    def path(self) -> Path:
        return self.repos.path(self.name)

    def commit(
        self,
        files: Mapping[str, FileContent],
        *,
        branch: str = DEFAULT_BRANCH,
        message: str = "update",
        executable: frozenset[str] = frozenset(),
    ) -> str:
        return self.repos.commit(
            self.name, files, branch=branch, message=message, executable=executable
        )

    def create_branch(self, branch: str, start: str = DEFAULT_BRANCH) -> str:
        return self.repos.create_branch(self.name, branch, start)

    def create_tag(self, tag: str, ref: str = DEFAULT_BRANCH, *, message: str | None = None) -> str:
        return self.repos.create_tag(self.name, tag, ref, message=message)

    def head(self, branch: str = DEFAULT_BRANCH) -> str | None:
        return self.repos.resolve(self.name, branch)

    def log(self, ref: str = DEFAULT_BRANCH, limit: int = 20) -> list[CommitInfo]:
        return self.repos.log(self.name, ref, limit)

    def read_file(self, path: str, ref: str = DEFAULT_BRANCH) -> bytes:
        return self.repos.read_file(self.name, path, ref)

    def branches(self) -> dict[str, str]:
        return self.repos.branches(self.name)


@dataclass(frozen=True)
class TLSFiles:
    """A throwaway CA and a serving pair for 127.0.0.1 and localhost."""

    ca_cert: Path
    cert: Path
    key: Path

    @classmethod
    def generate(cls, directory: Path) -> TLSFiles:
        files = certs.generate(directory)
        return cls(files.ca_cert, files.serving_cert, files.serving_key)


def basic_auth_ok(header: str | None, username: str, password: str) -> bool:
    """Whether an Authorization header carries exactly these credentials."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return False
    user, _, secret = decoded.partition(":")
    return hmac.compare_digest(user, username) and hmac.compare_digest(secret, password)


def bearer_auth_ok(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries exactly this bearer token."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


def server_ssl_context(tls: TLSFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert, tls.key)
    return context


class GitHTTPServer(Service):
    """`git http-backend` behind an HTTP server in a child process, on loopback.

    Optional basic auth and/or a bearer token (checked on every request, fetch and
    push; with both, either is accepted) and optional TLS with a generated CA whose
    certificate is at `ca_file`.
    """

    def __init__(
        self,
        repos: GitRepos,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        workdir: Path | None = None,
        bearer_token: str | None = None,
    ) -> None:
        check_credentials(username, password)
        if bearer_token == "":
            raise ValueError("an empty bearer token would let anyone in")
        self.repos = repos
        self.username = username
        self.password = password
        self.bearer_token = bearer_token
        self.use_workdir(workdir, "eddy-githttp-")
        self.port = free_port()
        self.tls = TLSFiles.generate(self.workdir / "tls") if tls else None
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._process: Process | None = None

    @property
    def ca_file(self) -> Path | None:
        return self.tls.ca_cert if self.tls else None

    def repo_url(self, name: str, *, credentials: bool = False) -> str:
        """The clone URL of a repository; with credentials embedded when asked."""
        if credentials and self.username is not None and self.password is not None:
            parts = urlsplit(self.url)
            auth = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"
            return f"{parts.scheme}://{auth}@{parts.netloc}/{name}.git"
        return f"{self.url}/{name}.git"

    def fetches(self, name: str) -> int:
        """How many fetches (not ref listings) of repository `name` the server answered.

        Lets a test prove that a client did not download anything, which neither
        status nor the stored artifact can show.
        """
        log = self.workdir / "git-http.log"
        if not log.exists():
            return 0
        mark = f"{_FETCH_MARK} /{name}.git/"
        return sum(1 for line in log.read_text(errors="replace").splitlines() if line == mark)

    def start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "eddy_testenv.gitserver",
            "--root",
            str(self.repos.root),
            "--port",
            str(self.port),
        ]
        env = dict(os.environ)
        if self.username is not None and self.password is not None:
            argv += ["--username", self.username]
            env[_PASSWORD_ENV] = self.password
        if self.bearer_token is not None:
            # In the environment, not argv: other processes can read command lines.
            argv += ["--bearer-token-from-env"]
            env[_TOKEN_ENV] = self.bearer_token
        if self.tls:
            argv += ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        self._process = Process("git-http-server", argv, self.workdir / "git-http.log")
        self._process.start(env=env)
        self._process.wait_listening(self.port, _START_TIMEOUT)

    def stop(self) -> None:
        if self._process:
            self._process.stop()
        self.remove_workdir()


@dataclass(frozen=True)
class SSHKeyPair:
    """An OpenSSH key pair as a Flux Secret holds it (`identity`, `identity.pub`)."""

    private_key: Path
    public_key: Path
    passphrase: str | None = None

    @property
    def identity(self) -> bytes:
        return self.private_key.read_bytes()

    @property
    def identity_pub(self) -> bytes:
        return self.public_key.read_bytes()


def ssh_keygen(path: Path, *, passphrase: str = "", comment: str = "eddy-test") -> SSHKeyPair:
    """A new ed25519 key pair in OpenSSH format, encrypted when a passphrase is given."""
    try:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", str(path)],
            check=True,
            capture_output=True,
            timeout=_GIT_TIMEOUT,
        )
    except FileNotFoundError as err:
        raise ProcessError("ssh-keygen not found (install the 'openssh-client' package)") from err
    except subprocess.CalledProcessError as err:
        raise ProcessError(f"ssh-keygen failed: {err.stderr.decode(errors='replace')}") from err
    return SSHKeyPair(path, path.with_name(path.name + ".pub"), passphrase or None)


# sshd insists on this directory when it runs as root (privilege separation);
# the distribution's service unit normally creates it at boot.
_PRIVSEP_DIR = Path("/run/sshd")


class GitSSHServer(Service):
    """OpenSSH's sshd on loopback serving the bare repositories of a GitRepos.

    Clients run the real git-upload-pack / git-receive-pack through a normal SSH
    session. sshd can only log in accounts that exist on the system, so the login
    user defaults to the account running the tests; repositories are addressed by
    their absolute path, as with any SSH git host without a forced command.
    """

    def __init__(
        self, repos: GitRepos, *, user: str | None = None, workdir: Path | None = None
    ) -> None:
        self.repos = repos
        self.user = user or getpass.getuser()
        self.use_workdir(workdir, "eddy-gitssh-")
        self.workdir.chmod(0o700)
        self.port = free_port()
        self._process: Process | None = None
        self.host_key = ssh_keygen(self.workdir / "ssh_host_ed25519_key", comment="eddy-host")
        self.client_key = ssh_keygen(self.workdir / "id_ed25519")
        self.encrypted_client_key = ssh_keygen(
            self.workdir / "id_ed25519_encrypted", passphrase="correct horse battery staple"
        )
        self.authorized_keys = self.workdir / "authorized_keys"
        self.authorized_keys.write_bytes(
            self.client_key.identity_pub + self.encrypted_client_key.identity_pub
        )
        self.authorized_keys.chmod(0o600)
        host_pub = self.host_key.identity_pub.decode().split()
        # Non-default ports are written "[host]:port" in known_hosts.
        self.known_hosts_line = f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}"
        self.known_hosts = self.workdir / "known_hosts"
        self.known_hosts.write_text(self.known_hosts_line + "\n")

    def repo_url(self, name: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.repos.path(name)}"

    def ssh_command(self, key: SSHKeyPair | None = None, known_hosts: Path | None = None) -> str:
        """A GIT_SSH_COMMAND that trusts only this server's host key."""
        identity = (key or self.client_key).private_key
        return (
            f"ssh -F none -i {identity} -o IdentitiesOnly=yes -o BatchMode=yes "
            f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts or self.known_hosts} "
            "-o GlobalKnownHostsFile=/dev/null"
        )

    def _config(self) -> Path:
        config = self.workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key.private_key}",
                    f"PidFile {self.workdir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    f"AllowUsers {self.user}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    # No PAM: a test sshd must not consult the machine's login stack.
                    "UsePAM no",
                    # The temporary files are ours; ownership checks add nothing.
                    "StrictModes no",
                    "PrintMotd no",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        return config

    def start(self) -> None:
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.access(sshd, os.X_OK):
            raise ProcessError("sshd not found; install the 'openssh-server' package")
        if os.geteuid() == 0 and not _PRIVSEP_DIR.is_dir():
            _PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        # sshd re-executes itself and so must be started by its absolute path.
        argv = [os.path.realpath(sshd), "-D", "-e", "-f", str(self._config())]
        self._process = Process("sshd", argv, self.workdir / "sshd.log")
        self._process.start()
        self._process.wait_listening(self.port, _START_TIMEOUT)

    def stop(self) -> None:
        if self._process:
            self._process.stop()
        self.remove_workdir()


# -- the HTTP server program (runs in the child process) ---------------------


class _GitHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 with a Content-Length on every response: clients keep the
    # connection, and over TLS no response relies on the connection closing.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: with Nagle on, the body waits for
    # the client's delayed ACK (40 ms on Linux) on every kept-alive response.
    disable_nagle_algorithm = True
    server: _GitHTTPD

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _authorized(self) -> bool:
        username, password = self.server.username, self.server.password
        token = self.server.bearer_token
        basic = username is not None and password is not None
        if not basic and token is None:
            return True
        header = self.headers.get("Authorization")
        if basic and basic_auth_ok(header, username or "", password or ""):
            return True
        if token is not None and bearer_auth_ok(header, token):
            return True
        body = b"authentication required\n"
        self.send_response(401)
        if basic:
            self.send_header("WWW-Authenticate", 'Basic realm="eddy-git"')
        if token is not None:
            self.send_header("WWW-Authenticate", 'Bearer realm="eddy-git"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return False

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        # Read the body first, so a refused request leaves the kept-alive
        # connection clean for the next one.
        body = self._body() if self.command == "POST" else b""
        if not self._authorized():
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        if self.server.username or self.server.bearer_token:
            # http-backend refuses pushes from anonymous users unless told otherwise.
            env["REMOTE_USER"] = self.server.username or "token"
        for key in ("Git-Protocol", "Content-Encoding", "Accept"):
            value = self.headers.get(key)
            if value:
                env["HTTP_" + key.upper().replace("-", "_")] = value
        # No preexec_fn: it forces a full fork of this threaded server (and runs
        # Python in the child) on every request, and the backend needs no guard —
        # it reads its request from our pipe and exits on EOF if we die.
        done = subprocess.run(
            [self.server.backend],
            input=body,
            capture_output=True,
            env=env,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
        if done.stderr:
            sys.stderr.write(done.stderr.decode(errors="replace"))
        encoding = self.headers.get("Content-Encoding", "")
        if path.endswith("/git-upload-pack") and _is_fetch(body, encoding):
            sys.stderr.write(f"{_FETCH_MARK} {path.removesuffix('git-upload-pack')}\n")
        head, found, payload = done.stdout.partition(b"\r\n\r\n")
        if not found:
            head, _, payload = done.stdout.partition(b"\n\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key.strip(), value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _is_fetch(body: bytes, content_encoding: str) -> bool:
    """Whether an upload-pack request asks for objects: v2 `command=fetch`, v0 `want`."""
    if content_encoding.lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return False
    # The first pkt-line: 4 hex digits of length, then the command or first want.
    return body[4:17] == b"command=fetch" or body[4:9] == b"want "


class _GitHTTPD(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        port: int,
        root: Path,
        username: str | None,
        password: str | None,
        context: ssl.SSLContext | None,
        bearer_token: str | None = None,
    ) -> None:
        self.root = root
        self.username = username
        self.password = password
        self.bearer_token = bearer_token
        self.backend = str(Path(git("--exec-path").strip()) / "git-http-backend")
        super().__init__(("127.0.0.1", port), _GitHandler)
        if context is not None:
            # The handshake runs in the request thread, so one stuck client
            # cannot block accept().
            self.socket = context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="git smart HTTP server for eddy's tests")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username")
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument("--bearer-token-from-env", action="store_true")
    args = parser.parse_args(argv)
    password = os.environ.get(_PASSWORD_ENV) if args.username else None
    token = os.environ.get(_TOKEN_ENV) if args.bearer_token_from_env else None
    if args.bearer_token_from_env and not token:
        parser.error(f"--bearer-token-from-env needs {_TOKEN_ENV} set")
    context = None
    if args.tls_cert and args.tls_key:
        context = server_ssl_context(TLSFiles(args.tls_cert, args.tls_cert, args.tls_key))
    httpd = _GitHTTPD(args.port, args.root, args.username, password, context, token)
    sys.stderr.write(f"serving {args.root} on port {args.port}\n")
    sys.stderr.flush()
    httpd.serve_forever()


if __name__ == "__main__":
    main()
