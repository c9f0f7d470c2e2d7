"""Rule conditions (`when`): a small expression language, parsed once with pyparsing and compiled into closures.

    status >= 500 and service.name == "orders"
    upstream_status in [502, 504] or message =~ "no live upstreams"
    not exists(consumer.username) and route.name != 'health'
    kind == "http" and route.hosts[1] =~ "(?i)^api\\."

Operands are field paths (`status`, `consumer.username`, `route.hosts[1]`, names may hold `-`: see tailer.fields) on
the left and literals on the right: numbers (`502`, `-1`, `0.25`), strings in double or single quotes (escapes
`\\"`, `\\'`, `\\\\`, `\\n`, `\\t`; any other backslash is kept, so `"\\d+"` is the regex `\\d+`), `true`,
`false`, `null`. Operators: `== != < <= > >=`, `in [..]`, `not in [..]`, `=~ "regex"`, `!~ "regex"` (Python
`re.search`), `exists(path)`; `not` > `and` > `or`, and parentheses. A bare path is true when the value is there
and truthy, i.e. not false, 0, "" or an empty table (`truncated`). Keywords are lowercase.

Semantics. A comparison holds only when the value is there and comparable with the literal; otherwise it is
false, whatever the operator: a missing or null value makes `x != 1`, `x not in [1]` and `x !~ "a"` false too,
while `not (x == 1)` is true. To test for absence use `not exists(x)` or `x == null` (`x != null` is `exists(x)`).
- A number literal compares numerically with a number or with a string holding one (custom access-log variables
  such as `upstream_status` are the text "502"); with any other string, a table or a boolean it is not comparable.
- A string literal compares as a string with a string; with a number, only if the literal holds a number.
- `true`/`false` equal only booleans; ordering (`<` ...) takes numbers and strings only.
- `=~`/`!~` match strings, and numbers and booleans as their text (`true`); tables are not comparable.
- `in [..]` is `==` against each element; `not in [..]` holds when the value equals none and is comparable
  with at least one.
Errors are ConfigError naming the condition, what is wrong and the column; whether a path names a field that
events have is checked where rules are loaded (tailer.rules.names). Each comparison is compiled into a
closure specialised on its operator and literal type (set lookups for lists), so a test costs one field read.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any, TypeVar

import pyparsing as pp

from tailer.errors import ConfigError
from tailer.events import Event, Http
from tailer.fields import MISSING, Getter, compile_path
from tailer.rules.model import Predicate

__all__ = ["compile_when", "statuses"]

_T = TypeVar("_T")


_NULL = object()  # the `null` literal: a parse action cannot return None (pyparsing reads it as "no change")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge
}  # fmt: skip
_NUMERIC = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_ESCAPE = re.compile(r"\\(.)", re.S)
# what an error message shows of the text where parsing stopped
_TOKEN = re.compile(r"""\s*([\w.-]{1,20}|[=!<>~]+|"[^"]{0,20}"?|'[^']{0,20}'?|\S)""")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


def _number(text: str) -> int | float | None:
    """The number a string holds ("502", "-1", "0.25"), or None."""
    if text.isdigit() and text.isascii() and len(text) < 19:
        return int(text)  # the common case: a status code
    return float(text) if _NUMERIC.fullmatch(text) else None


def _text(value: Any) -> str | None:
    """A scalar as the text a regex sees; None for a table or a missing value."""
    if type(value) is bool:
        return "true" if value else "false"
    return str(value) if type(value) is int or type(value) is float else None


def _identity(value: Any) -> Any:
    return value


def _compare(get: Getter, op: str, lit: Any) -> Predicate:
    """`path op literal`, specialised on the literal's type; `get` reads the value."""
    if lit is _NULL or type(lit) is bool:
        if op not in ("==", "!="):
            raise ConfigError(f"{op} needs a number or a string, not {'null' if lit is _NULL else str(lit).lower()}")
        if lit is _NULL:
            if op == "==":
                return lambda e: (v := get(e)) is MISSING or v is None
            return lambda e: (v := get(e)) is not MISSING and v is not None
        if op == "==":
            return lambda e: get(e) is lit
        return lambda e: type(v := get(e)) is bool and v is not lit
    f = _OPS[op]
    if type(lit) is str:
        num = _number(lit)

        def by_text(e: Event) -> bool:
            v = get(e)
            if type(v) is str:
                return f(v, lit)
            return num is not None and (type(v) is int or type(v) is float) and f(v, num)

        return by_text

    def by_number(e: Event) -> bool:
        v = get(e)
        t = type(v)
        if t is int or t is float:
            return f(v, lit)
        if t is str:
            n = _number(v)
            return n is not None and f(n, lit)
        return False

    return by_number


