"""Slack incoming webhook: escaping, Block Kit payload and size limits; reading Slack's answers (`classify`).

Rule text (`text`, `title`) is the rule author's and trusted: `<!here>` or `<https://...|label>` written there
stays live. Every value from a log goes through `escape`, so `<!channel>` in a consumer name shows as text and
pings nobody. mrkdwn text objects are `verbatim`, so Slack does not turn a plain `@here` or `#channel` of a
value into a mention or link either; `<...>` written by the rule author still works. Limits are applied after
escaping, and a cut never splits an entity (`&amp;`) or leaves half a `<...>` sequence.

A message is laid out once as a `Card` (escaped text, no Slack structure), then written as blocks (`render`)
or as lines for a dry run (`render_text`). A backlog of rendered messages folds into one (`fold`). A slack
notifier with no URL anywhere sends to the console, with a warning: on a new host the alerts are seen before
Slack is set up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from tailer.alerts import Alert, Message
from tailer.notify import Outcome
from tailer.notify.build import BUILT_IN, URL_KEYS, describe_url, needs_url, policy_for, secret_option
from tailer.notify.console import ConsoleDestination
from tailer.notify.kind import Built, NotifierType
from tailer.notify.summary import by_rule, capped, controls, count_suffix, dated_span, fields, origin, tally
from tailer.notify.transport import Request, Transport, classify_http, describe, exchange
from tailer.rules.model import NotifierConfig
from tailer.rules.values import string

MARKER = "… (truncated)"
PLACEHOLDER = "-"  # Slack refuses an empty text object

MAX_BLOCKS = 50
MAX_TEXT = 3000  # a section's text, a context element, and the message's fallback `text`
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_LINE = 200  # one listed alert (a group member, a digest entry)
MAX_MEMBERS = 10  # group members listed before "+N more"
MAX_PER_RULE = 3  # alerts listed per rule in a digest
MAX_RULES = MAX_BLOCKS - 5  # rule sections in a digest; the rest are summed in one more section

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "ˋ"})


def escape(text: str) -> str:
    """An untrusted value as mrkdwn text: `&`, `<`, `>` as entities (nothing else), backtick as `ˋ` so it
    cannot close a code span, control characters other than tab and newline made visible and inert."""
    return controls(text).translate(_ESCAPES)


def plain(text: str) -> str:
    """An untrusted value as plain_text (a header): no markup to escape, only control characters."""
    return controls(text)


def truncate(text: str, limit: int, marker: str = MARKER, *, markup: bool = True) -> str:
    """`text` cut to at most `limit` characters, `marker` included. With `markup`, the cut never splits an
    entity (`&amp;`, `&lt;`, `&gt;`) or leaves an unclosed `<...` sequence: it moves back before it."""
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return marker[:limit]
    kept = text[: limit - len(marker)]
    if markup:
        kept = _whole(kept)
    return kept + marker


def _whole(kept: str) -> str:
    """`kept` without a trailing partial entity or unclosed `<...` sequence."""
    amp = kept.rfind("&", max(0, len(kept) - 4))  # an entity is at most 5 characters long (`&amp;`)
    if amp >= 0 and ";" not in kept[amp:]:
        kept = kept[:amp]
    lt = kept.rfind("<")
    if lt > kept.rfind(">"):
        kept = kept[:lt]
    return kept


@dataclass(slots=True)
class Card:
    """A message laid out, escaped for Slack, before it is written as blocks or lines."""

    fallback: str  # the message's `text`: notifications and clients without blocks
    title: str  # plain text
    sections: list[str]  # mrkdwn
    context: str  # mrkdwn
    fields: list[tuple[str, str]] = field(default_factory=list)  # (label, escaped value)


def card(message: Message) -> Card:
    """The message laid out: one alert, or a digest of several."""
    if len(message.alerts) == 1:
        return _single(message.alerts[0], message.key)
    return _digest(message)


def _single(alert: Alert, key: str) -> Card:
    text = alert.render("text", escape)
    suffix = count_suffix(alert)
    fallback = truncate(text, MAX_TEXT - len(suffix)) + suffix  # the count survives a cut
    sections = [text]
    if alert.members:
        sections.append(_members(alert.members))
    return Card(
        fallback=fallback,
        title=" ".join(alert.render("title", plain).split()) or alert.rule.name,
        sections=sections,
        context=escape(origin(alert, key)),
        fields=[(label, escape(value)) for label, value in fields(alert)],
    )


def _members(members: list[Alert]) -> str:
    lines = capped(members, MAX_MEMBERS, _line)
    return "\n".join([f"*Grouped: {tally(members)}*", *lines])


def _line(alert: Alert) -> str:
    """One alert as one list line: `• <its text, on one line> (×3)` (the count once: not if the text says it)."""
    text = " ".join(alert.render("text", escape).split())
    return truncate(f"• {text}{count_suffix(alert, spans=False)}", MAX_LINE)


def _digest(message: Message) -> Card:
    rules = list(by_rule(message.alerts).items())
    sections = [_rule_section(name, alerts) for name, alerts in rules[:MAX_RULES]]
    rest = [a for _, alerts in rules[MAX_RULES:] for a in alerts]
    if rest:
        sections.append(f"*+{len(rules) - MAX_RULES} more rules*: {tally(rest)}")
    totals = tally(message.alerts)
    hosts = ", ".join(dict.fromkeys(a.event.host for a in message.alerts))
    context = f"digest · {totals} · {escape(hosts)}"
    if message.alerts:
        first = min(a.first for a in message.alerts)
        last = max(a.last for a in message.alerts)
        context += f" · {dated_span(first, last)}"
    return Card(
        fallback=f"{totals} held back: " + "; ".join(f"{escape(n)}: {tally(a)}" for n, a in rules),
        title=f"{totals} held back",
        sections=sections,
        context=f"{context} · key {message.key[:12]}",
    )


def _rule_section(name: str, alerts: list[Alert]) -> str:
    lines = capped(alerts, MAX_PER_RULE, _line)
    return "\n".join([f"*{escape(name)}*: {tally(alerts)}", *lines])


def render(message: Message) -> dict[str, Any]:
    """The JSON body for an incoming webhook: `{"text": fallback, "blocks": [...]}` within Slack's limits."""
    c = card(message)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _fit(c.title, MAX_HEADER, markup=False)}}
    ]
    blocks += [{"type": "section", "text": _mrkdwn(s, MAX_TEXT)} for s in c.sections]
    if c.fields:
        blocks.append({"type": "section", "fields": [_mrkdwn(_field(*f), MAX_FIELD) for f in c.fields[:MAX_FIELDS]]})
    context = {"type": "context", "elements": [_mrkdwn(c.context, MAX_TEXT)]}
    blocks = [*blocks[: MAX_BLOCKS - 1], context]
    return {"text": _fit(c.fallback, MAX_TEXT), "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def fold(payloads: list[str], keys: list[str], span_text: str) -> dict[str, Any]:
    """One message for a backlog of rendered ones (Slack was down, or we fell behind its rate): a line per
    message from its already escaped `text` (each of the sender's at most 100 messages, in sections of Slack's
    3000 characters), and every message's key, so that none is lost from sight."""
    n = len(payloads)
    lines = [" ".join(str(json.loads(p).get("text", "")).split()) for p in payloads]
    title = f"{n} messages held back"
    context = f"backlog · {span_text} · keys " + " ".join(k[:12] for k in keys)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title}}]
    section: list[str] = []  # every message keeps its line: as many sections as they take
    size = 0  # of the section's lines, each with its newline
    for line in (truncate(f"• {line}", MAX_LINE) for line in lines):
        if section and size + len(line) > MAX_TEXT:
            blocks.append({"type": "section", "text": _mrkdwn("\n".join(section), MAX_TEXT)})
            section, size = [], 0
        section.append(line)
        size += len(line) + 1
    blocks.append({"type": "section", "text": _mrkdwn("\n".join(section), MAX_TEXT)})
    blocks.append({"type": "context", "elements": [_mrkdwn(context, MAX_TEXT)]})
    fallback = f"{title}: " + "; ".join(lines)
    return {"text": _fit(fallback, MAX_TEXT), "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def render_text(message: Message) -> str:
    """The same content as `render`, as lines for a person (a dry run): what Slack would be sent, escaped."""
    c = card(message)
    lines = [_fit(c.title, MAX_HEADER, markup=False), ""]
    for section in c.sections:
        lines += [_fit(section, MAX_TEXT), ""]
    lines += [f"{label}: {_fit(value, MAX_FIELD)}" for label, value in c.fields[:MAX_FIELDS]]
    lines.append(_fit(c.context, MAX_TEXT))
    return "\n".join(lines)


def _field(label: str, value: str) -> str:
    head = f"*{label}*\n"
    return head + _fit(value, MAX_FIELD - len(head))


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _fit(text, limit), "verbatim": True}


