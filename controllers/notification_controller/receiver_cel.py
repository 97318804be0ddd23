"""The CEL programs a Receiver carries: which objects a call reconciles, and OIDC claim checks.

`resourceFilter` and each `resources[].filter` read the object's metadata (`res`), the
JSON request body (`req`) and, for generic-oidc, the verified token claims (`claims`);
an object is reconciled only when every filter that applies to it returns true. Each
`oidcProviders[].variables` and `validations` entry reads `claims` and `vars`. All are
compiled when the Receiver is reconciled, so a bad one is reported in its status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eddy_runtime.cel import CelError, Expression, compile_expression

from .objects import Obj, spec_of

GENERIC_OIDC = "generic-oidc"


@dataclass
class ClaimChecks:
    """One OIDC provider's variables and validations, in order."""

    issuer: str
    audience: str
    variables: list[tuple[str, Expression]]
    validations: list[tuple[Expression, str]]

    def failures(self, claims: dict[str, Any]) -> list[str]:
        """The messages of the validations the claims fail (empty: accepted)."""
        variables: dict[str, Any] = {}
        for name, expression in self.variables:
            variables[name] = expression.evaluate({"claims": claims, "vars": variables})
        values = {"claims": claims, "vars": variables}
        return [message for expression, message in self.validations
                if not expression.evaluate_bool(values)]  # fmt: skip


@dataclass
class ReceiverPrograms:
    """Everything CEL in one Receiver's spec, compiled."""

    top: Expression | None
    per_resource: list[Expression | None]
    providers: list[ClaimChecks]

    def filters_for(self, index: int) -> list[Expression]:
        own = self.per_resource[index] if index < len(self.per_resource) else None
        return [e for e in (self.top, own) if e is not None]

    @property
    def filtering(self) -> bool:
        return self.top is not None or any(e is not None for e in self.per_resource)


def _compile(source: Any, variables: tuple[str, ...], where: str) -> Expression:
    try:
        return compile_expression(str(source), variables)
    except CelError as err:
        raise CelError(f"{where}: {err}") from err


def compile_receiver(receiver: Obj) -> ReceiverPrograms:
    """Compile the Receiver's CEL; CelError names the field that does not compile."""
    spec = spec_of(receiver)
    oidc = spec.get("type") == GENERIC_OIDC
    filter_vars = ("res", "req", "claims") if oidc else ("res", "req")
    top = None
    if spec.get("resourceFilter"):
        top = _compile(spec["resourceFilter"], filter_vars, "spec.resourceFilter")
    per_resource: list[Expression | None] = []
    for i, ref in enumerate(spec.get("resources") or []):
        source = ref.get("filter") if isinstance(ref, dict) else None
        per_resource.append(
            _compile(source, filter_vars, f"spec.resources[{i}].filter") if source else None
        )
    providers: list[ClaimChecks] = []
    for i, provider in enumerate(spec.get("oidcProviders") or [] if oidc else []):
        where = f"spec.oidcProviders[{i}]"
        variables = [
            (str(v.get("name", "")),
             _compile(v.get("expression", ""), ("claims", "vars"), f"{where}.variables[{j}]"))
            for j, v in enumerate(provider.get("variables") or [])
        ]  # fmt: skip
        validations = [
            (_compile(v.get("expression", ""), ("claims", "vars"), f"{where}.validations[{j}]"),
             str(v.get("message", "")))
            for j, v in enumerate(provider.get("validations") or [])
        ]  # fmt: skip
        if not validations:
            raise CelError(
                f"{where}: at least one validation is required; without one, anyone who can "
                "get a token from this issuer could call the Receiver"
            )
        providers.append(
            ClaimChecks(
                issuer=str(provider.get("issuerURL", "")),
                audience=str(provider.get("audience") or "notification-controller"),
                variables=variables,
                validations=validations,
            )
        )
    return ReceiverPrograms(top, per_resource, providers)


def object_view(obj: Obj) -> dict[str, Any]:
    """What a filter sees of an object as `res`: its apiVersion, kind and metadata."""
    return {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "metadata": obj.get("metadata") or {},
    }
