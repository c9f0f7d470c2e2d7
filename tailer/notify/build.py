"""Notifier configurations (`[notifier.NAME]`) → destinations that deliver, and the delivery policy of each.

Secrets are resolved here, when something is about to be sent, not when rules are loaded: `check` and a
dry-run `replay` need no URL. A `slack` notifier with no URL anywhere falls back to the console, with a
warning: on a new host the alerts are seen before Slack is set up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

from tailer.errors import ConfigError
from tailer.notify.deliver import (
    CommandDestination,
    ConsoleDestination,
    DeliveryPolicy,
    Destination,
    SlackDestination,
    WebhookDestination,
)
from tailer.notify.transport import Transport
from tailer.rules.model import NotifierConfig
from tailer.secrets import resolve_secret

_POLICY_KEYS = ("timeout", "max_retry_after", "retry_for", "backoff_base", "backoff_cap")


def policy_for(config: NotifierConfig) -> DeliveryPolicy:
    """The delivery knobs of a notifier: its own where set, the defaults otherwise."""
    knobs = {k: float(config.options[k]) for k in _POLICY_KEYS if k in config.options}
    return DeliveryPolicy(rate=config.rate, burst=config.burst, **knobs)


BUILTIN_CREDENTIAL = "slack-webhook"  # systemd/kong-tailer.service: LoadCredential=slack-webhook:...


def secret_option(config: NotifierConfig, what: str, environ: Mapping[str, str]) -> str | None:
    """The `url` (or `secret`) of a notifier from its file, credential, environment variable or literal.
    The built-in `slack` notifier also reads the unit's `slack-webhook` credential, when there is one."""
    o = config.options
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if (
        config.file == "(built in)"
        and what == "url"
        and not environ.get(o.get("url_env", ""))
        and directory
        and os.path.exists(os.path.join(directory, BUILTIN_CREDENTIAL))
    ):
        o = {**o, "url_credential": BUILTIN_CREDENTIAL}
    return resolve_secret(
        f"notifier '{config.name}' {what}",
        value=o.get(what),
        env=o.get(f"{what}_env"),
        file=o.get(f"{what}_file"),
        credential=o.get(f"{what}_credential"),
        environ=environ,
    )


def destination_for(
    config: NotifierConfig, environ: Mapping[str, str], console: TextIO
) -> tuple[Destination, str | None]:
    """A destination for `config`, and a warning to show when it is not the one configured."""
    name = config.name
    timeout = policy_for(config).timeout
    if config.type == "console":
        return ConsoleDestination(console, name=name), None
    if config.type == "command":
        argv = config.options["argv"]
        env = dict(config.options["env"]) if "env" in config.options else None
        return CommandDestination(argv, timeout, env=env, name=name), None
    url = secret_option(config, "url", environ)
    if config.type == "slack":
        if url is None:
            where = config.options.get("url_env", "SLACK_WEBHOOK_URL")
            warning = f"notifier '{name}': no webhook URL (${where} is not set): its messages go to the console"
            return ConsoleDestination(console, name=name), warning
        return SlackDestination(url, Transport(timeout=timeout), name=name), None
    if url is None:
        raise ConfigError(f"{config.file}:{config.line}: notifier '{name}': no URL found (url_env, url_file, ...)")
    options = {**config.options, "url": url}
    secret = secret_option(config, "secret", environ)
    if secret is not None:
        options["secret"] = secret
    return WebhookDestination(options, Transport(timeout=timeout), name=name), None
