"""The ImageUpdateAutomation reconciler: write the policies' images into Git and push.

Steps: find the GitRepository, read its credentials, gather the selected policies'
images, then fetch, rewrite, commit and push in a worker thread; one status patch.
"""

from __future__ import annotations

import logging
from typing import Any

import eddy_git
from eddy_api.common import Reason
from eddy_api.image import GitSpec, ImageUpdateAutomation, ImageUpdateAutomationSpec, PushSpec
from eddy_api.schema import unhonoured_in_use
from eddy_api.source import GitRepository, GitRepositoryRef
from eddy_git import Author, CredentialsRefused, GitAuth, GitError
from eddy_runtime import ApiError, Attempt, Manager, Result, Step, StepError, tracing
from eddy_runtime.conditions import SUCCEEDED, now_rfc3339
from eddy_runtime.finalizers import finalized
from eddy_runtime.informer import Informer
from eddy_runtime.reconciler import refuse_unsupported
from eddy_runtime.secrets import read_secret
from eddy_runtime.selectors import matches_label_selector

from . import git
from .imagepolicy import policy_key
from .message import commit_message
from .objects import GIT_REPOSITORIES, IMAGE_UPDATE_AUTOMATIONS, Obj, name_of, spec_of, status_of
from .reporting import Report, interval_of
from .setters import Change, Image
from .template import TemplateError, parse
from .traces import Handoffs

log = logging.getLogger("eddy.image")

INVALID_CONFIGURATION = "InvalidConfiguration"
SOURCE_NOT_FOUND = "SourceNotFound"
POLICY_NOT_FOUND = "PolicyNotFound"
DEFAULT_BRANCH = "master"


def source_ref(automation: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name) of the source; the namespace defaults to the automation's."""
    ref = spec_of(automation).get("sourceRef") or {}
    namespace, _ = name_of(automation)
    return (
        str(ref.get("kind") or "GitRepository"),
        str(ref.get("namespace") or namespace),
        str(ref.get("name") or ""),
    )


class ConfigError(StepError):
    """The spec cannot work as written; Stalled until it is edited."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=INVALID_CONFIGURATION, stalled=True)


def git_spec(automation: Obj) -> GitSpec:
    """spec.git as eddy_api types it."""
    return ImageUpdateAutomation.from_dict(automation).spec.git or GitSpec()


def checkout_of(automation: Obj, source: Obj) -> git.Checkout:
    """spec.git.checkout.ref, else the GitRepository's own ref."""
    checkout = git_spec(automation).checkout
    ref = checkout.ref if checkout is not None else GitRepository.from_dict(source).spec.ref
    ref = ref or GitRepositoryRef()
    if ref.commit or ref.semver or ref.name:
        raise ConfigError(
            "checking out a commit, semver or ref name is not supported yet; "
            "use spec.git.checkout.ref.branch (or tag)"
        )
    if ref.branch:
        return git.Checkout(branch=ref.branch)
    if ref.tag:
        return git.Checkout(tag=ref.tag)
    return git.Checkout(branch=DEFAULT_BRANCH)


def tracked_branch(source: Obj) -> str | None:
    """The branch whose head the GitRepository fetches; None when it follows no branch."""
    ref = GitRepository.from_dict(source).spec.ref or GitRepositoryRef()
    if ref.commit or ref.semver or ref.name or ref.tag:
        return None
    return ref.branch or DEFAULT_BRANCH


def push_ref_of(automation: Obj, checkout: git.Checkout) -> tuple[str, str]:
    """(full ref to push to, branch name to report)."""
    push = git_spec(automation).push or PushSpec()
    refspec = push.refspec or ""
    if refspec:
        _, sep, dst = refspec.lstrip("+").partition(":")
        if not sep or not dst.startswith("refs/heads/"):
            raise ConfigError(
                f"spec.git.push.refspec {refspec!r}: use the form '<src>:refs/heads/<branch>'"
            )
        return dst, dst.removeprefix("refs/heads/")
    branch = push.branch or checkout.branch
    if not branch:
        raise ConfigError("checking out a tag needs spec.git.push.branch to push to")
    return f"refs/heads/{branch}", branch


