"""What a notifier type declares (`NotifierType`): its options and their checks, how it builds a destination,
which options are secrets, how `check` describes it and how `replay` previews it.

Each type's module declares one (`slack.TYPE`, `webhook.TYPE`, ...) beside its destination; the registry
(`tailer.notify.registry`) maps type names to them, and nothing else looks at a type's name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from tailer.alerts import Message
from tailer.notify.build import secret_option
from tailer.notify.deliver import Destination
from tailer.rules.model import NotifierConfig
from tailer.rules.values import Check

Problem = tuple[str | None, str]  # the key at fault (None: the table), and what is wrong with it
Built = tuple[Destination, str | None]  # a destination, and a warning when it is not the one configured
Build = Callable[[NotifierConfig, Mapping[str, str], TextIO], Built]
Secret = Callable[[NotifierConfig, str, Mapping[str, str]], str | None]


def no_problems(values: Mapping[str, Any]) -> list[Problem]:
    return []


@dataclass(frozen=True, slots=True)
class NotifierType:
    """A notifier type. `options`: its keys beyond the common ones (type, description and the delivery keys),
    each with its check. `validate`: problems of the whole table once every value passed its check. `build`:
    a destination for a table, secrets resolved (ConfigError when one cannot be). `describe`: the line of
    `kong-tailer check`. `payload`: what `replay` shows would be sent (JSON data, or text), with no secret;
    `preview`: the text a person reads, when not the payload itself. `secrets`: the options resolved with
    `secret` that make a delivery what it is (a reload that changes one rebuilds the destination)."""

    name: str
    options: Mapping[str, Check]
    build: Build
    describe: Callable[[NotifierConfig, Mapping[str, str]], str]
    payload: Callable[[Message, NotifierConfig], Any]
    preview: Callable[[Message, NotifierConfig], str] | None = None
    validate: Callable[[Mapping[str, Any]], list[Problem]] = no_problems
    secrets: tuple[str, ...] = ()
    secret: Secret = secret_option
    rate: float | None = None  # the notifier's budget (messages per second) when its table sets none
    builtins: tuple[NotifierConfig, ...] = field(default=())  # notifiers of this type that need no table

    def text(self, message: Message, config: NotifierConfig) -> str:
        """The message as `replay` prints it for a person."""
        if self.preview is not None:
            return self.preview(message, config)
        payload = self.payload(message, config)
        return payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, indent=2)