def _match(get: Getter, op: str, lit: Any) -> Predicate:
    """`path =~ "regex"` and `path !~ "regex"`."""
    if type(lit) is not str:
        raise ConfigError(f"{op} needs a quoted regex")
    try:
        search = re.compile(lit).search
    except (re.error, OverflowError, RecursionError) as err:
        raise ConfigError(f"bad regex {lit!r} ({err})") from None
    negate = op == "!~"

    def pred(e: Event) -> bool:
        v = get(e)
        if type(v) is not str:
            v = _text(v)
            if v is None:
                return False
        return (search(v) is None) is negate

    return pred


def _member(get: Getter, lits: list[Any], negate: bool) -> Predicate:
    """`path in [..]` and `path not in [..]`, with set lookups when the list is all numbers or all strings."""
    if all(type(x) is int or type(x) is float for x in lits):
        nums = frozenset(lits)

        def numbers(e: Event) -> bool:
            v = get(e)
            t = type(v)
            if t is int or t is float:
                return (v in nums) is not negate
            if t is str:
                n = _number(v)
                return n is not None and (n in nums) is not negate
            return False

        return numbers
    if all(type(x) is str for x in lits):
        strs = frozenset(lits)
        held = frozenset(n for n in map(_number, lits) if n is not None)

        def strings(e: Event) -> bool:
            v = get(e)
            if type(v) is str:
                return (v in strs) is not negate
            return bool(held) and (type(v) is int or type(v) is float) and (v in held) is not negate

        return strings
    eqs = [_compare(_identity, "==", x) for x in lits]
    nes = [_compare(_identity, "!=", x) for x in lits]

    def mixed(e: Event) -> bool:
        v = get(e)
        if any(eq(v) for eq in eqs):
            return not negate
        return negate and any(ne(v) for ne in nes)

    return mixed


def _all(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        pred: Predicate = lambda e: a(e) and b(e)  # noqa: E731
    else:
        pred = lambda e: all(p(e) for p in preds)  # noqa: E731
    known = [s for s in map(statuses, preds) if s is not None]
    return _statuses(pred, frozenset.intersection(*known) if known else None)


def _any(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        pred: Predicate = lambda e: a(e) or b(e)  # noqa: E731
    else:
        pred = lambda e: any(p(e) for p in preds)  # noqa: E731
    each = [statuses(p) for p in preds]
    return _statuses(pred, None if any(s is None for s in each) else frozenset().union(*each))  # type: ignore[arg-type]


# What a condition says of `status`: the HTTP statuses for which it can hold, whatever the other fields are
# (None: any). The parser reads in full only the requests that some rule may want (tailer.pipeline).
_STATUSES = "_kong_tailer_statuses"
_PROBES = range(100, 600)


def statuses(pred: Predicate) -> frozenset[int] | None:
    """The statuses for which `pred` can hold (None: it does not depend on the status alone)."""
    return getattr(pred, _STATUSES, None)


def _statuses(pred: Predicate, codes: frozenset[int] | None) -> Predicate:
    if codes is not None:
        setattr(pred, _STATUSES, codes)
    return pred


def _on_status(pred: Predicate) -> Predicate:
    """A comparison of `status` itself: try it on every status."""
    probe = Http(None, "", "", 0, "", 0, None, None, None, None, None, None, None, None, {})
    codes = set()
    for code in _PROBES:
        probe.status = code
        if pred(probe):
            codes.add(code)
    return _statuses(pred, frozenset(codes))


def _fatal(s: str, loc: int, build: Callable[[], _T]) -> _T:
    """Run a compile step in a parse action; its ConfigError becomes a parse error at `loc`."""
    try:
        return build()
    except ConfigError as err:
        raise pp.ParseFatalException(s, loc, str(err)) from None


class _Field:
    __slots__ = ("path", "get")

    def __init__(self, path: str, get: Getter) -> None:
        self.path = path
        self.get = get


def _field(s: str, loc: int, toks: pp.ParseResults) -> _Field:
    return _Field(toks[0].strip(), _fatal(s, loc, lambda: compile_path(toks[0])))


def _number_literal(s: str, loc: int, toks: pp.ParseResults) -> int | float:
    text: str = toks[0]
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:  # more digits than int() takes
        raise pp.ParseFatalException(s, loc, "number too long") from None


def _string_literal(toks: pp.ParseResults) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m[1], m[0]), toks[0][1:-1])


def _unclosed(s: str, loc: int, toks: pp.ParseResults) -> None:
    raise pp.ParseFatalException(s, loc, "unclosed string")