class ImageUpdateAutomationReconciler:
    def __init__(
        self,
        manager: Manager,
        sources: Informer,
        policies: Informer,
        handoffs: Handoffs,
        no_cross_namespace_refs: bool = False,
        requeue_dependency: float = 30.0,
    ) -> None:
        self.manager = manager
        self.sources = sources
        self.policies = policies
        self.handoffs = handoffs
        self.no_cross_namespace_refs = no_cross_namespace_refs
        self.requeue_dependency = requeue_dependency

    async def reconcile(self, obj: Obj) -> Result:
        return await finalized(self.manager.client, IMAGE_UPDATE_AUTOMATIONS, obj, self.update)

    async def update(self, obj: Obj) -> Result:
        return await ImageUpdateAutomationAttempt(self, obj).run()

    def trace_parent(self, obj: Obj) -> str | None:
        """A pass that writes a policy's new image continues the trace that chose it."""
        namespace, _ = name_of(obj)
        done = status_of(obj).get("observedPolicies") or {}
        _, observed = self.images(obj)
        for policy, ref in sorted(observed.items()):
            if done.get(policy) != ref:
                image = f"{ref.get('name')}:{ref.get('tag')}"
                parent = self.handoffs.parent(policy_key(namespace, policy), image)
                if parent:
                    return parent
        return None

    async def auth(self, source: Obj, url: str) -> GitAuth:
        """The credentials of the GitRepository's spec.secretRef, for its URL."""
        secret_name = (spec_of(source).get("secretRef") or {}).get("name")
        if not secret_name:
            return eddy_git.auth_without_secret(url)
        namespace, _ = name_of(source)
        data = await read_secret(self.manager.client, namespace, secret_name)
        if data is None:
            raise GitError(
                Reason.AUTHENTICATION_FAILED,
                f"secret '{namespace}/{secret_name}' "
                "named in the GitRepository's spec.secretRef not found",
            )
        return eddy_git.auth_from_data(url, data, f"{namespace}/{secret_name}")

    def images(self, obj: Obj) -> tuple[dict[tuple[str, str], Image], dict[str, Any]]:
        """The chosen image of each selected, resolved policy in the automation's namespace."""
        namespace, _ = name_of(obj)
        selector = spec_of(obj).get("policySelector")
        images: dict[tuple[str, str], Image] = {}
        observed: dict[str, Any] = {}
        for policy in self.policies.objects():
            policy_namespace, policy_name = name_of(policy)
            if policy_namespace != namespace:
                continue
            if not matches_label_selector(selector, _labels(policy)):
                continue
            ref = status_of(policy).get("latestRef") or {}
            if not ref.get("name") or not ref.get("tag"):
                continue
            image = Image(str(ref["name"]), str(ref["tag"]), str(ref.get("digest") or ""))
            images[(policy_namespace, policy_name)] = image
            observed[policy_name] = {k: v for k, v in ref.items() if k in ("name", "tag", "digest")}
        return images, observed


