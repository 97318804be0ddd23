"""postBuild variable substitution: `${var}` and `${var:=default}` in the built objects.

Flux users keep one set of manifests for many clusters and fill in the differences
from ConfigMaps, Secrets and the spec; this is that substitution, with Flux's rules.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from eddy_api.kustomize import SUBSTITUTE_ANNOTATION
from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import CONFIG_MAPS, SECRETS, ResourceClient
from eddy_runtime.secrets import secret_data

from .objects import Obj, annotation, describe

VAR_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":=", ":-", "=", "-")


class SubstitutionError(StepError):
    """A variable is missing or malformed; the message names it."""


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing the `${` whose body starts at `start`; -1 if none."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _expand(body: str, variables: dict[str, str]) -> str | None:
    """The value of one `${...}` body, or None when it is not a variable expression."""
    match = VAR_NAME.match(body)
    if match is None:
        return None
    name, rest = match.group(), body[match.end() :]
    value = variables.get(name)
    if not rest:
        if value is None:
            raise SubstitutionError(f"variable ${{{name}}} is not set")
        return value
    for op in _OPERATORS:
        if rest.startswith(op):
            default = substitute_text(rest[len(op) :], variables)
            if op.startswith(":"):
                return value if value else default
            return value if value is not None else default
    return None


def substitute_text(text: str, variables: dict[str, str]) -> str:
    """Replace `${name}`, `${name:=default}` (also `:-`, `=`, `-`); `$${...}` is a
    literal `${...}`. Expressions that are not variable names are left alone."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            out.append("${")
            i += 3
            continue
        if text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if end >= 0:
                value = _expand(text[i + 2 : end], variables)
                if value is not None:
                    out.append(value)
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


def substitute_objects(objects: list[Obj], variables: dict[str, str]) -> list[Obj]:
    """Each object with variables replaced, except those that opt out by annotation."""
    result: list[Obj] = []
    for obj in objects:
        if annotation(obj, SUBSTITUTE_ANNOTATION) == "disabled":
            result.append(obj)
            continue
        text = yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False)
        if "${" not in text:
            result.append(obj)
            continue
        try:
            replaced = substitute_text(text, variables)
            loaded = yaml.load(replaced, Loader=yaml.CSafeLoader)
        except SubstitutionError as err:
            raise SubstitutionError(f"{describe(obj)}: {err}") from err
        except yaml.YAMLError as err:
            raise SubstitutionError(
                f"{describe(obj)}: substitution produced invalid YAML: {err}"
            ) from err
        if not isinstance(loaded, dict):
            raise SubstitutionError(f"{describe(obj)}: substitution did not yield an object")
        result.append(loaded)
    return result


def check_names(variables: dict[str, str], where: str) -> None:
    for name in variables:
        if not VAR_NAME.fullmatch(name):
            raise SubstitutionError(
                f"'{name}' in {where} is not a valid variable name; "
                "use letters, digits and underscores, not starting with a digit"
            )


async def gather_variables(
    client: ResourceClient, namespace: str, post_build: dict[str, Any]
) -> tuple[dict[str, str], list[str]]:
    """Variables from substituteFrom in order, then substitute; later ones win.

    Also returns every value read from a Secret, for masking in messages.
    """
    variables: dict[str, str] = {}
    secret_values: list[str] = []
    for ref in post_build.get("substituteFrom") or []:
        kind, name = ref.get("kind"), str(ref.get("name", ""))
        resource = SECRETS if kind == "Secret" else CONFIG_MAPS
        found = await client.get_or_none(resource, name, namespace)
        if found is None:
            if ref.get("optional"):
                continue
            raise SubstitutionError(
                f"substituteFrom: {kind} '{namespace}/{name}' not found; create it or mark "
                "the reference optional"
            )
        if kind == "Secret":
            data = {k: v.decode() for k, v in secret_data(found).items()}
        else:
            data = {str(k): str(v) for k, v in (found.get("data") or {}).items()}
        check_names(data, f"{kind} '{namespace}/{name}'")
        if kind == "Secret":
            secret_values.extend(data.values())
        variables.update(data)
    inline = {str(k): str(v) for k, v in (post_build.get("substitute") or {}).items()}
    check_names(inline, "postBuild.substitute")
    variables.update(inline)
    return variables, secret_values


def substitutes(post_build: dict[str, Any], variables: dict[str, str]) -> bool:
    """Whether to substitute at all: with variables, or always when the strategy says so."""
    return bool(variables) or post_build.get("substituteStrategy") == "Always"
