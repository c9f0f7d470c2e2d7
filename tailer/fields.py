"""Field paths: how rules and templates name a value of an event (`status`, `consumer.username`, `hosts[1]`).

A path is compiled once into a getter. The first name is looked up on the event: its own fields first
(`kind`, `time`, `host`, `status`, `source`, ...), then, for an Event Hooks event, the hook's `data` (so
`consumer.username` reads like a Kong webhook-custom template), and for a request, the access log's `extra`
fields (a custom log_format's variables, file-log's `service`, and the `cause`/`error` that the correlation
stage joins in). The rest of the path walks into tables; `[n]` indexes a list from 1, as Lua does.
A value that is not there is `MISSING`, never an exception.

Rule loading learns which paths a rule's keys name (a condition, a template, `group_by`...) by compiling them
inside `collect_paths()`, and checks them against the fields events have (tailer.rules.names).
"""

from __future__ import annotations

import dataclasses
import json
import operator
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from tailer.errors import ConfigError
from tailer.events import Event, EventHook, Http


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"  # pickled as the name of the one instance (tailer.snapshot)


MISSING: Any = _Missing()

Getter = Callable[[Event], Any]

_SEGMENT = re.compile(r"\s*(?:\.\s*([A-Za-z_][\w-]*)|\[\s*(\d+)\s*\])")
_FIRST = re.compile(r"\s*([A-Za-z_][\w-]*)")


def parse_path(path: str) -> tuple[str | int, ...]:
    """`consumer.username` → ("consumer", "username"); `hosts[1]` → ("hosts", 0). ConfigError if malformed."""
    m = _FIRST.match(path)
    if m is None:
        raise ConfigError(f"field path {path!r} must start with a name (letters, digits, _ or -)")
    parts: list[str | int] = [m.group(1)]
    pos = m.end()
    while pos < len(path.rstrip()):
        m = _SEGMENT.match(path, pos)
        if m is None:
            raise ConfigError(f"field path {path!r}: cannot read {path[pos:].strip()!r} (write a.b.c or a[1])")
        if m.group(1) is not None:
            parts.append(m.group(1))
        else:
            index = int(m.group(2))
            if index < 1:
                raise ConfigError(f"field path {path!r}: list indexes start at 1, as in Lua")
            parts.append(index - 1)
        pos = m.end()
    return tuple(parts)


_OWN: dict[type, frozenset[str]] = {}


def _own_fields(cls: type) -> frozenset[str]:
    names = _OWN.get(cls)
    if names is None:
        names = _OWN[cls] = frozenset(f.name for f in dataclasses.fields(cls)) | {"kind"}
    return names


_COMMON = _own_fields(Event)  # fields of every event


def step(value: Any, part: str | int) -> Any:
    """One step of a path into a decoded table."""
    if isinstance(part, int):
        if isinstance(value, list) and part < len(value):
            return value[part]
        if isinstance(value, dict):  # a Lua table with holes decodes as a dict of int keys
            return value.get(part + 1, MISSING)
        return MISSING
    if isinstance(value, dict):
        return value.get(part, MISSING)
    return MISSING


def _reader(cls: type, name: str) -> Getter:
    """How to read the first name of a path on events of class `cls`."""
    if name in _own_fields(cls):
        return operator.attrgetter(name)
    if cls is EventHook:
        return lambda event: event.data.get(name, MISSING)  # type: ignore[attr-defined]
    if cls is Http:
        return lambda event: event.extra.get(name, MISSING)  # type: ignore[attr-defined]
    return lambda event: MISSING


def _first(name: str) -> Getter:
    """A getter for the first name of a path: where it is read (the event's own field, a hook's `data`, a
    request's `extra`; see the module docstring) is decided once per event class, not per event."""
    if name in _COMMON:  # a field of every event: read in C
        return operator.attrgetter(name)
    readers: dict[type, Getter] = {}

    def get(event: Event) -> Any:
        read = readers.get(type(event))
        if read is None:
            read = readers[type(event)] = _reader(type(event), name)
        return read(event)

    return get


Named = list[tuple[str | int, ...]]
_COLLECTING: ContextVar[Named | None] = ContextVar("_COLLECTING", default=None)


@contextmanager
def collect_paths() -> Iterator[Named]:
    """The paths `compile_path` compiles inside the block, parsed, in order (repeats included)."""
    named: Named = []
    token = _COLLECTING.set(named)
    try:
        yield named
    finally:
        _COLLECTING.reset(token)


def compile_path(path: str) -> Getter:
    """A function that reads `path` from an event (MISSING when absent)."""
    parts = parse_path(path)
    collecting = _COLLECTING.get()
    if collecting is not None:
        collecting.append(parts)
    first, rest = parts[0], parts[1:]
    assert isinstance(first, str)
    head = _first(first)
    if not rest:
        return head

    def get(event: Event) -> Any:
        value = head(event)
        for part in rest:
            value = step(value, part)
            if value is MISSING:
                break
        return value

    return get


def show(value: Any, missing: str) -> str:
    """A value as text for a message: Lua-like for scalars, compact JSON for tables."""
    if value is MISSING or value is None:
        return missing
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dict | list):
        if not value:
            return missing
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)
