"""Go's text/template, for commit message templates written for Flux.

The language follows Go's: text and actions, `{{-`/`-}}` trimming, comments,
pipelines with `|`, parenthesized pipelines, variables (`:=`, `=`), if / else if /
else, with / else with, range over lists, maps and integers with one or two
variables, else, break and continue, and the builtins and, or, not, len, index,
print, printf, println, eq, ne, lt, le, gt, ge.

A template is written by whoever may edit the automation, so it reaches only the
data handed to it: map keys and the declared fields of the data's dataclasses,
never a name beginning with `_`, a method or anything else callable. Functions
that reach further (call, template definitions) are refused, and one rendering
is bounded in actions and in output.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# What one rendering may produce and do, so a template cannot make a commit
# message of gigabytes or loop for hours over nested ranges.
MAX_OUTPUT = 1 << 20
MAX_STEPS = 100_000
_SPACE = " \t\r\n"
_SET = frozenset(_SPACE)


class TemplateError(ValueError):
    """The template cannot be parsed or executed; the message says where."""


class Missing:
    """A map key that is not there, read as a field: Go's invalid value, "<no value>"."""

    def __str__(self) -> str:
        return "<no value>"


MISSING = Missing()


class TypedMap(dict[Any, Any]):
    """A map whose missing keys `index` reads as `zero`, as for a Go map of a concrete type."""

    def __init__(self, items: Mapping[Any, Any], zero: Any) -> None:
        super().__init__(items)
        self.zero = zero


def _short(text: str, limit: int = 60) -> str:
    """A template excerpt for a message: enough to find it, never a whole template."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- lexing ----------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<declare>:=)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.[^']*)')
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+
        |(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?))
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<variable>\$[A-Za-z0-9_]*)
  | (?P<dot>\.)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[|(),=])
    """,
    re.VERBOSE,
)


@dataclass
class _Token:
    kind: str
    text: str


