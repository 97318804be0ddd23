"""Provider, Alert and Receiver passes: check what each refers to, then report Ready.

Nothing is created or cleaned up, so no finalizer: a pass reads Secrets and the
Provider an Alert names, and writes one status. Receivers publish their webhook path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from eddy_api.notification import ProviderSpec, ReceiverSpec
from eddy_api.schema import unhonoured_in_use
from eddy_runtime import Manager, Resource, Result, Step, StepError, conditions
from eddy_runtime.annotations import requested_at
from eddy_runtime.cel import CelError
from eddy_runtime.durations import seconds_or
from eddy_runtime.events import WARNING
from eddy_runtime.finalizers import finalized
from eddy_runtime.reconciler import Attempt, refuse_unsupported
from eddy_runtime.secrets import read_secret

from . import alerts
from .delivery import VALIDATION_FAILED, resolve
from .objects import ALERTS, PROVIDERS, RECEIVERS, Obj, name_of, spec_of
from .receiver_cel import GENERIC_OIDC, compile_receiver
from .receiver_server import webhook_path

log = logging.getLogger("eddy.notification")

TOKEN_NOT_FOUND = "TokenNotFound"
ACCESS_DENIED = "AccessDenied"
PROVIDER_NOT_FOUND = "ProviderNotFound"
# Providers and Alerts have no interval in v1beta3: a failed one is looked at again
# within a minute, a Ready one every ten.
RETRY = 60.0
RECHECK = 600.0


class NotificationAttempt(Attempt):
    """One pass over one object: its checks, then Ready with `message`, or the failure."""

    resource: Resource

    def __init__(self, manager: Manager, obj: Obj) -> None:
        self.manager = manager
        self.obj = obj
        self.status: dict[str, Any] = {
            k: v for k, v in (obj.get("status") or {}).items() if k != "observedGeneration"
        }
        self.generation: int | None = (obj.get("metadata") or {}).get("generation")
        self.message = ""
        handled = requested_at(obj)
        if handled is not None:
            self.status["lastHandledReconcileAt"] = handled

    def recheck(self) -> float:
        return RECHECK

    def refuse_unsupported(self, spec_type: type) -> None:
        """Accepted so Flux manifests apply, but not done: refused by name."""
        refuse_unsupported(unhonoured_in_use(spec_type, spec_of(self.obj)), self.resource.kind)

    async def failed(self, err: StepError) -> Result:
        was_failing = (
            not conditions.is_true(self.status, conditions.READY)
            and (conditions.get(self.status, conditions.READY) or {}).get("message") == err.message
        )
        conditions.mark_failed(
            self.status, err.reason, err.message, self.generation, not err.stalled
        )
        log.error("%s", err.message, extra={"reason": err.reason, "step": err.step})
        await self.manager.status.patch(self.resource, self.obj, self.status)
        if not was_failing:
            await self.manager.events.event(self.obj, WARNING, err.reason, err.message)
        if err.stalled:
            return Result.done()
        return Result.after(min(RETRY, self.recheck()))

    async def succeeded(self) -> Result:
        conditions.mark_ready(self.status, self.message, conditions.SUCCEEDED, self.generation)
        await self.manager.status.patch(self.resource, self.obj, self.status)
        return Result.after(self.recheck())


class ProviderAttempt(NotificationAttempt):
    resource = PROVIDERS

    def steps(self) -> Sequence[Step]:
        return [Step("read secrets", self.read_secrets, VALIDATION_FAILED)]

    async def read_secrets(self) -> Result | None:
        self.refuse_unsupported(ProviderSpec)
        await resolve(self.manager.client, self.obj)
        self.message = "Provider is Ready"
        return None


class AlertAttempt(NotificationAttempt):
    resource = ALERTS

    def steps(self) -> Sequence[Step]:
        return [
            Step("check spec", self.check_patterns, VALIDATION_FAILED),
            Step("check provider", self.check_provider, PROVIDER_NOT_FOUND),
        ]

    async def check_patterns(self) -> Result | None:
        bad = alerts.bad_patterns(self.obj)
        if bad:
            raise StepError("; ".join(bad), reason=VALIDATION_FAILED)
        crossing = alerts.cross_namespace_sources(self.obj)
        if crossing and self.manager.options.no_cross_namespace_refs:
            raise StepError(
                f"{', '.join(crossing)} name another namespace, and cross-namespace "
                "references are disabled (--no-cross-namespace-refs)",
                reason=ACCESS_DENIED,
            )
        return None

    async def check_provider(self) -> Result | None:
        namespace, _ = name_of(self.obj)
        name = str((spec_of(self.obj).get("providerRef") or {}).get("name", ""))
        provider = self.manager.informer(PROVIDERS).get_by_key(f"{namespace}/{name}")
        if provider is None:
            raise StepError(
                f"Provider '{namespace}/{name}' not found: create it or fix spec.providerRef",
                reason=PROVIDER_NOT_FOUND,
            )
        self.message = "Alert is Ready"
        if not conditions.is_ready(provider):
            self.message = f"Alert is Ready; its Provider '{name}' is not Ready yet"
        return None


class ReceiverAttempt(NotificationAttempt):
    resource = RECEIVERS

    def recheck(self) -> float:
        return seconds_or(spec_of(self.obj).get("interval"), RECHECK) or RECHECK

    def steps(self) -> Sequence[Step]:
        return [
            Step("check expressions", self.check_expressions, conditions.INVALID_CEL_EXPRESSION),
            Step("read token", self.read_token, TOKEN_NOT_FOUND),
        ]

    async def check_expressions(self) -> Result | None:
        """The filters and OIDC checks compile, or the Receiver refuses every call."""
        self.refuse_unsupported(ReceiverSpec)
        try:
            compile_receiver(self.obj)
        except CelError as err:
            raise StepError(
                str(err), reason=conditions.INVALID_CEL_EXPRESSION, stalled=True
            ) from err
        return None

    async def read_token(self) -> Result | None:
        namespace, name = name_of(self.obj)
        if spec_of(self.obj).get("type") == GENERIC_OIDC:
            # No shared secret: the path derives from the name alone, and each call
            # proves itself with an ID token.
            path = webhook_path("", name, namespace)
            self.status["webhookPath"] = path
            self.message = f"Receiver initialized for path: {path}"
            return None
        ref = str((spec_of(self.obj).get("secretRef") or {}).get("name", ""))
        data = await read_secret(self.manager.client, namespace, ref)
        if data is None:
            raise StepError(
                f"Secret '{namespace}/{ref}' not found: create it or fix spec.secretRef",
                reason=TOKEN_NOT_FOUND,
            )
        token = data.get("token")
        if not token:
            raise StepError(
                f"Secret '{namespace}/{ref}' has no 'token' key: add one", reason=TOKEN_NOT_FOUND
            )
        path = webhook_path(token.decode(errors="replace"), name, namespace)
        self.status["webhookPath"] = path
        self.message = f"Receiver initialized for path: {path}"
        return None


class NotificationReconciler:
    def __init__(self, manager: Manager, attempt: type[NotificationAttempt]) -> None:
        self.manager = manager
        self.attempt = attempt

    async def reconcile(self, obj: Obj) -> Result:
        return await finalized(self.manager.client, self.attempt.resource, obj, self.run)

    async def run(self, obj: Obj) -> Result:
        return await self.attempt(self.manager, obj).run()
