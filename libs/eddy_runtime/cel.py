"""CEL expressions (Common Expression Language) as Flux's APIs use them.

Flux lets a spec hold small CEL programs (a Receiver's resource filters, OIDC claim
checks, health checks); eddy compiles each once with cel-python and evaluates it
against plain JSON values. Errors carry a message that names the expression.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import celpy
import celpy.celtypes as celtypes
import lark
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, CELSyntaxError, CELUnsupportedError

# Macros whose first argument names a variable bound inside the call.
_BINDING_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Type names an expression may use as plain identifiers (`type(x) == string`).
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn"}
)
_MAX_SOURCE = 16 * 1024
# Compiled expressions kept for the specs that name them again at every pass.
_CACHED = 1024


class CelError(ValueError):
    """An expression that does not compile or could not be evaluated; `str()` says why."""


class Expression:
    """One compiled expression; `evaluate` may be called many times, with new values."""

    def __init__(self, source: str, variables: Iterable[str]) -> None:
        self.source = source
        self.variables = frozenset(variables)
        if len(source) > _MAX_SOURCE:
            raise CelError(f"CEL expression longer than {_MAX_SOURCE} characters")
        if not source.strip():
            raise CelError("CEL expression is empty")
        environment = celpy.Environment()
        try:
            ast = environment.compile(source)
        except (CELParseError, CELSyntaxError, lark.exceptions.LarkError) as err:
            raise CelError(f"invalid CEL expression {source!r}: {_first_line(err)}") from err
        unknown = sorted(_free_identifiers(ast) - self.variables - _TYPE_NAMES)
        if unknown:
            known = ", ".join(sorted(self.variables)) or "none"
            raise CelError(
                f"invalid CEL expression {source!r}: undeclared reference to "
                f"{', '.join(repr(u) for u in unknown)} (variables available: {known})"
            )
        self._program = environment.program(ast)

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The result for these variables (JSON-like values), as plain Python values."""
        missing = self.variables - values.keys()
        if missing:
            raise CelError(f"no value for {', '.join(sorted(missing))}")
        activation = {name: json_to_cel(_jsonable(values[name])) for name in self.variables}
        try:
            result = self._program.evaluate(activation)
        except (CELEvalError, CELUnsupportedError, TypeError, ValueError) as err:
            raise CelError(f"evaluating {self.source!r} failed: {_first_line(err)}") from err
        if isinstance(result, CELEvalError):
            raise CelError(f"evaluating {self.source!r} failed: {_first_line(result)}")
        return _plain(result)

    def evaluate_bool(self, values: Mapping[str, Any]) -> bool:
        """Like `evaluate`, for expressions that must answer true or false."""
        result = self.evaluate(values)
        if not isinstance(result, bool):
            raise CelError(
                f"CEL expression {self.source!r} must return a boolean, got {type(result).__name__}"
            )
        return result


def compile_expression(source: str, variables: Iterable[str]) -> Expression:
    """Compile `source`, which may use only `variables`; CelError says what is wrong.

    A spec's expressions are read again at every pass of its object; an expression
    compiled once (about a millisecond of the event loop each) is kept and shared, as
    an Expression does not change once compiled.
    """
    return _compiled(source, frozenset(variables))


@lru_cache(maxsize=_CACHED)
def _compiled(source: str, variables: frozenset[str]) -> Expression:
    return Expression(source, variables)


def _first_line(err: BaseException) -> str:
    text = str(err.args[0] if err.args else err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _free_identifiers(ast: lark.Tree[Any]) -> set[str]:
    """Top-level names an expression reads, less the ones a macro binds (`x` in all(x, …))."""
    names: set[str] = set()
    bound: set[str] = set()
    for node in ast.iter_subtrees():
        if node.data == "ident":
            names.add(str(node.children[0]))
        elif node.data == "member_dot_arg" and len(node.children) >= 3:
            method, args = node.children[1], node.children[2]
            if str(method) in _BINDING_MACROS and isinstance(args, lark.Tree) and args.children:
                first = args.children[0]
                idents = [t for t in first.iter_subtrees() if t.data == "ident"]
                if len(idents) == 1:
                    bound.add(str(idents[0].children[0]))
    return names - bound


def _jsonable(value: Any) -> Any:
    """Tuples become lists, so any JSON-like input converts."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """CEL values back to Python's: bool, int, float, str, bytes, list, dict, None."""
    if value is None:
        return None
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, (celtypes.IntType, celtypes.UintType)):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.BytesType):
        return bytes(value)
    if isinstance(value, celtypes.MapType):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [_plain(v) for v in value]
    return value
