"""Notifier types as plug-ins (tailer.notify.registry, tailer.notify.kind) and the daemon's notifiers and senders
(tailer.outlets): a type declared in one place is loaded, checked, described, previewed and built through the
registry alone; outlets keep an unchanged notifier, reconfigure a changed one and retire a removed one."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import pytest

from tailer.alerts import Message
from tailer.commands.check import run_check
from tailer.errors import ConfigError, RulesError
from tailer.notify import SENT, Outcome
from tailer.notify.console import ConsoleDestination
from tailer.notify.deliver import folding
from tailer.notify.kind import Built, NotifierType, Problem
from tailer.notify.registry import BUILTIN_NOTIFIERS, TYPES, destination_for, type_of
from tailer.notify.slack import SlackDestination
from tailer.notify.transport import Transport
from tailer.outlets import Outlets, fingerprint
from tailer.rules.load import load_texts
from tailer.rules.model import NotifierConfig, Rule, RuleSet
from tailer.rules.values import string
from tailer.state import Store
from tailer.template import compile_template
from tests.test_delivery import make_message

# -- a type declared here, as a newcomer would in tailer/notify/pager.py


class PagerDestination:
    def __init__(self, room: str, *, name: str) -> None:
        self.room = room
        self.name = name
        self.sent: list[str] = []

    def render(self, message: Message) -> str:
        return f"{self.room}: {message.key}"

    def send(self, payload: str) -> Outcome:
        self.sent.append(payload)
        return SENT


def _validate(values: Mapping[str, Any]) -> list[Problem]:
    return [] if "room" in values else [(None, "a pager notifier needs a `room`")]


def _build(config: NotifierConfig, environ: Mapping[str, str], console: TextIO) -> Built:
    return PagerDestination(config.options["room"], name=config.name), None


PAGER = NotifierType(
    "pager",
    options={"room": string},
    build=_build,
    describe=lambda config, environ: f"pager room {config.options['room']}",
    payload=lambda message, config: {"room": config.options["room"], "key": message.key},
    validate=_validate,
)


@pytest.fixture
def pager(monkeypatch: pytest.MonkeyPatch) -> NotifierType:
    monkeypatch.setitem(TYPES, "pager", PAGER)  # the one line a new type adds to the registry
    return PAGER


RULE = '[[rule]]\nname = "r"\nkind = "error"\ntext = "x"\nnotify = ["{notifier}"]\n\n'


def test_the_registry_names_every_type_and_the_built_in_notifiers() -> None:
    assert list(TYPES) == ["slack", "webhook", "command", "console"]
    assert all(name == t.name for name, t in TYPES.items())
    assert {name: c.type for name, c in BUILTIN_NOTIFIERS.items()} == {"slack": "slack", "console": "console"}


def test_a_plug_in_type_loads_with_its_own_keys(pager: NotifierType) -> None:
    text = RULE.format(notifier="p") + '[notifier.p]\ntype = "pager"\nroom = "ops"\nrate = 2\n'
    ruleset = load_texts([("a.toml", text)])
    config = ruleset.notifiers["p"]
    assert (config.type, config.options, config.rate, config.line) == ("pager", {"room": "ops"}, 2.0, 7)
    assert type_of(config) is pager


def test_a_plug_in_types_checks_are_reported_with_file_and_line(pager: NotifierType) -> None:
    text = RULE.format(notifier="p") + '[notifier.p]\ntype = "pager"\nroom = 5\nurl = "x"\n'
    with pytest.raises(RulesError) as caught:
        load_texts([("a.toml", text)])
    assert [p for p in caught.value.problems if "notifier 'p':" in p] == [
        "a.toml:10: notifier 'p': unknown key 'url' for a pager notifier (known: backoff_base, backoff_cap, burst, "
        "description, max_retry_after, rate, retry_for, room, timeout, type)",
        "a.toml:9: notifier 'p': room: expected text, got 5",
        "a.toml:7: notifier 'p': a pager notifier needs a `room`",
    ]


def test_an_unknown_type_lists_the_registered_ones() -> None:
    text = RULE.format(notifier="p") + '[notifier.p]\ntype = ["pager"]\n'
    with pytest.raises(RulesError) as caught:
        load_texts([("a.toml", text)])
    assert "a.toml:8: notifier 'p': type must be one of slack, webhook, command, console, not ['pager']" in (
        caught.value.problems
    )


def test_check_describes_a_plug_in_type(pager: NotifierType, tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(RULE.format(notifier="p") + '[notifier.p]\ntype = "pager"\nroom = "ops"\n')
    out, err = io.StringIO(), io.StringIO()
    assert run_check(str(tmp_path), out, err) == 0, err.getvalue()
    assert out.getvalue().endswith("notifiers\n  p                        pager room ops: ok\n")


def test_a_preview_is_the_payload_unless_the_type_has_its_own_text(pager: NotifierType) -> None:
    config = NotifierConfig("p", "pager", "a.toml", 7, None, 1, {"room": "ops"})
    message = make_message("k1", notifier="p")
    assert pager.text(message, config) == json.dumps({"room": "ops", "key": "k1"}, indent=2)
    console = BUILTIN_NOTIFIERS["console"]
    assert type_of(console).text(message, console) == type_of(console).payload(message, console)
    slack = BUILTIN_NOTIFIERS["slack"]
    assert type_of(slack).text(message, slack) != json.dumps(type_of(slack).payload(message, slack), indent=2)


def test_destinations_are_built_through_the_registry(pager: NotifierType) -> None:
    config = NotifierConfig("p", "pager", "a.toml", 7, None, 1, {"room": "ops"})
    destination, warning = destination_for(config, {}, io.StringIO())
    assert isinstance(destination, PagerDestination) and destination.room == "ops" and warning is None


def test_only_a_real_slack_webhook_folds_a_backlog() -> None:
    with Transport() as transport:
        assert folding(SlackDestination("https://hooks.slack.invalid/services/T/B/x", transport)) is not None
    assert folding(ConsoleDestination(io.StringIO())) is None  # a slack notifier without URL falls back to this


def test_the_fingerprint_holds_the_types_secrets_as_they_resolve_now() -> None:
    webhook = NotifierConfig("ops", "webhook", "a.toml", 3, None, 1, {"url_env": "OPS_URL", "secret_env": "KEY"})
    before = fingerprint(webhook, {"OPS_URL": "https://a.invalid/hook", "KEY": "one"})
    assert before[-1] == ("https://a.invalid/hook", "one")
    assert fingerprint(webhook, {"OPS_URL": "https://a.invalid/hook", "KEY": "two"}) != before
    assert fingerprint(BUILTIN_NOTIFIERS["console"], {})[-1] == ()


# -- outlets


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(str(tmp_path / "state")) as s:
        yield s


def ruleset(*notifiers: NotifierConfig) -> RuleSet:
    """A rule per notifier, sending to it."""
    rules = tuple(Rule(f"r-{c.name}", "a.toml", 1, compile_template("x"), (c.name,)) for c in notifiers)
    return RuleSet(rules, {c.name: c for c in notifiers}, ("a.toml",))


def test_outlets_keep_reconfigure_and_retire_notifiers(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    console = NotifierConfig("console", "console", "(built in)", 0, None, 1, {})
    outlets = Outlets(store, io.StringIO())
    first = outlets.prepare(ruleset(console), {})
    assert outlets.names() == [] and outlets.senders == {}  # prepare changes nothing
    outlets.use(first, start=False)
    assert outlets.names() == ["console"]
    sender = outlets.senders["console"]
    message = make_message("k1", notifier="console")
    assert outlets.render(message) == first["console"].destination.render(message)

    again = outlets.prepare(ruleset(console), {})
    assert again["console"] is first["console"]  # unchanged: the same destination
    faster = NotifierConfig("console", "console", "(built in)", 0, 5.0, 2, {})
    changed = outlets.prepare(ruleset(faster), {})
    outlets.use(changed, start=False)
    assert outlets.senders["console"] is sender  # reconfigured in place
    assert sender.destination is changed["console"].destination and sender.policy.rate == 5.0

    store.commit([("k2", "console", "queued")], now=0.0)
    with caplog.at_level(logging.WARNING, logger="tailer.daemon"):
        outlets.use(outlets.prepare(ruleset(), {}), start=False)
    assert outlets.names() == [] and outlets.senders == {}
    assert "notifier 'console' is no longer used by any rule: 1 message(s) for it stay in the outbox" in caplog.text
    outlets.stop()


def test_outlets_health_counts_and_stop(store: Store) -> None:
    console = NotifierConfig("console", "console", "(built in)", 0, None, 1, {})
    outlets = Outlets(store, io.StringIO())
    outlets.use(outlets.prepare(ruleset(console), {}), start=False)
    assert outlets.health(0.0, 5.0) == "the sender of console has stopped"  # not started yet
    assert outlets.counts() == {"console": {"sent": 0, "dead": 0, "retried": 0, "rate_limited": 0}}
    assert outlets.failing_since() == {"console": None} and outlets.degraded() == []
    assert outlets.max_retry_after() == 300.0
    outlets.start()
    try:
        assert outlets.health(outlets.senders["console"].beat, 5.0) is None
    finally:
        outlets.stop()
    assert not outlets.senders["console"].is_alive()


def test_a_secret_that_cannot_be_read_names_the_notifiers_table(store: Store, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    webhook = NotifierConfig("ops", "webhook", "a.toml", 12, None, 1, {"url_file": missing})
    with pytest.raises(ConfigError) as caught:
        Outlets(store, io.StringIO()).prepare(ruleset(webhook), {})
    assert str(caught.value).startswith(f"a.toml:12: notifier 'ops' url: cannot read file {missing!r}")
