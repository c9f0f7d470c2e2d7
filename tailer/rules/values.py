"""Value checks shared by rule and notifier tables: each returns the value (converted) or raises ValueError with
a short reason, which the loader puts after `file:line: who: key:`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tailer.template import compile_template

Check = Callable[[Any], Any]


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