def _tokens(action: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    spaced = True
    while pos < len(action):
        found = _TOKEN.match(action, pos)
        if found is None:
            raise TemplateError(f"unexpected {action[pos]!r} in {{{{{_short(action)}}}}}")
        kind = found.lastgroup or ""
        text = found.group()
        pos = found.end()
        if kind == "space":
            spaced = True
            continue
        if kind == "word" and text in ("true", "false"):
            kind = "bool"
        elif kind == "word" and text == "nil":
            kind = "nil"
        elif kind == "punct" and text == ")":
            kind = "chain_end"
        # A field right after a variable or a closing parenthesis (no space between)
        # chains onto it: `$x.Name`, `(index .List 0).Name`.
        if kind == "field" and not spaced and out and out[-1].kind in ("variable", "chain_end"):
            out[-1] = _Token(out[-1].kind, out[-1].text + text)
        else:
            out.append(_Token(kind, text))
        spaced = False
    return out


def _split(source: str) -> list[tuple[str, str]]:
    """("text", chunk) and ("action", inside) pairs, trim markers and comments applied."""
    out: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    while True:
        start = source.find("{{", pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        if start < 0:
            out.append(("text", text))
            return out
        inner = start + 2
        # "{{- " trims the text before; the dash needs a space after it.
        if source.startswith("-", inner) and source[inner + 1 : inner + 2] in _SET:
            text = text.rstrip(_SPACE)
            inner += 2
        out.append(("text", text))
        if source.startswith("/*", inner):
            close = source.find("*/", inner + 2)
            if close < 0:
                raise TemplateError("unclosed comment")
            after = close + 2
            if source.startswith("}}", after):
                pos, trim_next = after + 2, False
            elif source[after : after + 1] in _SET and source.startswith("-}}", after + 1):
                pos, trim_next = after + 4, True
            else:
                raise TemplateError("comment ends before closing delimiter")
            continue
        end = _find_close(source, inner)
        if end < 0:
            raise TemplateError(f"unclosed action: {{{{{_short(source[inner:])}")
        body = source[inner:end]
        # " -}}" trims the text after; the dash needs a space before it.
        trim_next = body.endswith("-") and body[-2:-1] in _SET
        if trim_next:
            body = body[:-1]
        out.append(("action", body))
        pos = end + 2


def _find_close(source: str, pos: int) -> int:
    """The index of the `}}` ending the action at pos, skipping quoted strings."""
    i = pos
    while i < len(source):
        c = source[i]
        if c in "\"'":
            i += 1
            while i < len(source) and source[i] != c:
                i += 2 if source[i] == "\\" else 1
        elif c == "`":
            i = source.find("`", i + 1)
            if i < 0:
                return -1
        elif source.startswith("}}", i):
            return i
        i += 1
    return -1


# -- parsing ---------------------------------------------------------------------


@dataclass
class _Pipe:
    decl: list[str]
    assign: bool
    commands: list[list[Any]]
    text: str


@dataclass
class _Node:
    kind: str  # text, action, if, with, range, break, continue
    text: str = ""
    pipe: _Pipe | None = None
    body: list[_Node] = field(default_factory=list)
    otherwise: list[_Node] = field(default_factory=list)


@dataclass
class _Literal:
    value: Any


@dataclass
class _Field:
    names: list[str]


@dataclass
class _Variable:
    name: str
    names: list[str]


@dataclass
class _Function:
    name: str


@dataclass
class _Chain:
    pipe: _Pipe
    names: list[str]


_DOT = _Field([])
_REFUSED = {
    "call": "calls a function value",
    "html": "escapes HTML, which a commit message has no use for",
    "js": "escapes JavaScript, which a commit message has no use for",
    "urlquery": "escapes URLs, which a commit message has no use for",
    "slice": "is not supported in commit message templates",
}


class _Parser:
    def __init__(self, source: str) -> None:
        self.items = _split(source)
        self.pos = 0
        self.scopes: list[set[str]] = [{"$"}]

    def parse(self) -> list[_Node]:
        nodes, ender = self.list_until(())
        if ender:
            raise TemplateError(f"unexpected {{{{{ender}}}}}")
        return nodes

    def list_until(self, enders: tuple[str, ...]) -> tuple[list[_Node], str]:
        nodes: list[_Node] = []
        while self.pos < len(self.items):
            kind, value = self.items[self.pos]
            self.pos += 1
            if kind == "text":
                if value:
                    nodes.append(_Node("text", text=value))
                continue
            tokens = _tokens(value)
            if not tokens:
                raise TemplateError("missing value for command")
            word = tokens[0].text if tokens[0].kind == "word" else ""
            if word in ("end", "else"):
                if word not in enders:
                    raise TemplateError(f"unexpected {{{{{_short(value.strip())}}}}}")
                self.pos -= 1
                return nodes, word
            if word in ("if", "with", "range"):
                nodes.append(self.control(word, tokens[1:], value))
            elif word in ("break", "continue"):
                if len(tokens) != 1:
                    raise TemplateError(f"unexpected words after {{{{{word}}}}}")
                nodes.append(_Node(word))
            elif word in ("define", "template", "block"):
                raise TemplateError(f"{{{{{word}}}}} is not supported in commit message templates")
            else:
                nodes.append(_Node("action", pipe=self.pipeline(tokens, value, allow_decl=True)))
        if enders:
            raise TemplateError(f"missing {{{{{enders[0]}}}}}")
        return nodes, ""

    def control(self, word: str, tokens: list[_Token], text: str) -> _Node:
        self.scopes.append(set())
        try:
            pipe = self.pipeline(tokens, text, allow_decl=True, ranging=word == "range")
            node = _Node(word, pipe=pipe)
            self.scopes.append(set())
            node.body, ender = self.list_until(("end", "else"))
            self.scopes.pop()
            if ender == "else":
                _, value = self.items[self.pos]
                self.pos += 1
                rest = _tokens(value)[1:]
                if rest and rest[0].kind == "word" and rest[0].text in ("if", "with"):
                    if rest[0].text != word or word == "range":
                        raise TemplateError(f"{{{{else {rest[0].text}}}}} inside {{{{{word}}}}}")
                    # `else if`/`else with`: the rest is one nested block sharing the end.
                    node.otherwise = [self.control(word, rest[1:], value)]
                    return node
                if rest:
                    raise TemplateError(f"unexpected {{{{{_short(value.strip())}}}}}")
                self.scopes.append(set())
                node.otherwise, ender = self.list_until(("end",))
                self.scopes.pop()
            _, value = self.items[self.pos]
            self.pos += 1
            if len(_tokens(value)) != 1:
                raise TemplateError("unexpected words after {{end}}")
            return node
        finally:
            self.scopes.pop()

    def pipeline(
        self, tokens: list[_Token], text: str, allow_decl: bool, ranging: bool = False
    ) -> _Pipe:
        decl: list[str] = []
        assign = False
        # `$x :=`, `$x =`, and for range `$k, $v :=`.
        names = [t for t in tokens[:4]]
        if allow_decl and names and names[0].kind == "variable" and "." not in names[0].text:
            if (
                len(names) > 1
                and names[1].kind in ("declare", "punct")
                and names[1].text
                in (
                    ":=",
                    "=",
                )
            ):
                decl, assign = [names[0].text], names[1].text == "="
                tokens = tokens[2:]
            elif (
                ranging
                and len(names) > 3
                and names[1].text == ","
                and names[2].kind == "variable"
                and names[3].text in (":=", "=")
            ):
                decl, assign = [names[0].text, names[2].text], names[3].text == "="
                tokens = tokens[4:]
        for name in decl:
            if assign:
                self.need(name)
            else:
                self.scopes[-1].add(name)
        commands: list[list[Any]] = [[]]
        pos = 0
        while pos < len(tokens):
            token = tokens[pos]
            if token.text == "|" and token.kind == "punct":
                if not commands[-1]:
                    raise TemplateError(f"missing command in {{{{{_short(text.strip())}}}}}")
                commands.append([])
                pos += 1
                continue
            operand, pos = self.operand(tokens, pos, text)
            commands[-1].append(operand)
        if not commands[-1]:
            raise TemplateError(f"missing value for command in {{{{{_short(text.strip())}}}}}")
        for command in commands[1:]:
            head = command[0]
            executable = isinstance(head, _Function | _Field | _Chain) or (
                isinstance(head, _Variable) and head.names
            )
            if not executable:
                raise TemplateError(
                    f"non executable command in pipeline stage in {{{{{_short(text)}}}}}"
                )
        return _Pipe(decl, assign, commands, text.strip())

    def operand(self, tokens: list[_Token], pos: int, text: str) -> tuple[Any, int]:
        token = tokens[pos]
        kind = token.kind
        if kind == "punct" and token.text == "(":
            depth, end = 0, pos
            while end < len(tokens):
                if tokens[end].text == "(" and tokens[end].kind == "punct":
                    depth += 1
                elif tokens[end].kind == "chain_end":
                    depth -= 1
                    if depth == 0:
                        break
                end += 1
            if end >= len(tokens):
                raise TemplateError(f"unclosed left paren in {{{{{_short(text.strip())}}}}}")
            inner = self.pipeline(tokens[pos + 1 : end], text, allow_decl=False)
            names = _names(tokens[end].text[1:])
            return _Chain(inner, names), end + 1
        if kind == "chain_end":
            raise TemplateError(f"unexpected right paren in {{{{{_short(text.strip())}}}}}")
        if kind == "field":
            return _Field(_names(token.text)), pos + 1
        if kind == "dot":
            return _DOT, pos + 1
        if kind == "variable":
            name, _, rest = token.text.partition(".")
            self.need(name)
            return _Variable(name, _names("." + rest) if rest else []), pos + 1
        if kind == "word":
            if token.text in _REFUSED:
                raise TemplateError(f"function {token.text!r} {_REFUSED[token.text]}")
            if token.text not in _FUNCTIONS:
                raise TemplateError(f'function "{_short(token.text, 40)}" not defined')
            return _Function(token.text), pos + 1
        if kind in ("string", "raw"):
            return _Literal(_unquote(token.text)), pos + 1
        if kind == "char":
            return _Literal(_char(token.text)), pos + 1
        if kind == "number":
            return _Literal(_number(token.text)), pos + 1
        if kind == "bool":
            return _Literal(token.text == "true"), pos + 1
        if kind == "nil":
            return _Literal(None), pos + 1
        raise TemplateError(f"unexpected {token.text!r} in {{{{{_short(text.strip())}}}}}")

    def need(self, name: str) -> None:
        if not any(name in scope for scope in self.scopes):
            raise TemplateError(f'undefined variable "{_short(name, 40)}"')


def _names(chain: str) -> list[str]:
    names = [n for n in chain.split(".") if n]
    for name in names:
        if name.startswith("_"):
            raise TemplateError(
                f"{name!r} is not template data; names beginning with '_' cannot be used "
                "(see the documented .AutomationObject, .Changed and .Values)"
            )
    return names


_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"',
}  # fmt: skip


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1].replace("\r", "")
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        elif nxt in "01234567":
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise TemplateError(f"invalid escape in string {_short(text)}")
    return "".join(out)


