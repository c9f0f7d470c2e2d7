"""What building a destination from a `[notifier.NAME]` table takes, whatever the type: its delivery policy,
its secrets, and how `check` names where a URL comes from.

Secrets are resolved when something is about to be sent, not when rules are loaded: `check` and a dry-run
`replay` need no URL.
"""

from __future__ import annotations

from collections.abc import Mapping

from tailer.notify.deliver import DeliveryPolicy
from tailer.rules.model import NotifierConfig
from tailer.secrets import resolve_secret

BUILT_IN = "(built in)"  # the `file` of a notifier that exists without being declared
URL_KEYS = ("url", "url_env", "url_file", "url_credential")
_POLICY_KEYS = ("timeout", "max_retry_after", "retry_for", "backoff_base", "backoff_cap")


def policy_for(config: NotifierConfig) -> DeliveryPolicy:
    """The delivery knobs of a notifier: its own where set, the defaults otherwise."""
    knobs = {k: float(config.options[k]) for k in _POLICY_KEYS if k in config.options}
    return DeliveryPolicy(rate=config.rate, burst=config.burst, **knobs)


def secret_option(
    config: NotifierConfig, what: str, environ: Mapping[str, str], options: Mapping[str, str] | None = None
) -> str | None:
    """The `url` (or `secret`) of a notifier from its file, credential, environment variable or literal;
    `options` in place of the notifier's own, when given."""
    o = config.options if options is None else options
    return resolve_secret(
        f"notifier '{config.name}' {what}",
        value=o.get(what),
        env=o.get(f"{what}_env"),
        file=o.get(f"{what}_file"),
        credential=o.get(f"{what}_credential"),
        environ=environ,
    )


def describe_url(config: NotifierConfig, environ: Mapping[str, str]) -> str:
    """`webhook, URL from $OPS_URL (set)`: the type and where its URL is read from."""
    o = config.options
    sources = [f"${o['url_env']}" if "url_env" in o else "", o.get("url_file", ""), o.get("url_credential", "")]
    where = " or ".join(s for s in sources if s) or ("url in the rule file" if "url" in o else "?")
    ready = ""
    if "url_env" in o and not any(k in o for k in ("url", "url_file", "url_credential")):
        ready = " (set)" if environ.get(o["url_env"]) else " (not set)"
    return f"{config.type}, URL from {where}{ready}"


def needs_url(values: Mapping[str, object]) -> list[tuple[str | None, str]]:
    """The problem of a table that names no URL, for a type that sends to one."""
    if set(URL_KEYS) & set(values):
        return []
    return [(None, "needs a URL: url_env, url_file, url_credential or url")]
