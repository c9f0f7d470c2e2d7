"""Every notifier type, by name. A type is one module that declares a `NotifierType` (its options, checks,
destination, description and preview) and one line here; nothing else names a type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from tailer.notify import command, console, slack, webhook
from tailer.notify.kind import Built, NotifierType
from tailer.rules.model import NotifierConfig

TYPES: dict[str, NotifierType] = {
    t.name: t
    for t in (
        slack.TYPE,
        webhook.TYPE,
        command.TYPE,
        console.TYPE,
    )
}

BUILTIN_NOTIFIERS: dict[str, NotifierConfig] = {c.name: c for t in TYPES.values() for c in t.builtins}
"""The notifiers that exist without being declared: `slack` (the URL in `$SLACK_WEBHOOK_URL`) and `console`."""


def type_of(config: NotifierConfig) -> NotifierType:
    """The declaration of a (loaded, so valid) notifier's type."""
    return TYPES[config.type]


def destination_for(config: NotifierConfig, environ: Mapping[str, str], stream: TextIO) -> Built:
    """A destination for `config`, secrets resolved (a console one writes to `stream`), and a warning to show
    when it is not the one configured."""
    return type_of(config).build(config, environ, stream)