def _char(text: str) -> int:
    inner = _unquote('"' + text[1:-1].replace('"', '\\"') + '"')
    if len(inner) != 1:
        raise TemplateError(f"malformed character constant {text}")
    return ord(inner)


def _number(text: str) -> int | float:
    clean = text.replace("_", "")
    lower = clean.lower()
    try:
        if lower.lstrip("+-").startswith(("0x", "0b", "0o")):
            return int(clean, 0)
        if re.fullmatch(r"[+-]?\d+", clean):
            digits = clean.lstrip("+-")
            if len(digits) > 1 and digits.startswith("0"):
                return int(clean[: len(clean) - len(digits)] + digits, 8)
            return int(clean)
        return float(clean)
    except ValueError:
        raise TemplateError(f"bad number syntax: {_short(text, 40)}") from None


def parse(source: str) -> list[_Node]:
    """The template's tree; TemplateError names what cannot be parsed."""
    return _Parser(source).parse()


# -- values ------------------------------------------------------------------------


def _is_struct(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "slice"
    if _is_struct(value):
        return "struct"
    return "invalid"


def truth(value: Any) -> bool:
    """Go's notion of true: not the zero value of its type (a struct is always true)."""
    if value is None or isinstance(value, Missing):
        return False
    if isinstance(value, bool | int | float | str | Mapping | list | tuple):
        return bool(value)
    return True


def _has_string(value: Any) -> bool:
    """Whether the data class says how it prints, as a Go Stringer does."""
    method: Any = type(value).__str__
    return _is_struct(value) and method is not object.__str__


def text_of(value: Any) -> str:
    """What fmt.Print prints for a value: Go's %v."""
    if value is None:
        return "<nil>"
    if isinstance(value, Missing):
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_g(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        items = " ".join(f"{text_of(k)}:{text_of(value[k])}" for k in _sorted_keys(value))
        return f"map[{items}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(text_of(v) for v in value) + "]"
    if _has_string(value):
        return str(value)
    if _is_struct(value):
        inner = " ".join(text_of(getattr(value, f.name)) for f in dataclasses.fields(value))
        return "{" + inner + "}"
    raise TemplateError("the template data holds a value that cannot be printed")


def _float_g(value: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64): shortest, exponent from 1e21 on."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    if "e" in text or "E" in text:
        mantissa, exponent = text.split("e")
        mantissa = mantissa.removesuffix(".0")
        sign = "-" if exponent.startswith("-") else "+"
        digits = exponent.lstrip("+-").rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    text = text.removesuffix(".0")
    if abs(value) >= 1e21:
        return _float_g(float(f"{value:e}"))
    return text


def _sort_key(key: Any) -> Any:
    if _is_struct(key):
        order = getattr(key, "SORT_FIELDS", None) or [f.name for f in dataclasses.fields(key)]
        return tuple(_sort_key(getattr(key, name)) for name in order)
    return key


def _sorted_keys(value: Mapping[Any, Any]) -> list[Any]:
    try:
        return sorted(value, key=_sort_key)
    except TypeError:
        return list(value)


def _field(value: Any, name: str, expr: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name, MISSING)
    if value is None or isinstance(value, Missing):
        raise TemplateError(f"nil pointer evaluating {_short(expr)}")
    # Only the fields a data class declares: no properties, methods or internals.
    declared = (
        _is_struct(value)
        and not name.startswith("_")
        and any(f.name == name for f in dataclasses.fields(value))
    )
    found = getattr(value, name) if declared else None
    if not declared or callable(found):
        raise TemplateError(
            f"can't evaluate field {_short(name, 40)} in {_short(expr)!r}: there is no such "
            "field in the template data"
        )
    return found


def _fields(value: Any, names: Sequence[str], expr: str) -> Any:
    for name in names:
        value = _field(value, name, expr)
    return value


# -- builtins ----------------------------------------------------------------------


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, Mapping | list | tuple):
        return len(value)
    raise TemplateError(f"error calling len: len of type {_kind(value)}")