def _fit(text: str, limit: int, *, markup: bool = True) -> str:
    """`text` within `limit`, never empty: Slack refuses an empty (or blank) text."""
    text = truncate(text, limit, markup=markup)
    return text if text.strip() else PLACEHOLDER


# --- reading Slack's answers


def classify(status: int, headers: Mapping[str, str], body: str) -> Outcome:
    """Slack's answer to a webhook post (slack-webhooks.md §2): 200 `ok` is sent; 429 retries after its
    Retry-After; 5xx (and 408) retry with backoff; every other status is dead with `<status> <body>`
    (`400 invalid_payload`, `403 action_prohibited`, `404 no_service`, `410 channel_is_archived`, ...).
    A 2xx whose body is not `ok` (not Slack's answer: a proxy, a look-alike service) still counts as sent,
    with `<status> <body>` as the reason so that it shows in the logs."""
    outcome = classify_http(status, headers, body)
    if outcome.status == "sent" and body.strip() != "ok":
        return Outcome("sent", describe(status, body))
    return outcome


# --- the notifier type


class SlackDestination:
    """A Slack incoming webhook: POST the Block Kit message as JSON. A backlog folds into one message."""

    def __init__(
        self,
        url: str,
        transport: Transport,
        *,
        render: Callable[[Message], Any] | None = None,
        name: str = "slack",
    ) -> None:
        self.url = url
        self.transport = transport
        self.renderer = render
        self.name = name

    def render(self, message: Message) -> str:
        return json.dumps((self.renderer or render)(message), ensure_ascii=False)

    def send(self, payload: str) -> Outcome:
        request = Request("POST", self.url, {"content-type": "application/json"}, payload.encode(), None)
        return exchange(self.transport, request, classify)

    def fold(self, payloads: list[str], keys: list[str], span_text: str) -> str:
        """One payload for a backlog of rendered ones (`fold`)."""
        return json.dumps(fold(payloads, keys, span_text), ensure_ascii=False)


