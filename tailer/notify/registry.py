"""Every notifier type, by name. A type is one module that declares a `NotifierType` (its options, checks,
destination, description and preview) and one line here; nothing else names a type.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TextIO

from tailer.errors import ConfigError
from tailer.notify import command, console, slack, webhook
from tailer.notify.kind import Built, NotifierType
from tailer.rules.model import NotifierConfig
from tailer.secrets import CredentialUnavailable

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


def ready(config: NotifierConfig, environ: Mapping[str, str]) -> str | None:
    """Whether `run` could send through `config` now, as it would build it, with nothing sent: the warning it
    would log (None: none); ConfigError, naming the notifier's table, when a secret cannot be read (the error
    `run` stops with). No secret is in either."""
    try:
        destination, warning = destination_for(config, environ, io.StringIO())
    except ConfigError as exc:
        if not config.line or str(exc).startswith(config.file):
            raise
        located = f"{config.file}:{config.line}: {exc}"
        if isinstance(exc, CredentialUnavailable):
            raise CredentialUnavailable(located, exc.credential) from None
        raise ConfigError(located) from None
    transport = getattr(destination, "transport", None)
    if transport is not None:
        transport.close()
    return warning
