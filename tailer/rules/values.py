"""Value checks shared by rule tables, notifier tables and aggregations (tailer.rules.aggregations): each returns
the value (converted) or raises ValueError with a short reason, which the loader puts after `file:line: who: key:`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from tailer.fields import compile_path
from tailer.rules.model import Paths
from tailer.template import compile_template

Check = Callable[[Any], Any]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.I)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def string(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected text, got {v!r}")
    return v


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def strings(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"expected a list of text, got {v!r}")
    return tuple(v)


def template_text(v: Any) -> str:
    """Text that compiles as a template, kept as text."""
    compile_template(string(v))
    return str(v)


def one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, not {v!r}")
        return str(v)

    return check


def positive(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise ValueError(f"expected a number above 0, got {v!r}")
    return float(v)


def count(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"expected a whole number of at least 1, got {v!r}")
    return v


def string_map(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise ValueError("expected a table of text values")
    return dict(v)


def duration(value: Any) -> float:
    """Seconds from `300`, `2.5`, `"90s"`, `"5m"`, `"1h30m"`, `"2d"`."""
    if isinstance(value, bool):
        raise ValueError('a duration is a number of seconds or text such as "5m"')
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return float(text)
        total, pos = 0.0, 0
        for m in _DURATION.finditer(text):
            if text[pos : m.start()].strip():
                break
            total += float(m.group(1)) * _UNITS[m.group(2).lower()]
            pos = m.end()
        else:
            if pos and not text[pos:].strip():
                return total
    raise ValueError(f'{value!r} is not a duration (seconds, or text such as "90s", "5m", "2h", "1d")')


def paths(v: Any) -> Paths:
    """Field paths (`unique`, `group_by`, `new_value`), compiled."""
    names = strings(v)
    return Paths(names, tuple(compile_path(n) for n in names))


def count_within(v: Any) -> tuple[int, float]:
    """`{ count = N, within = T }`, as `threshold` and `flatline` both take it."""
    t = table(v, {"count": count, "within": duration}, ("count", "within"))
    return t["count"], t["within"]


def table(v: Any, keys: dict[str, Callable[[Any], Any]], required: Iterable[str]) -> dict[str, Any]:
    """An inline table of known `keys`, each value through its check, the `required` ones present."""
    if not isinstance(v, dict):
        raise ValueError(f"expected an inline table such as {{ {', '.join(f'{k} = ...' for k in required)} }}")
    unknown = set(v) - set(keys)
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (known: {', '.join(keys)})")
    missing = [k for k in required if k not in v]
    if missing:
        raise ValueError(f"{missing[0]} is missing")
    return {k: keys[k](x) for k, x in v.items()}