BUILTIN_CREDENTIAL = "slack-webhook"  # systemd/kong-tailer.service: LoadCredential=slack-webhook:...
BUILTIN = NotifierConfig("slack", "slack", BUILT_IN, 0, 1.0, 1, {"url_env": "SLACK_WEBHOOK_URL"})


def secret(config: NotifierConfig, what: str, environ: Mapping[str, str]) -> str | None:
    """`build.secret_option`; the built-in `slack` notifier also reads the unit's `slack-webhook` credential,
    when there is one."""
    o = config.options
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if (
        config.file == BUILT_IN
        and what == "url"
        and not environ.get(o.get("url_env", ""))
        and directory
        and os.path.exists(os.path.join(directory, BUILTIN_CREDENTIAL))
    ):
        o = {**o, "url_credential": BUILTIN_CREDENTIAL}
    return secret_option(config, what, environ, o)


def build(config: NotifierConfig, environ: Mapping[str, str], console: TextIO) -> Built:
    """The webhook; with no URL anywhere, the console, with a warning: on a new host the alerts are seen
    before Slack is set up."""
    name = config.name
    timeout = policy_for(config).timeout
    url = secret(config, "url", environ)
    if url is None:
        where = config.options.get("url_env", "SLACK_WEBHOOK_URL")
        warning = f"notifier '{name}': no webhook URL (${where} is not set): its messages go to the console"
        return ConsoleDestination(console, name=name), warning
    return SlackDestination(url, Transport(timeout=timeout), name=name), None


def payload(message: Message, config: NotifierConfig) -> Any:
    return render(message)


def preview(message: Message, config: NotifierConfig) -> str:
    return render_text(message)


TYPE = NotifierType(
    "slack",
    options=dict.fromkeys(URL_KEYS, string),
    build=build,
    describe=describe_url,
    payload=payload,
    preview=preview,
    validate=needs_url,
    secrets=("url",),
    secret=secret,
    rate=1.0,
    builtins=(BUILTIN,),
)