def _index(item: Any, *indexes: Any) -> Any:
    for index in indexes:
        if isinstance(item, Mapping):
            item = item[index] if index in item else (
                item.zero if isinstance(item, TypedMap) else MISSING
            )  # fmt: skip
        elif isinstance(item, list | tuple | str):
            if not isinstance(index, int) or isinstance(index, bool):
                raise TemplateError(f"error calling index: cannot index slice with {_kind(index)}")
            data = item.encode() if isinstance(item, str) else item
            if not 0 <= index < len(data):
                raise TemplateError(f"error calling index: index out of range: {index}")
            item = data[index]
        elif item is None or isinstance(item, Missing):
            raise TemplateError("error calling index: index of untyped nil")
        else:
            raise TemplateError(f"error calling index: can't index item of type {_kind(item)}")
    return item


def _basic(value: Any) -> str:
    kind = _kind(value)
    return kind if kind in ("bool", "int", "float64", "string") else ""


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("error calling eq: missing argument for comparison")
    for other in others:
        a, b = _basic(first), _basic(other)
        if a and b:
            if a != b:
                raise TemplateError("error calling eq: incompatible types for comparison")
            if first == other:
                return True
        elif first is None or other is None:
            if first is other:
                return True
        elif _kind(first) in ("map", "slice") or _kind(other) in ("map", "slice"):
            raise TemplateError("error calling eq: non-comparable type")
        elif type(first) is not type(other):
            raise TemplateError("error calling eq: incompatible types for comparison")
        elif first == other:
            return True
    return False


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _basic(a), _basic(b)
    if not ka or not kb or ka == "bool" or kb == "bool":
        raise TemplateError("error calling lt: invalid type for comparison")
    if ka != kb:
        raise TemplateError("error calling lt: incompatible types for comparison")
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return _lt(a, b) or _eq(a, b)


