"""The ImagePolicy reconciler: pick the latest tag of an ImageRepository by the policy's rule.

It runs whenever its repository's scan changes; a rule that can never work (a bad
range or regex) is Stalled until the spec is fixed.
"""

from __future__ import annotations

from typing import Any

from eddy_api.common import Reason
from eddy_runtime import Attempt, Manager, Result, Step, StepError
from eddy_runtime.conditions import DEPENDENCY_NOT_READY, SUCCEEDED, is_ready
from eddy_runtime.finalizers import finalized
from eddy_runtime.informer import Informer

from .objects import IMAGE_POLICIES, Obj, name_of, spec_of, status_of
from .policy import InvalidPolicy, describe_rule, latest_tag, validate
from .reporting import Report
from .repository import TagStore, scan_key
from .traces import Handoffs

INVALID_POLICY = "InvalidPolicy"
NO_MATCH = "ReconciliationFailed"
# How soon to look again for tags that a scan in this process has not produced yet.
SCAN_WAIT = 2.0


def repository_ref(policy: Obj) -> tuple[str, str]:
    """(namespace, name) of the ImageRepository; the namespace defaults to the policy's."""
    ref = spec_of(policy).get("imageRepositoryRef") or {}
    namespace, _ = name_of(policy)
    return str(ref.get("namespace") or namespace), str(ref.get("name") or "")


def policy_key(namespace: str, name: str) -> str:
    """The key a policy's chosen image is handed on under (see `Handoffs`)."""
    return f"ImagePolicy/{namespace}/{name}"


class ImagePolicyReconciler:
    def __init__(
        self,
        manager: Manager,
        repositories: Informer,
        store: TagStore,
        handoffs: Handoffs,
        requeue_dependency: float = 30.0,
        no_cross_namespace_refs: bool = False,
    ) -> None:
        self.manager = manager
        self.repositories = repositories
        self.store = store
        self.handoffs = handoffs
        # The scan revision each policy last picked from ("namespace/name" -> revision).
        self.picked: dict[str, str] = {}
        self.requeue_dependency = requeue_dependency
        self.no_cross_namespace_refs = no_cross_namespace_refs

    async def reconcile(self, obj: Obj) -> Result:
        return await finalized(self.manager.client, IMAGE_POLICIES, obj, self.choose, self.forget)

    async def forget(self, obj: Obj) -> None:
        namespace, name = name_of(obj)
        self.picked.pop(f"{namespace}/{name}", None)
        self.handoffs.forget(policy_key(namespace, name))

    async def choose(self, obj: Obj) -> Result:
        return await ImagePolicyAttempt(self, obj).run()

    def trace_parent(self, policy: Obj) -> str | None:
        """A pass over a scan the policy has not picked from yet continues the scan's trace."""
        namespace, name = repository_ref(policy)
        scan = self.store.get(namespace, name)
        if scan is None or self.picked.get("/".join(name_of(policy))) == scan.revision:
            return None
        return self.handoffs.parent(scan_key(namespace, name), scan.revision)


class ImagePolicyAttempt(Attempt):
    """One pass over one ImagePolicy: check the rule, pick the tag, record it."""

    def __init__(self, reconciler: ImagePolicyReconciler, obj: Obj) -> None:
        self.reconciler = reconciler
        self.obj = obj
        self.spec = spec_of(obj)
        self.report = Report(reconciler.manager, IMAGE_POLICIES, obj)
        self.image = self.tag = self.scan_revision = ""

    def steps(self) -> list[Step]:
        return [Step("check spec", self.check_spec), Step("pick tag", self.pick_tag)]

    async def check_spec(self) -> Result | None:
        try:
            validate(self.spec)
        except InvalidPolicy as err:
            raise StepError(str(err), reason=INVALID_POLICY, stalled=True) from None
        return None

    async def pick_tag(self) -> Result | None:
        """The tag the rule picks from the repository's last scan, or a wait."""
        report, spec, reconciler = self.report, self.spec, self.reconciler
        own_namespace, _ = name_of(self.obj)
        namespace, name = repository_ref(self.obj)
        if reconciler.no_cross_namespace_refs and namespace != own_namespace:
            raise StepError(
                f"cannot use ImageRepository '{namespace}/{name}': cross-namespace references "
                "are disabled on this controller",
                reason=Reason.ACCESS_DENIED,
                stalled=True,
            )
        repository = reconciler.repositories.get(name, namespace)
        if repository is None:
            return await report.waiting(
                DEPENDENCY_NOT_READY,
                f"ImageRepository '{namespace}/{name}' not found; create it or fix "
                "spec.imageRepositoryRef",
                reconciler.requeue_dependency,
            )
        scan = reconciler.store.get(namespace, name)
        if not is_ready(repository) or scan is None:
            if scan is None and is_ready(repository) and report.was_ready:
                # Tags are kept in memory: after a restart, wait for the rescan
                # without flipping a good status to not-ready.
                return Result.after(SCAN_WAIT)
            return await report.waiting(
                DEPENDENCY_NOT_READY,
                f"ImageRepository '{namespace}/{name}' has not been scanned successfully yet",
                SCAN_WAIT if is_ready(repository) else reconciler.requeue_dependency,
            )
        tag = latest_tag(spec, scan.tags)
        if tag is None:
            raise StepError(
                f"no tag of ImageRepository '{namespace}/{name}' ({len(scan.tags)} tags) "
                f"satisfies the {describe_rule(spec)}"
                + (" with spec.filterTags" if spec.get("filterTags") else "")
                + "; push a matching tag or change the policy",
                reason=NO_MATCH,
                stalled=True,
            )
        self.image, self.tag = str(spec_of(repository).get("image") or ""), tag
        self.scan_revision = scan.revision
        return None

    async def failed(self, err: StepError) -> Result:
        return await self.report.failed(err)

    async def succeeded(self) -> Result:
        report, image, tag = self.report, self.image, self.tag
        status = report.status
        before = status_of(report.obj).get("latestRef") or {}
        latest: dict[str, Any] = {"name": image, "tag": tag}
        previous = {k: before.get(k) for k in ("name", "tag") if before.get(k)}
        if before and previous != latest:
            status["observedPreviousRef"] = dict(before)
            status["observedPreviousImage"] = f"{before.get('name')}:{before.get('tag')}"
        status["latestRef"] = latest
        status["latestImage"] = f"{image}:{tag}"
        if not before:
            event = f"Latest image tag for '{image}' resolved to {tag}"
        elif previous != latest:
            event = f"Latest image tag for '{image}' updated from {before.get('tag')} to {tag}"
        else:
            event = None
        message = f"Latest image tag for '{image}' resolved to {tag}"
        namespace, name = name_of(self.obj)
        self.reconciler.picked[f"{namespace}/{name}"] = self.scan_revision
        if previous != latest:
            # The automations that write this image continue this pass's trace; recorded
            # before the status that wakes them is written.
            self.reconciler.handoffs.record(policy_key(namespace, name), f"{image}:{tag}")
        await report.ready(SUCCEEDED, message, event)
        return Result.done()
