"""The ImageUpdateAutomation reconciler: write the policies' images into Git and push.

Steps: find the GitRepository, read its credentials, gather the selected policies'
images, then fetch, rewrite, commit and push in a worker thread; one status patch.
"""

from __future__ import annotations

import base64
from typing import Any

import eddy_git
from eddy_api.common import Reason
from eddy_git import Author, CredentialsRefused, GitAuth, GitError
from eddy_runtime import Manager, Result
from eddy_runtime.conditions import SUCCEEDED, now_rfc3339
from eddy_runtime.informer import Informer
from eddy_runtime.resources import SECRETS

from . import git
from .message import commit_message
from .objects import GIT_REPOSITORIES, IMAGE_UPDATE_AUTOMATIONS, Obj, name_of, spec_of, status_of
from .reporting import Report, interval_of, retry_after
from .selectors import matches
from .setters import Change, Image
from .template import TemplateError, parse

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


class ConfigError(Exception):
    """The spec cannot work as written; Stalled until it is edited."""


def checkout_of(automation: Obj, source: Obj) -> git.Checkout:
    """spec.git.checkout.ref, else the GitRepository's own ref."""
    checkout = ((spec_of(automation).get("git") or {}).get("checkout") or {}).get("ref")
    ref = checkout if isinstance(checkout, dict) else (spec_of(source).get("ref") or {})
    if ref.get("commit") or ref.get("semver") or ref.get("name"):
        raise ConfigError(
            "checking out a commit, semver or ref name is not supported yet; "
            "use spec.git.checkout.ref.branch (or tag)"
        )
    if ref.get("branch"):
        return git.Checkout(branch=str(ref["branch"]))
    if ref.get("tag"):
        return git.Checkout(tag=str(ref["tag"]))
    return git.Checkout(branch=DEFAULT_BRANCH)


def push_ref_of(automation: Obj, checkout: git.Checkout) -> tuple[str, str]:
    """(full ref to push to, branch name to report)."""
    push = (spec_of(automation).get("git") or {}).get("push") or {}
    refspec = str(push.get("refspec") or "")
    if refspec:
        _, sep, dst = refspec.lstrip("+").partition(":")
        if not sep or not dst.startswith("refs/heads/"):
            raise ConfigError(
                f"spec.git.push.refspec {refspec!r}: use the form '<src>:refs/heads/<branch>'"
            )
        return dst, dst.removeprefix("refs/heads/")
    branch = str(push.get("branch") or checkout.branch)
    if not branch:
        raise ConfigError("checking out a tag needs spec.git.push.branch to push to")
    return f"refs/heads/{branch}", branch