def _gt(a: Any, b: Any) -> bool:
    return not _le(a, b)


def _ge(a: Any, b: Any) -> bool:
    return not _lt(a, b)


def _not(value: Any) -> bool:
    return not truth(value)


def _print(*args: Any) -> str:
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(text_of(arg))
    return "".join(out)


def _println(*args: Any) -> str:
    return " ".join(text_of(a) for a in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])")


def _printf(fmt: Any, *args: Any) -> str:
    if not isinstance(fmt, str):
        raise TemplateError("error calling printf: the format is not a string")
    out: list[str] = []
    pos = 0
    used = 0
    for match in _VERB.finditer(fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if width == "*" or precision == "*":
            raise TemplateError("printf: '*' widths are not supported")
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        out.append(_pad(_verb(verb, arg, flags, precision), flags, width))
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(f"{_type_name(a)}={text_of(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _type_name(value: Any) -> str:
    kind = _kind(value)
    return {"nil": "<nil>", "map": "map", "slice": "[]", "struct": type(value).__name__}.get(
        kind, kind
    )


def _bad_verb(verb: str, value: Any) -> str:
    return f"%!{verb}({_type_name(value)}={text_of(value)})"


def _verb(verb: str, value: Any, flags: str, precision: str | None) -> str:
    kind = _kind(value)
    if verb == "v":
        return text_of(value)
    if verb == "T":
        return _type_name(value)
    if verb == "s":
        if kind in ("int", "bool", "float64"):
            return _bad_verb(verb, value)
        text = text_of(value)
        return text[: int(precision)] if precision is not None else text
    if verb == "q":
        if kind == "string":
            return _go_quote(value)
        if kind == "int":
            return "'" + chr(value) + "'"
        return _bad_verb(verb, value)
    if verb == "t":
        return text_of(value) if kind == "bool" else _bad_verb(verb, value)
    if verb in "dboxXc":
        if kind == "string" and verb in "xX":
            hexed: str = value.encode().hex()
            return hexed.upper() if verb == "X" else hexed
        if kind != "int":
            return _bad_verb(verb, value)
        if verb == "c":
            return chr(value)
        base = {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[verb]
        text = format(abs(value), base)
        if "#" in flags and verb in "xX":
            text = ("0X" if verb == "X" else "0x") + text
        sign = "-" if value < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
        return sign + text
    if verb in "feEgG":
        if kind not in ("float64", "int") or kind == "int":
            return _bad_verb(verb, value)
        digits = 6 if precision is None else int(precision)
        if verb in "gG" and precision is None:
            text = _float_g(value)
            return text.upper() if verb == "G" else text
        text = format(value, f".{digits}{verb}")
        if "+" in flags and value >= 0:
            text = "+" + text
        return text
    return f"%!{verb}({_type_name(value)}={text_of(value)})"


def _pad(text: str, flags: str, width: str | None) -> str:
    if not width:
        return text
    size = int(width)
    if "-" in flags:
        return text.ljust(size)
    if "0" in flags and text[:1] in "+- " and text[1:].replace(".", "").isdigit():
        return text[0] + text[1:].rjust(size - 1, "0")
    if "0" in flags and text.replace(".", "").isdigit():
        return text.rjust(size, "0")
    return text.rjust(size)


def _go_quote(text: str) -> str:
    out = ['"']
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": _len,
    "index": _index,
    "eq": _eq,
    "ne": _ne,
    "lt": _lt,
    "le": _le,
    "gt": _gt,
    "ge": _ge,
    "not": _not,
    "print": _print,
    "printf": _printf,
    "println": _println,
    # and/or evaluate lazily; they are handled where commands are run.
    "and": _not,
    "or": _not,
}
_ARITY = {"len": 1, "not": 1, "ne": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2}


# -- execution ---------------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Scope:
    def __init__(self, parent: _Scope | None, values: dict[str, Any] | None = None) -> None:
        self.parent = parent
        self.values = values or {}

    def get(self, name: str) -> Any:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            scope = scope.parent
        raise TemplateError(f'undefined variable "{name}"')

    def assign(self, name: str, value: Any) -> None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.values:
                scope.values[name] = value
                return
            scope = scope.parent
        raise TemplateError(f'undefined variable "{name}"')


class _Run:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateError(
                f"the template runs more than {MAX_STEPS} actions; simplify nested ranges"
            )

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise TemplateError(f"the message would be longer than {MAX_OUTPUT} characters")
        self.parts.append(text)

    def walk(self, nodes: list[_Node], dot: Any, scope: _Scope) -> None:
        for node in nodes:
            self.step()
            kind = node.kind
            if kind == "text":
                self.write(node.text)
            elif kind == "action":
                assert node.pipe is not None
                value = self.pipeline(node.pipe, dot, scope)
                if not node.pipe.decl:
                    self.write(text_of(value))
            elif kind in ("if", "with"):
                assert node.pipe is not None
                inner = _Scope(scope)
                value = self.pipeline(node.pipe, dot, inner)
                if truth(value):
                    self.walk(node.body, value if kind == "with" else dot, _Scope(inner))
                else:
                    self.walk(node.otherwise, dot, _Scope(inner))
            elif kind == "range":
                self.range(node, dot, scope)
            elif kind == "break":
                raise _Break()
            else:
                raise _Continue()

    def range(self, node: _Node, dot: Any, scope: _Scope) -> None:
        pipe = node.pipe
        assert pipe is not None
        inner = _Scope(scope)
        value = self.pipeline(_Pipe([], False, pipe.commands, pipe.text), dot, inner)
        items = _items(value, len(pipe.decl))
        if not items:
            self.walk(node.otherwise, dot, _Scope(inner))
            return
        for key, elem in items:
            self.step()
            if len(pipe.decl) == 1:
                self.bind(inner, pipe, [elem])
            elif len(pipe.decl) == 2:
                self.bind(inner, pipe, [key, elem])
            try:
                self.walk(node.body, elem, _Scope(inner))
            except _Break:
                break
            except _Continue:
                continue

    def bind(self, scope: _Scope, pipe: _Pipe, values: list[Any]) -> None:
        for name, value in zip(pipe.decl, values, strict=True):
            if pipe.assign:
                scope.assign(name, value)
            else:
                scope.values[name] = value

    def pipeline(self, pipe: _Pipe, dot: Any, scope: _Scope) -> Any:
        value: Any = _NONE
        for command in pipe.commands:
            value = self.command(command, dot, scope, value, pipe.text)
        if pipe.decl:
            self.bind(scope, pipe, [value] * len(pipe.decl))
        return value

    def command(self, command: list[Any], dot: Any, scope: _Scope, final: Any, text: str) -> Any:
        first, args = command[0], command[1:]
        if isinstance(first, _Function):
            return self.call(first.name, args, dot, scope, final, text)
        if args or final is not _NONE:
            raise TemplateError(f"can't give argument to non-function in {{{{{_short(text)}}}}}")
        return self.operand(first, dot, scope, text)

    def operand(self, node: Any, dot: Any, scope: _Scope, text: str) -> Any:
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Field):
            return _fields(dot, node.names, text)
        if isinstance(node, _Variable):
            return _fields(scope.get(node.name), node.names, text)
        if isinstance(node, _Chain):
            return _fields(self.pipeline(node.pipe, dot, scope), node.names, text)
        if isinstance(node, _Function):
            return self.call(node.name, [], dot, scope, _NONE, text)
        raise TemplateError(f"can't evaluate {{{{{_short(text)}}}}}")

    def call(
        self, name: str, args: list[Any], dot: Any, scope: _Scope, final: Any, text: str
    ) -> Any:
        def values() -> list[Any]:
            found = [self.operand(a, dot, scope, text) for a in args]
            return found if final is _NONE else [*found, final]

        if name in ("and", "or"):
            count = len(args) + (final is not _NONE)
            if count == 0:
                raise TemplateError(f"wrong number of args for {name}: want at least 1 got 0")
            result: Any = None
            for i in range(count):
                result = self.operand(args[i], dot, scope, text) if i < len(args) else final
                if truth(result) != (name == "and"):
                    return result
            return result
        evaluated = values()
        want = _ARITY.get(name)
        if want is not None and len(evaluated) != want:
            raise TemplateError(
                f"wrong number of args for {name}: want {want} got {len(evaluated)}"
            )
        if name in ("index", "printf", "eq") and not evaluated:
            raise TemplateError(f"wrong number of args for {name}: want at least 1 got 0")
        return _FUNCTIONS[name](*evaluated)


_NONE = object()


def _items(value: Any, variables: int) -> list[tuple[Any, Any]]:
    if value is None or isinstance(value, Missing):
        return []
    if isinstance(value, Mapping):
        return [(k, value[k]) for k in _sorted_keys(value)]
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if isinstance(value, int) and not isinstance(value, bool):
        if variables > 1:
            raise TemplateError("can't use range over an integer with two variables")
        return [(i, i) for i in range(max(value, 0))]
    raise TemplateError(f"range can't iterate over a {_kind(value)} value")


def render(source: str, data: Any) -> str:
    """Execute `source` against `data` (maps and dataclass instances) as Go would."""
    run = _Run()
    try:
        run.walk(parse(source), data, _Scope(None, {"$": data}))
    except (_Break, _Continue):
        raise TemplateError("{{break}} or {{continue}} outside {{range}}") from None
    except RecursionError:
        raise TemplateError("the template nests too deeply") from None
    return "".join(run.parts)
