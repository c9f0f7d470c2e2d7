"""Message templates, Kong webhook-custom style: `Rate limit exceeded by '{{ consumer.username }}'`.

A template is compiled once into literal text and field references. Literal text is the rule author's and is
trusted: it may carry Slack mentions (`<!here>`) or links. Field values come from logs and are not: the caller
passes the escaper of the destination (Slack mrkdwn, a JSON string, nothing), and every value goes through it.
`{* path *}` (Kong's raw form) is read like `{{ path }}`: a log value is never let through unescaped.
`{# ... #}` is a comment. Lua code (`{% ... %}`) and expressions other than a field path are refused. A path
names a field of the alert's event, else one of the alert's own (tailer.alerts.Alert.value); rule loading
checks that one of them can have it (tailer.rules.names).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tailer.errors import ConfigError
from tailer.fields import Getter, compile_path, parse_path

_TAG = re.compile(r"\{\{(.*?)\}\}|\{\*(.*?)\*\}|\{#.*?#\}|\{%(.*?)%\}", re.S)


@dataclass(frozen=True, slots=True)
class Field:
    path: str
    parts: tuple[str | int, ...]
    get: Getter


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    parts: tuple[str | Field, ...]

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(p for p in self.parts if isinstance(p, Field))

    def render(self, value: Callable[[Field], str], escape: Callable[[str], str]) -> str:
        """The text, with each field's value (as text, from `value`) passed through `escape`."""
        return "".join(p if isinstance(p, str) else escape(value(p)) for p in self.parts)


def compile_template(source: str) -> Template:
    """Compile `source`; ConfigError naming the tag that cannot be read."""
    parts: list[str | Field] = []
    pos = 0
    for m in _TAG.finditer(source):
        if m.start() > pos:
            parts.append(source[pos : m.start()])
        pos = m.end()
        if m.group(3) is not None:
            raise ConfigError(f"template tag {m.group()!r}: Lua code is not supported; use {{{{ path.to.field }}}}")
        expr = m.group(1) if m.group(1) is not None else m.group(2)
        if expr is None:  # a comment
            continue
        path = expr.strip()
        try:
            field_parts = parse_path(path)
        except ConfigError as exc:
            raise ConfigError(f"template tag {m.group()!r}: only a field path can go here ({exc})") from None
        parts.append(Field(path, field_parts, compile_path(path)))
    if pos < len(source):
        parts.append(source[pos:])
    rest = "".join(p for p in parts if isinstance(p, str))
    for opener in ("{{", "{*", "{%"):
        if opener in rest:
            raise ConfigError(f"template {source!r}: {opener!r} is never closed")
    return Template(source, tuple(parts))


def no_escape(text: str) -> str:
    return text
