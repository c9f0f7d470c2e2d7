"""What the rule files and the configuration file share in telling a mistake: the line a key is set on (tomllib
gives no line numbers), a TOML syntax error as `file:line: ...`, and a "did you mean" for a misspelled name.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Sequence


def key_line(lines: Sequence[str], key: str, header: int = 0, stop: re.Pattern[str] | None = None) -> int:
    """The line (from 1) that sets `key` (`key = ...`, a dotted `key.x = ...`, a `[...key]` sub-table or a
    `[[key]]` header) after line `header` (0: from the top), up to the first line `stop` matches; `header`
    itself (at least 1) if none does."""
    name = re.escape(key)
    pattern = re.compile(rf"\s*(?:[\"']?{name}[\"']?\s*[=.]|\[\[?\s*(?:[\w.-]+\.)?{name}\s*\]\]?)")
    for i in range(header, len(lines)):
        if stop is not None and stop.match(lines[i]):
            break
        if pattern.match(lines[i]):
            return i + 1
    return max(header, 1)


def toml_problem(path: str, exc: tomllib.TOMLDecodeError) -> str:
    """`file:line: not valid TOML: what (column n)`, from tomllib's message."""
    m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    what = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
    if m:
        return f"{path}:{m.group(1)}: not valid TOML: {what} (column {m.group(2)})"
    return f"{path}:1: not valid TOML: {what}"


def did_you_mean(word: object, known: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the known name closest to `word`, or "" when none is close."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