class ImageUpdateAutomationAttempt(Attempt):
    """One pass over one ImageUpdateAutomation: check, find the source, push, summarize."""

    def __init__(self, reconciler: ImageUpdateAutomationReconciler, obj: Obj) -> None:
        self.reconciler = reconciler
        self.obj = obj
        self.report = Report(reconciler.manager, IMAGE_UPDATE_AUTOMATIONS, obj)
        self.namespace, self.name = name_of(obj)
        self.spec = spec_of(obj)
        self.commit_spec: dict[str, Any] = (self.spec.get("git") or {}).get("commit") or {}
        self.template = self.commit_spec.get("messageTemplate")
        self.source: Obj = {}
        self.url = ""
        self.checkout = git.Checkout()
        self.push_ref = self.branch = ""
        self.auth: GitAuth | None = None
        self.pushed: git.UpdateResult | None = None
        self.observed: dict[str, Any] = {}

    def steps(self) -> list[Step]:
        return [
            Step("check spec", self.check_spec),
            Step("find source", self.find_source),
            Step("read credentials", self.read_credentials),
            Step("push", self.push),
        ]

    async def failed(self, err: StepError) -> Result:
        return await self.report.failed(err)

    async def check_spec(self) -> Result | None:
        refuse_unsupported(
            unhonoured_in_use(ImageUpdateAutomationSpec, self.spec),
            IMAGE_UPDATE_AUTOMATIONS.kind,
            reason=INVALID_CONFIGURATION,
        )
        kind, source_namespace, source_name = source_ref(self.obj)
        if kind != "GitRepository":
            raise ConfigError(f"spec.sourceRef.kind {kind} is not supported; use GitRepository")
        if self.reconciler.no_cross_namespace_refs and source_namespace != self.namespace:
            raise ConfigError(
                f"cannot use GitRepository '{source_namespace}/{source_name}': "
                "cross-namespace references are disabled"
            )
        if not (self.commit_spec.get("author") or {}).get("email"):
            raise ConfigError("spec.git.commit.author.email is required to write commits")
        if (self.spec.get("update") or {}).get("strategy", "Setters") != "Setters":
            raise ConfigError("only spec.update.strategy Setters is supported")
        path = str((self.spec.get("update") or {}).get("path") or "")
        if ".." in path.replace("\\", "/").split("/"):
            raise ConfigError(
                f"spec.update.path {path[:100]!r} climbs out of the repository with '..'; "
                "give a path inside it"
            )
        if self.template:
            try:
                parse(str(self.template))
            except TemplateError as err:
                raise ConfigError(f"spec.git.commit.messageTemplate: {err}") from None
        return None

    async def find_source(self) -> Result | None:
        _, source_namespace, source_name = source_ref(self.obj)
        source = self.reconciler.sources.get(source_name, source_namespace) or (
            await self.reconciler.manager.client.get_or_none(
                GIT_REPOSITORIES, source_name, source_namespace
            )
        )
        if source is None:
            raise StepError(
                f"GitRepository '{source_namespace}/{source_name}' not found; create it or fix "
                "spec.sourceRef",
                reason=SOURCE_NOT_FOUND,
            )
        self.source = source
        self.checkout = checkout_of(self.obj, source)
        self.push_ref, self.branch = push_ref_of(self.obj, self.checkout)
        self.url = str(spec_of(source).get("url") or "")
        return None

    async def read_credentials(self) -> Result | None:
        try:
            self.auth = await self.reconciler.auth(self.source, self.url)
        except GitError as err:
            raise StepError(err.message, reason=err.reason) from None
        return None

    async def push(self) -> Result | None:
        assert self.auth is not None
        images, self.observed = self.reconciler.images(self.obj)
        author = self.commit_spec.get("author") or {}
        values = self.commit_spec.get("messageTemplateValues") or {}
        template, namespace, name = self.template, self.namespace, self.name

        def message(changes: list[Change]) -> str:
            return commit_message(template, namespace, name, changes, values)

        request = git.Update(
            url=self.url,
            auth=self.auth,
            checkout=self.checkout,
            push_ref=self.push_ref,
            path=str((self.spec.get("update") or {}).get("path") or ""),
            images=images,
            namespace=namespace,
            author=Author(str(author.get("name") or ""), str(author["email"])),
            message=message,
            timeout=min(interval_of(self.obj), 120.0),
            push_options=_push_options(self.obj),
        )
        try:
            self.pushed = await eddy_git.in_thread(
                None, f"updating {eddy_git.redact_url(self.url)}", lambda: git.update(request)
            )
        except CredentialsRefused as err:
            # The Git client calls it a failed Git operation, as the source-controller
            # reports it; for an automation it is the push credentials that are wrong.
            raise StepError(err.message, reason=Reason.AUTHENTICATION_FAILED) from None
        except GitError as err:
            raise StepError(err.message, reason=err.reason) from None
        except TemplateError as err:
            raise StepError(
                f"spec.git.commit.messageTemplate: {err}", reason=INVALID_CONFIGURATION
            ) from None
        return None

    async def succeeded(self) -> Result:
        assert self.pushed is not None
        report, outcome, branch, obj = self.report, self.pushed, self.branch, self.obj
        status = report.status
        now = now_rfc3339()
        status["lastAutomationRunTime"] = now
        status["observedPolicies"] = self.observed
        status["observedSourceRevision"] = f"{branch}@sha1:{outcome.head}"
        event = None
        if outcome.pushed:
            status["lastPushCommit"] = outcome.head
            status["lastPushTime"] = now
            event = f"pushed commit '{outcome.head[:7]}' to branch '{branch}'\n{outcome.message}"
            await self.hand_on_trace(outcome.head)
        missing = [
            (key, where)
            for key, where in sorted(outcome.unknown.items())
            if self.reconciler.policies.get(key[1], key[0]) is None
        ]
        if missing:
            (ns, policy), where = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            if event:
                await report.manager.events.normal(obj, SUCCEEDED, event)
            return await report.failed(
                StepError(
                    f"the marker at {where} names ImagePolicy '{ns}/{policy}', which does not "
                    f"exist{more}; create the policy or fix the marker",
                    reason=POLICY_NOT_FOUND,
                )
            )
        if outcome.pushed:
            message = f"pushed commit '{outcome.head[:7]}' to branch '{branch}'"
        else:
            message = f"repository up-to-date at {branch}@sha1:{outcome.head}"
        await report.ready(SUCCEEDED, message, event)
        return Result.after(interval_of(obj))

    async def hand_on_trace(self, commit: str) -> None:
        """Name the pushed commit and this pass's trace on the GitRepository that fetches it.

        Git has no place for it that Flux's tools ignore (a trailer would show in every
        log), and the source-controller reads only the object it reconciles: an
        annotation there, as Receivers leave `reconcile.fluxcd.io/requestedAt`, costs
        it no watch of automations, and Flux's clients ignore annotations they do not
        know. Only for a push to the branch the GitRepository follows: another branch's
        commit is never fetched. A trace is worth less than the push it describes, so
        a refusal is logged, not failed on.
        """
        if self.branch != tracked_branch(self.source):
            return
        annotation = tracing.commit_annotation(commit)
        if annotation is None:
            return
        namespace, name = name_of(self.source)
        patch = {"metadata": {"annotations": annotation}}
        try:
            await self.reconciler.manager.client.patch(GIT_REPOSITORIES, name, patch, namespace)
        except ApiError as err:
            log.warning(
                "cannot name the pushed commit's trace on GitRepository '%s/%s': %s",
                namespace, name, err,
            )  # fmt: skip


def _labels(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _push_options(automation: Obj) -> tuple[str, ...]:
    push = git_spec(automation).push
    options = (push.options if push is not None else None) or {}
    return tuple(f"{k}={v}" if v else str(k) for k, v in sorted(options.items()))