def _operator(s: str, loc: int, toks: pp.ParseResults) -> str:
    if toks[0] not in _OPS and toks[0] not in ("=~", "!~"):
        raise pp.ParseFatalException(s, loc, f"unknown operator {toks[0]!r} (use == != < <= > >= =~ !~ in)")
    return str(toks[0])


def _condition(s: str, loc: int, toks: pp.ParseResults) -> Predicate:
    field: _Field = toks[0]
    get = field.get
    if len(toks) == 1:
        pred: Predicate = lambda e: bool(get(e))  # noqa: E731
    else:
        op, at, lit = toks[1], toks[2], toks[3]  # `at`: where the literal starts, for a message
        if op in ("in", "not in"):
            pred = _fatal(s, at, lambda: _member(get, list(lit), op == "not in"))
        elif op in ("=~", "!~"):
            pred = _fatal(s, at, lambda: _match(get, op, lit))
        else:
            pred = _fatal(s, at, lambda: _compare(get, op, lit))
    return _on_status(pred) if field.path == "status" else pred


def _negate(toks: pp.ParseResults) -> Predicate:
    p: Predicate = toks[0]
    return lambda e: not p(e)


def _keyword(word: str) -> pp.ParserElement:
    return pp.Regex(word + r"(?![\w-])").set_name(repr(word))


def _grammar() -> pp.ParserElement:
    and_, or_, not_, in_ = (_keyword(w) for w in ("and", "or", "not", "in"))
    lpar, rpar, lbrack, rbrack = (pp.Suppress(c).set_name(repr(c)) for c in "()[]")
    reserved = r"(?!(?:and|or|not|in|true|false|null)(?![\w-]))"
    field = pp.Regex(reserved + r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[[0-9]+\])*").set_name("a field name")
    field.set_parse_action(_field)
    number = pp.Regex(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?").set_parse_action(_number_literal)
    string = pp.Regex(r'"(?:[^"\\]|\\.)*"|' + r"'(?:[^'\\]|\\.)*'", re.S).set_parse_action(_string_literal)
    unclosed = pp.Regex(r"[\"'].*", re.S).set_parse_action(_unclosed)
    constant = (
        _keyword("true").set_parse_action(lambda: True)
        | _keyword("false").set_parse_action(lambda: False)
        | _keyword("null").set_parse_action(lambda: _NULL)
    )
    value = (number | string | unclosed | constant).set_name("a value")
    values = pp.Group(lbrack - value + pp.ZeroOrMore(pp.Suppress(",") - value) - rbrack).set_name("a list like [1, 2]")
    op = pp.Regex(r"[=!<>~]+").set_name("an operator").set_parse_action(_operator)
    not_in = (not_ + in_).set_parse_action(lambda: "not in")
    at = pp.Empty().set_parse_action(lambda s, loc, toks: loc)
    test = field + pp.Optional(op - at + value | (not_in | in_) - at + values)
    expr = pp.Forward()
    exists = _keyword("exists").suppress() + lpar - field - rpar
    exists.set_parse_action(lambda t: _compare(t[0].get, "!=", _NULL))
    atom = (lpar - expr - rpar) | exists | test.set_parse_action(_condition)
    negation = pp.Forward()
    negation <<= ((not_.suppress() - negation).set_parse_action(_negate) | atom).set_name("a condition")
    conjunction = (negation + pp.ZeroOrMore(and_.suppress() - negation)).set_parse_action(lambda t: _all(list(t)))
    expr <<= (conjunction + pp.ZeroOrMore(or_.suppress() - conjunction)).set_parse_action(lambda t: _any(list(t)))
    return expr.set_name("a condition").parse_with_tabs()  # tabs inside a string literal are kept


_GRAMMAR = _grammar()


def compile_when(text: str) -> Predicate:
    """Compile a condition; ConfigError (tailer.errors) saying what is wrong and at which column."""
    if not text.strip():
        raise ConfigError("condition is empty")
    try:
        return _GRAMMAR.parse_string(text, parse_all=True)[0]  # type: ignore[no-any-return]
    except pp.ParseBaseException as err:
        found = _TOKEN.match(text, err.loc)
        msg = err.msg[0].lower() + err.msg[1:] if err.msg.startswith("Expected") else err.msg
        if msg == "expected end of text" and found:
            msg = f"unexpected {found[1]!r}"
        elif msg.startswith("expected"):
            msg += f", found {found[1]!r}" if found else ""
        where = f"line {err.lineno}, column {err.col}" if "\n" in text else f"column {err.col}"
        raise ConfigError(f"condition {_quote(text)}: {msg} at {where}") from None
    except RecursionError:
        raise ConfigError(f"condition {_quote(text)}: nested too deeply") from None


def _quote(text: str) -> str:
    return repr(text) if len(text) <= 100 else repr(text[:100]) + "..."