class ImageUpdateAutomationReconciler:
    def __init__(
        self,
        manager: Manager,
        sources: Informer,
        policies: Informer,
        no_cross_namespace_refs: bool = False,
        requeue_dependency: float = 30.0,
    ) -> None:
        self.manager = manager
        self.sources = sources
        self.policies = policies
        self.no_cross_namespace_refs = no_cross_namespace_refs
        self.requeue_dependency = requeue_dependency

    async def reconcile(self, obj: Obj) -> Result:
        report = Report(self.manager, IMAGE_UPDATE_AUTOMATIONS, obj)
        namespace, name = name_of(obj)
        spec = spec_of(obj)
        commit_spec = (spec.get("git") or {}).get("commit") or {}
        template = commit_spec.get("messageTemplate")
        kind, source_namespace, source_name = source_ref(obj)
        try:
            if kind != "GitRepository":
                raise ConfigError(f"spec.sourceRef.kind {kind} is not supported; use GitRepository")
            if self.no_cross_namespace_refs and source_namespace != namespace:
                raise ConfigError(
                    f"cannot use GitRepository '{source_namespace}/{source_name}': "
                    "cross-namespace references are disabled"
                )
            if not (commit_spec.get("author") or {}).get("email"):
                raise ConfigError("spec.git.commit.author.email is required to write commits")
            if (spec.get("update") or {}).get("strategy", "Setters") != "Setters":
                raise ConfigError("only spec.update.strategy Setters is supported")
            if template:
                parse(str(template))
        except (ConfigError, TemplateError) as err:
            return await report.failed(INVALID_CONFIGURATION, str(err), None)
        source = self.sources.get(source_name, source_namespace) or (
            await self.manager.client.get_or_none(GIT_REPOSITORIES, source_name, source_namespace)
        )
        if source is None:
            return await report.failed(
                SOURCE_NOT_FOUND,
                f"GitRepository '{source_namespace}/{source_name}' not found; create it or fix "
                "spec.sourceRef",
                retry_after(obj),
            )
        try:
            checkout = checkout_of(obj, source)
            push_ref, branch = push_ref_of(obj, checkout)
        except ConfigError as err:
            return await report.failed(INVALID_CONFIGURATION, str(err), None)
        url = str(spec_of(source).get("url") or "")
        try:
            auth = await self.auth(source, url)
        except GitError as err:
            return await report.failed(err.reason, err.message, retry_after(obj))
        images, observed = self.images(obj)
        author = commit_spec.get("author") or {}
        values = commit_spec.get("messageTemplateValues") or {}

        def message(changes: list[Change]) -> str:
            return commit_message(template, namespace, name, changes, values)

        job = git.Job(
            url=url,
            auth=auth,
            checkout=checkout,
            push_ref=push_ref,
            path=str((spec.get("update") or {}).get("path") or ""),
            images=images,
            namespace=namespace,
            author=Author(str(author.get("name") or ""), str(author["email"])),
            message=message,
            timeout=min(interval_of(obj), 120.0),
            push_options=_push_options(spec),
        )
        try:
            outcome = await eddy_git.in_thread(
                None, f"updating {eddy_git.redact_url(url)}", lambda: git.update(job)
            )
        except CredentialsRefused as err:
            # The Git client calls it a failed Git operation, as the source-controller
            # reports it; for an automation it is the push credentials that are wrong.
            return await report.failed(Reason.AUTHENTICATION_FAILED, err.message, retry_after(obj))
        except GitError as err:
            return await report.failed(err.reason, err.message, retry_after(obj))
        except TemplateError as err:
            return await report.failed(
                INVALID_CONFIGURATION,
                f"spec.git.commit.messageTemplate: {err}",
                retry_after(obj),
            )
        return await self.finish(report, outcome, branch, observed, obj)

    async def finish(
        self, report: Report, outcome: git.Outcome, branch: str, observed: dict[str, Any], obj: Obj
    ) -> Result:
        status = report.status
        now = now_rfc3339()
        status["lastAutomationRunTime"] = now
        status["observedPolicies"] = observed
        status["observedSourceRevision"] = f"{branch}@sha1:{outcome.head}"
        event = None
        if outcome.pushed:
            status["lastPushCommit"] = outcome.head
            status["lastPushTime"] = now
            event = f"pushed commit '{outcome.head[:7]}' to branch '{branch}'\n{outcome.message}"
        missing = [
            (key, where)
            for key, where in sorted(outcome.unknown.items())
            if self.policies.get(key[1], key[0]) is None
        ]
        if missing:
            (ns, policy), where = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            if event:
                await self.manager.events.normal(obj, SUCCEEDED, event)
            return await report.failed(
                POLICY_NOT_FOUND,
                f"the marker at {where} names ImagePolicy '{ns}/{policy}', which does not "
                f"exist{more}; create the policy or fix the marker",
                retry_after(obj),
            )
        if outcome.pushed:
            message = f"pushed commit '{outcome.head[:7]}' to branch '{branch}'"
        else:
            message = f"repository up-to-date at {branch}@sha1:{outcome.head}"
        await report.ready(SUCCEEDED, message, event)
        return Result.after(interval_of(obj))

    async def auth(self, source: Obj, url: str) -> GitAuth:
        """The credentials of the GitRepository's spec.secretRef, for its URL."""
        secret_name = (spec_of(source).get("secretRef") or {}).get("name")
        if not secret_name:
            return eddy_git.auth_without_secret(url)
        namespace, _ = name_of(source)
        secret = await self.manager.client.get_or_none(SECRETS, secret_name, namespace)
        if secret is None:
            raise GitError(
                Reason.AUTHENTICATION_FAILED,
                f"secret '{namespace}/{secret_name}' "
                "named in the GitRepository's spec.secretRef not found",
            )
        data = {k: base64.b64decode(v or "") for k, v in (secret.get("data") or {}).items()}
        return eddy_git.auth_from_data(url, data, f"{namespace}/{secret_name}")

    def images(self, obj: Obj) -> tuple[dict[tuple[str, str], Image], dict[str, Any]]:
        """The chosen image of each selected, resolved policy in the automation's namespace."""
        namespace, _ = name_of(obj)
        selector = spec_of(obj).get("policySelector")
        images: dict[tuple[str, str], Image] = {}
        observed: dict[str, Any] = {}
        for policy in self.policies.objects():
            policy_namespace, policy_name = name_of(policy)
            if policy_namespace != namespace or not matches(selector, _labels(policy)):
                continue
            ref = status_of(policy).get("latestRef") or {}
            if not ref.get("name") or not ref.get("tag"):
                continue
            image = Image(str(ref["name"]), str(ref["tag"]), str(ref.get("digest") or ""))
            images[(policy_namespace, policy_name)] = image
            observed[policy_name] = {k: v for k, v in ref.items() if k in ("name", "tag", "digest")}
        return images, observed


def _labels(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _push_options(spec: dict[str, Any]) -> tuple[str, ...]:
    options = ((spec.get("git") or {}).get("push") or {}).get("options") or {}
    return tuple(f"{k}={v}" if v else str(k) for k, v in sorted(options.items()))
