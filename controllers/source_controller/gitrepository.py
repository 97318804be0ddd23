"""The GitRepository reconciler: a Git ref becomes a tar.gz artifact in storage.

Steps, in order: check the stored artifact, resolve includes, ask the remote where
the ref points (and stop there when nothing changed), check out, then build the
artifact with ignore rules and included artifacts copied in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from eddy_api.common import INCLUDE_UNAVAILABLE, SOURCE_VERIFIED, Reason
from eddy_artifacts.errors import ArtifactError
from eddy_artifacts.extract import extract_archive
from eddy_artifacts.ignore import source_ignore_rules
from eddy_git import CommitDetails
from eddy_git.verify import VerificationError, verify_commit
from eddy_runtime import (
    Controller,
    Manager,
    Obj,
    Step,
    Watch,
    conditions,
    logs,
    ref_key,
    tracing,
)
from eddy_runtime.predicates import artifact_changed

from . import git
from .failures import SourceError, invalid_spec, storage_failed
from .kinds import GIT_REPOSITORIES
from .reconcile import SourceAttempt, SourceReconciler, duration_of
from .secrets import read_proxy, read_secret
from .storage import Storage

INCLUDE_INDEX = "include"
# spec.verify.mode values: the checked-out commit, the tag, or both.
VERIFIED_MODES = ("HEAD", "head", "Tag", "TagAndHEAD")
# Flux's reason when the commit's signature does not verify.
INVALID_COMMIT_SIGNATURE = "InvalidCommitSignature"
INVALID_TAG_SIGNATURE = "InvalidTagSignature"
# Flux's reason when an included artifact cannot be copied into the tree.
COPY_FAILED = "CopyFailed"


class GitRepositoryAttempt(SourceAttempt):
    status_url = False  # GitRepository v1 has no status.url

    def __init__(self, reconciler: GitRepositoryReconciler, obj: Obj) -> None:
        super().__init__(reconciler, obj)
        self.url = str(self.spec.get("url", ""))
        self.includes: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.resolved: git.ResolvedRef | None = None
        self.commit: CommitDetails | None = None
        self.tree: Path | None = None

    def steps(self) -> Sequence[Step]:
        return [
            Step("storage", self.reconcile_storage, Reason.STORAGE_OPERATION_FAILED),
            Step("include", self.reconcile_include, INCLUDE_UNAVAILABLE),
            Step("source", self.reconcile_source, Reason.GIT_OPERATION_FAILED),
            Step("artifact", self.reconcile_artifact, Reason.ARCHIVE_OPERATION_FAILED),
        ]

    async def reconcile_include(self) -> None:
        """The artifacts of included GitRepositories, which must already have one."""
        for include in self.spec.get("include") or []:
            name = str((include.get("repository") or {}).get("name", ""))
            other = await self.manager.client.get_or_none(GIT_REPOSITORIES, name, self.namespace)
            artifact = ((other or {}).get("status") or {}).get("artifact")
            if not artifact or not self.storage.exists(artifact):
                raise SourceError(
                    INCLUDE_UNAVAILABLE,
                    f"included GitRepository '{self.namespace}/{name}' has no artifact yet"
                    + ("" if other else " (it does not exist)"),
                    condition=INCLUDE_UNAVAILABLE,
                )
            self.includes.append((include, artifact))

    def _refuse_unsupported(self) -> None:
        """Fields eddy accepts but cannot act on yet stop here, named, before any fetch."""
        provider = str(self.spec.get("provider") or "generic")
        if provider != "generic":
            raise invalid_spec(
                f"spec.provider '{provider}' is not supported by eddy; use 'generic' with "
                "credentials in spec.secretRef"
            )
        mode = str((self.spec.get("verify") or {}).get("mode") or "HEAD")
        if self.spec.get("verify") is not None and mode not in VERIFIED_MODES:
            raise invalid_spec(f"spec.verify.mode '{mode}' is not one of {VERIFIED_MODES}")
        if self.spec.get("proxySecretRef") is not None and not self.url.startswith(
            ("http://", "https://")
        ):
            raise invalid_spec(
                "spec.proxySecretRef works with http and https URLs only; remove it to "
                "reach the SSH server directly"
            )

    async def reconcile_source(self) -> None:
        """ls-remote, pick the commit; check out only when the artifact is outdated."""
        self._refuse_unsupported()
        timeout = duration_of(self.spec, "timeout", "60s")
        ref = self.spec.get("ref")
        secret = (self.spec.get("secretRef") or {}).get("name")
        auth = await git.auth_for(self.manager.client, self.namespace, self.url, secret)
        proxy_ref = (self.spec.get("proxySecretRef") or {}).get("name")
        if proxy_ref:
            proxy = await read_proxy(self.manager.client, self.namespace, str(proxy_ref))
            auth = dataclasses.replace(
                auth, proxy_url=proxy.address, proxy_username=proxy.username,
                proxy_password=proxy.password,
            )  # fmt: skip
        pinned = git.pinned_revision(ref)
        if pinned is not None and self._up_to_date(pinned):
            return
        choose: git.ResolvedRef | Callable[[Mapping[str, str]], git.ResolvedRef]
        if self.status.get("artifact") or pinned is not None:
            # ls-remote first: when the ref has not moved, nothing is fetched.
            refs = await git.list_refs(self.url, auth, timeout)
            choose = git.resolve(ref, refs)
            if self._up_to_date(choose.revision):
                return
        else:
            # Nothing to compare with: resolve the ref from the fetch's own
            # advertisement and save a round trip.
            def choose(refs: Mapping[str, str]) -> git.ResolvedRef:
                return git.resolve(ref, refs)

        self.tree = self.scratch / "tree"
        self.tree.mkdir()
        sparse = [str(p) for p in self.spec.get("sparseCheckout") or []]
        self.resolved, self.commit = await git.checkout(
            self.url, auth, timeout, choose, self.tree, sparse,
            bool(self.spec.get("recurseSubmodules")),
        )  # fmt: skip
        logs.set_revision(self.resolved.revision)
        await self._verify()

    async def _verify(self) -> None:
        """spec.verify: the checked-out commit is signed by a key of verify.secretRef."""
        verify = self.spec.get("verify")
        if verify is None:
            conditions.delete(self.status, SOURCE_VERIFIED)
            return
        assert self.resolved is not None and self.commit is not None
        secret = str((verify.get("secretRef") or {}).get("name", ""))
        keys = await read_secret(self.manager.client, self.namespace, secret)
        commit, details = self.resolved.commit, self.commit
        source = f"Secret '{self.namespace}/{secret}'"
        mode = str(verify.get("mode") or "HEAD")
        checks: list[tuple[str, str, bytes, bytes | None]] = []
        if mode in ("Tag", "TagAndHEAD"):
            what = f"tag '{details.tag}' (commit '{commit}')" if details.tag else "tag"
            checks.append((INVALID_TAG_SIGNATURE, what, details.tag_signed, details.tag_signature))
        if mode != "Tag":
            checks.append((INVALID_COMMIT_SIGNATURE, f"commit '{commit}'", details.signed,
                           details.signature))  # fmt: skip
        verified = []
        for reason, what, payload, signature in checks:
            try:
                if what == "tag":
                    raise VerificationError("spec.ref does not name an annotated tag")
                fingerprint = await verify_commit(payload, signature, keys, source)
            except VerificationError as err:
                message = f"signature verification of {what} failed: {err}"
                conditions.set_condition(
                    self.status, SOURCE_VERIFIED, conditions.FALSE, reason, message,
                    self.generation,
                )  # fmt: skip
                # SourceVerified=False says it; no new artifact, the last one stays.
                raise SourceError(reason, message) from err
            verified.append(f"\n\t- {what} with key '{fingerprint}'")
        conditions.set_condition(
            self.status, SOURCE_VERIFIED, conditions.TRUE, Reason.SUCCEEDED,
            "verified signature of" + "".join(verified), self.generation,
        )  # fmt: skip

    def _verified(self, revision: str) -> bool:
        """Whether spec.verify (if set) already holds for this revision and spec."""
        if self.spec.get("verify") is None:
            conditions.delete(self.status, SOURCE_VERIFIED)
            return True
        current = conditions.get(self.status, SOURCE_VERIFIED) or {}
        return (
            current.get("status") == conditions.TRUE
            and current.get("observedGeneration") == self.generation
            and revision.rpartition(":")[2] in str(current.get("message", ""))
        )

    def _up_to_date(self, revision: str) -> bool:
        """Same revision, same content settings, artifact on disk: nothing to build."""
        current = self.status.get("artifact")
        if not current or current.get("revision") != revision:
            return False
        if not self.storage.exists(current) or not self._verified(revision):
            return False
        observed = self.status
        same = (
            observed.get("observedIgnore") == self.spec.get("ignore")
            and (observed.get("observedInclude") or []) == (self.spec.get("include") or [])
            and (observed.get("observedSparseCheckout") or [])
            == (self.spec.get("sparseCheckout") or [])
            and bool(observed.get("observedRecurseSubmodules"))
            == bool(self.spec.get("recurseSubmodules"))
            and _revisions(observed.get("includedArtifacts") or [])
            == _revisions(a for _, a in self.includes)
        )
        if same:
            self.message = f"stored artifact for revision '{revision}'"
        return same

    async def reconcile_artifact(self) -> None:
        """Copy includes in, apply ignore rules, archive into storage."""
        if self.resolved is None or self.tree is None:
            return
        for include, artifact in self.includes:
            await self._copy_include(include, artifact)
        tree = self.tree
        rules = await asyncio.to_thread(source_ignore_rules, tree, self.spec.get("ignore"))
        rel = self.storage.path_for(
            GIT_REPOSITORIES.kind, self.namespace, self.name, f"{self.resolved.commit}.tar.gz"
        )
        self.artifact = await self.storage.archive(rel, tree, self.resolved.revision, rules.ignored)
        if self.commit is not None:
            # Who wrote this revision and why: the dashboard shows it in the history.
            self.artifact["metadata"] = self.commit.as_metadata()
        self.status["artifact"] = self.artifact
        self.status["observedIgnore"] = self.spec.get("ignore")
        self.status["observedInclude"] = self.spec.get("include")
        self.status["observedSparseCheckout"] = self.spec.get("sparseCheckout")
        self.status["observedRecurseSubmodules"] = self.spec.get("recurseSubmodules")
        self.status["includedArtifacts"] = [a for _, a in self.includes] or None
        for key in [k for k, v in self.status.items() if v is None]:
            del self.status[key]
        revision = self.resolved.revision
        self.message = f"stored artifact for revision '{revision}'"
        self.event_message = (
            f"stored artifact with revision '{revision}' from '{git.redact_url(self.url)}'"
        )

    async def _copy_include(self, include: dict[str, Any], artifact: dict[str, Any]) -> None:
        assert self.tree is not None
        name = str(include["repository"]["name"])
        from_path = _inside(str(include.get("fromPath") or ""), "fromPath")
        to_path = _inside(str(include.get("toPath") or name), "toPath")
        unpacked = self.scratch / f"include-{name}"
        archive = self.storage.absolute(str(artifact["path"]))
        try:
            await asyncio.to_thread(extract_archive, archive, unpacked)
        except (ArtifactError, OSError) as err:
            raise storage_failed(f"cannot read the artifact of include '{name}': {err}") from err
        source = unpacked / from_path if from_path else unpacked
        if not source.is_dir():
            raise invalid_spec(
                f"include '{name}': fromPath '{from_path}' is not a directory in its artifact"
            )
        dest = self.tree / to_path
        try:
            await asyncio.to_thread(shutil.copytree, source, dest, dirs_exist_ok=True)
        except OSError as err:
            # A file of the repository where the include wants a directory (or the
            # reverse; shutil.Error gathers those per file): a new commit or a spec
            # edit fixes it, so this is retried. The message names spec paths only,
            # never the scratch directory.
            clashes = FileExistsError | NotADirectoryError | IsADirectoryError | shutil.Error
            why = (
                "a file of the repository is in the way"
                if isinstance(err, clashes)
                else err.strerror or type(err).__name__
            )
            raise SourceError(
                COPY_FAILED,
                f"include '{name}': cannot copy into toPath '{to_path}': {why}",
                condition=INCLUDE_UNAVAILABLE,
            ) from err


def _inside(path: str, field: str) -> str:
    """A relative path that stays inside the tree, normalized; refuses `..` and `/x`."""
    clean = os.path.normpath(path.strip("/")) if path.strip("/") else ""
    if clean in (".",):
        return ""
    if path.startswith("/") or clean.startswith(".."):
        raise invalid_spec(f"include {field} '{path}' leaves the repository")
    return clean


def _revisions(artifacts: Iterable[dict[str, Any]]) -> list[str]:
    return [str(a.get("revision", "")) + str(a.get("digest", "")) for a in artifacts]


class GitRepositoryReconciler(SourceReconciler):
    resource = GIT_REPOSITORIES

    def attempt(self, obj: Obj) -> SourceAttempt:
        return GitRepositoryAttempt(self, obj)


def included_repositories(obj: Obj) -> list[str]:
    """Index: the GitRepositories this one includes, as ref_keys."""
    namespace = obj["metadata"]["namespace"]
    out = []
    for include in (obj.get("spec") or {}).get("include") or []:
        name = (include.get("repository") or {}).get("name")
        if name:
            out.append(ref_key("GitRepository", namespace, name))
    return out


def controller(manager: Manager, storage: Storage) -> Controller:
    return Controller(
        name="gitrepository",
        resource=GIT_REPOSITORIES,
        reconciler=GitRepositoryReconciler(manager, storage),
        watches=[Watch(GIT_REPOSITORIES, index=INCLUDE_INDEX, predicate=artifact_changed)],
        indexes={INCLUDE_INDEX: included_repositories},
        # A commit an image automation pushed: its fetch continues the automation's trace.
        trace_parent=tracing.parent_of_pushed,
    )
