"""Silences (`kong-tailer silence`): which alerts they hold back, how the state database counts and keeps what
they held, the command line, and the daemon honouring them live (no reload), telling once when one that held
something back ends, and spending no notifier budget on what they hold.

The daemon is a real process (tests/daemon.py) sending to a real HTTP receiver; the CLI runs through click's
CliRunner, or as a real process beside a running daemon.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import tailer.state
from tailer import silence
from tailer.alerts import Alert
from tailer.cli import main
from tailer.errors import ConfigError
from tailer.events import Error, Event
from tailer.pipeline import Pipeline
from tailer.rules.load import load_texts
from tailer.silence import Matcher, Silence
from tailer.state import Held, Store
from tests.conftest import parse_bytes
from tests.daemon import ROOT, T0, Daemon, entry, marks, wait_until
from tests.receiver import Receiver

NOW = 1_736_935_200.0
DEADLINE = 30.0  # seconds any wait on the daemon may take, under load

# Three rules on one Slack notifier whose budget is one message a second, two at once.
PURE_RULES = """
[notifier.slack]
type = "slack"
url_env = "TEST_WEBHOOK_URL"
rate = 1
burst = 2

[[rule]]
name = "marked"
kind = "error"
when = 'message =~ "ALERT [0-9]+"'
notify = ["slack"]
title = "marked"
text = "{{ message }}"

[[rule]]
name = "upstream-refused"
kind = "error"
when = 'message =~ "refused"'
notify = ["slack"]
text = "refused: {{ message }}"

[[rule]]
name = "upstream-timeout"
kind = "error"
when = 'message =~ "timed out"'
notify = ["slack"]
text = "timeout: {{ message }}"
"""

RULESET = load_texts([("t.toml", PURE_RULES)])
RULE = {r.name: r for r in RULESET.rules}

# For the daemon: a Slack notifier allowed one message a second, a noisy rule to silence, and `marked`.
BUDGET_RULES = """
[notifier.slack]
type = "slack"
url_env = "TEST_WEBHOOK_URL"
rate = 1
burst = 1
backoff_base = 0.2
backoff_cap = 1
timeout = 2

[[rule]]
name = "noisy"
kind = "error"
when = 'message =~ "NOISE"'
notify = ["slack"]
title = "noisy"
text = "{{ message }}"

[[rule]]
name = "marked"
kind = "error"
when = 'message =~ "ALERT [0-9]+"'
notify = ["slack"]
title = "marked"
text = "{{ message }}"
"""

ESC_TEXT = "ALERT 2 \x1b[31mred\x1b[0m\x07 upstream went away"


# =========================================================================== helpers


def sil(
    id: int = 1,
    rule: str = "marked",
    when: str | None = None,
    *,
    starts: float = NOW - 60,
    ends: float = NOW + 3600,
    comment: str = "",
) -> Silence:
    return Silence(id, rule, when, comment, "tester", starts, ends)


def line(second: int, text: str) -> str:
    """An error-log line logged `second` seconds after T0 (several may share a second, unlike entry())."""
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(T0 + second))
    return f'{stamp} [error] 1234#0: *{second} {text}, client: 10.0.0.1, server: kong, request: "GET / HTTP/1.1"\n'


def events(*texts: str, second: int = 1) -> list[Event]:
    """Error-log events of these messages, all logged at the same second, at distinct offsets."""
    out = parse_bytes("".join(line(second, t) for t in texts).encode(), "error")
    assert all(isinstance(e, Error) for e in out) and len(out) == len(texts)
    return out


def message(a: Alert) -> str:
    """The error-log message of the event behind an alert."""
    assert isinstance(a.event, Error)
    return a.event.message


def alert(rule: str, text: str, key: str = "k") -> Alert:
    (event,) = events(text)
    assert event.time is not None
    return Alert(RULE[rule], key, event, event.time, event.time, event.time, 1)


def held_row(silence_id: int, key: str, text: str | None = "text", rule: str = "marked") -> Held:
    return Held(silence_id, rule, key, NOW, text)


def count_of(store: Store, silence_id: int) -> int:
    [s] = [s for s in silence.listing(store.db) if s.id == silence_id]
    return s.silenced


def rules_dir(tmp_path: Path, text: str = PURE_RULES) -> Path:
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    (d / "t.toml").write_text(text)
    return d


def state_dir(tmp_path: Path) -> Path:
    """A state directory with its database, as a daemon leaves it."""
    d = tmp_path / "state"
    Store(str(d)).close()
    return d


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["silence", *args])


def cli(d: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    """`kong-tailer silence ARGS --state-dir <the daemon's>` as a real process, beside the daemon."""
    argv = [sys.executable, "-m", "tailer", "silence", *args, "--state-dir", str(d.state)]
    if args[0] == "add":
        argv += ["--rules", str(d.rules)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})


def title(payload: dict[str, Any]) -> str:
    return str(payload["blocks"][0]["text"]["text"])


def notices(rx: Receiver) -> list[dict[str, Any]]:
    """The messages kong-tailer sent about silences that ended."""
    return [p for p in (r.json() for r in rx.requests) if title(p) == "Silence ended"]


def alerts_seen(rx: Receiver) -> Counter[str]:
    """How many times each `ALERT <n>` arrived, in the rules' messages (not the notices, which quote the
    silence's condition)."""
    seen: Counter[str] = Counter()
    for payload in (r.json() for r in rx.requests):
        if title(payload) != "Silence ended":
            seen.update(dict.fromkeys(marks(payload), 1))
    return seen


def listing_of(d: Daemon, *flags: str) -> str:
    r = cli(d, "list", *flags)
    assert r.returncode == 0, r.stderr
    return r.stdout


# =========================================================================== Matcher and Silence


def test_a_silence_matches_its_rule_by_exact_name_only() -> None:
    m = Matcher([sil(7, "marked")])
    assert m
    assert m.match(alert("marked", "ALERT 1 x")) == 7
    assert m.match(alert("upstream-refused", "connect() refused")) is None
    assert Matcher([sil(7, "Marked")]).match(alert("marked", "ALERT 1 x")) is None  # names are case-sensitive
    assert Matcher([sil(7, "mark")]).match(alert("marked", "ALERT 1 x")) is None  # whole names, not prefixes


def test_a_glob_silences_every_rule_it_matches() -> None:
    m = Matcher([sil(3, "upstream-*")])
    assert m.match(alert("upstream-refused", "connect() refused")) == 3
    assert m.match(alert("upstream-timeout", "upstream timed out")) == 3
    assert m.match(alert("marked", "ALERT 1 x")) is None
    assert Matcher([sil(4, "*")]).match(alert("marked", "ALERT 1 x")) == 4
    assert Matcher([sil(5, "upstream-[rx]*")]).match(alert("upstream-timeout", "upstream timed out")) is None


def test_a_when_condition_narrows_a_silence_to_the_events_it_holds_for() -> None:
    m = Matcher([sil(2, "marked", 'message =~ "ALERT 2"')])
    assert m.match(alert("marked", "ALERT 2 upstream went away")) == 2  # true: held
    assert m.match(alert("marked", "ALERT 3 upstream went away")) is None  # false: passes
    on_level = Matcher([sil(2, "marked", 'level == "warn"')])
    assert on_level.match(alert("marked", "ALERT 2 x")) is None  # every test entry is logged at [error]


def test_the_first_silence_that_holds_an_alert_is_the_one_it_is_counted_with() -> None:
    m = Matcher([sil(9, "marked", 'message =~ "ALERT 3"'), sil(8, "mark*"), sil(1, "marked")])
    assert m.match(alert("marked", "ALERT 3 x")) == 9
    assert m.match(alert("marked", "ALERT 4 x")) == 8


def test_a_silence_whose_condition_cannot_compile_is_said_and_left_out() -> None:
    said: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record)

    handler = Keep(logging.ERROR)
    log = logging.getLogger("tailer.silence")
    log.addHandler(handler)
    try:
        m = Matcher([sil(5, "marked", "message =~"), sil(6, "upstream-*")])
        only_bad = Matcher([sil(5, "marked", 'message =~ "("')])
    finally:
        log.removeHandler(handler)
    assert [s.id for s, _ in m.silences] == [6]
    assert m.match(alert("marked", "ALERT 1 x")) is None  # not silenced by the broken one, nor everything
    assert m.match(alert("upstream-refused", "connect() refused")) == 6  # the others still apply
    assert not only_bad and only_bad.match(alert("marked", "ALERT 1 x")) is None
    messages = [r.getMessage() for r in said]
    assert len(messages) == 2 and all(msg.startswith("silence 5 cannot be applied: condition ") for msg in messages)


def test_a_silence_is_in_force_from_its_start_until_just_before_its_end() -> None:
    s = sil(starts=NOW, ends=NOW + 10)
    assert not s.in_force(NOW - 0.001)
    assert s.in_force(NOW)
    assert s.in_force(NOW + 9.999)
    assert not s.in_force(NOW + 10)
    assert sil(when='message =~ "x"', comment="deploy").describe() == 'rule marked when message =~ "x" (deploy)'
    assert sil(rule="up-*").describe() == "rule up-*"


def test_the_text_kept_of_a_held_alert_is_filled_and_inert() -> None:
    kept = silence.held_text(alert("marked", ESC_TEXT))
    assert kept == "ALERT 2 ␛[31mred␛[0m␇ upstream went away"
    long = silence.held_text(alert("marked", "ALERT 1 " + "x" * 2000))
    assert len(long) == silence.TEXT_MAX


# =========================================================================== the state database


def test_add_listing_and_expire(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        a = silence.add(store.db, "marked", None, 7200, "deploy", "alice", NOW)
        b = silence.add(store.db, "upstream-*", "status >= 500", 60, "", "bob", NOW + 1)
        assert (a.id, a.starts_at, a.ends_at, a.silenced, a.noticed) == (1, NOW, NOW + 7200, 0, False)
        assert silence.listing(store.db) == [b, a]  # newest first
        assert silence.listing(store.db, since=NOW + 100) == [a]  # b ended at NOW + 61

        ended = silence.expire(store.db, a.id, NOW + 10)
        assert ended is not None and (ended.id, ended.ends_at, ended.comment) == (1, NOW + 10, "deploy")
        assert silence.expire(store.db, a.id, NOW + 20) is None  # no longer in force
        assert silence.expire(store.db, 99, NOW + 20) is None  # no such silence
        assert silence.listing(store.db, since=NOW + 10) == [b]
        assert [s.id for s in silence.listing(store.db)] == [2, 1]  # an ended one is still there

    with Store(str(tmp_path)) as store:  # kept in the database, not the connection
        assert [s.id for s in silence.listing(store.db)] == [2, 1]


def test_add_refuses_a_condition_that_does_not_compile(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        with pytest.raises(ConfigError, match=r"^--when: condition 'message =~': expected a value"):
            silence.add(store.db, "marked", "message =~", 60, "", "", NOW)
        assert silence.listing(store.db) == []


def test_held_alerts_are_counted_once_per_key_and_kept_with_text_for_the_first_few(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tailer.state, "KEEP_HELD", 2)
    with Store(str(tmp_path)) as store:
        one = silence.add(store.db, "mark*", None, 3600, "", "", NOW).id
        two = silence.add(store.db, "marked", None, 3600, "", "", NOW).id
        store.commit([], now=NOW, held=[held_row(one, "k1", "t1"), held_row(one, "k2", "t2")])
        assert count_of(store, one) == 2
        store.commit([], now=NOW, held=[held_row(one, "k1", "t1 again")])  # the same bytes read again
        assert count_of(store, one) == 2
        store.commit([], now=NOW, held=[held_row(one, "k3", "t3"), held_row(one, "k3", "t3"), held_row(two, "k1")])
        store.commit([], now=NOW, held=[held_row(one, "k4", "t4", rule="marked-too")])
        assert (count_of(store, one), count_of(store, two)) == (4, 1)
        assert [(h.key, h.text) for h in silence.held(store.db, one)] == [
            ("k1", "t1"),  # the first text stays
            ("k2", "t2"),
            ("k3", None),  # past KEEP_HELD: counted, text not kept
            ("k4", None),
        ]
        assert silence.held(store.db, one)[3] == Held(one, "marked-too", "k4", NOW, None)
        assert [(h.key, h.text) for h in silence.held(store.db, two)] == [("k1", "text")]  # its own first few
        store.commit([], now=NOW, held=[held_row(42, "k9")])  # a silence that is not there: nothing counted
        assert silence.held(store.db, 42) == []


def test_held_alerts_are_counted_in_the_batch_transaction(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        one = silence.add(store.db, "marked", None, 3600, "", "", NOW).id
        with pytest.raises(sqlite3.IntegrityError):
            store.commit([("m", "slack", None)], now=NOW, held=[held_row(one, "k1")])  # type: ignore[list-item]
        assert count_of(store, one) == 0 and silence.held(store.db, one) == []
        store.commit([("m", "slack", "ok")], now=NOW, held=[held_row(one, "k1")])
        assert count_of(store, one) == 1


def test_an_ended_silence_that_held_something_back_is_to_be_told_once(tmp_path: Path) -> None:
    with Store(str(tmp_path)) as store:
        told = silence.add(store.db, "*", None, 3600, "", "", NOW).id
        quiet = silence.add(store.db, "marked", None, 3600, "", "", NOW).id  # holds nothing
        going = silence.add(store.db, "marked", None, 3600, "", "", NOW).id  # holds, still in force
        store.commit(
            [],
            now=NOW,
            held=[
                held_row(told, "a", rule="marked"),
                held_row(told, "b", rule="upstream-refused"),
                held_row(told, "c", rule="marked"),
                held_row(going, "d"),
            ],
        )
        assert silence.ended_unnoticed(store.db, NOW + 10) == []  # none has ended
        silence.expire(store.db, told, NOW + 20)
        silence.expire(store.db, quiet, NOW + 20)
        [(s, rules)] = silence.ended_unnoticed(store.db, NOW + 20)
        assert (s.id, s.silenced, s.noticed, sorted(rules)) == (told, 3, False, ["marked", "upstream-refused"])
        silence.mark_noticed(store.db, told)
        assert silence.ended_unnoticed(store.db, NOW + 30) == []
        assert [s.noticed for s in silence.listing(store.db)] == [False, False, True]
        [(s, rules)] = silence.ended_unnoticed(store.db, NOW + 4000)  # `going` ends by itself
        assert (s.id, rules) == (going, ["marked"])


# =========================================================================== the pipeline (pure)


def test_silenced_alerts_are_held_before_the_budget_and_other_alerts_pass() -> None:
    batch = events(*[f"ALERT 2 storm {i}" for i in range(50)], "ALERT 3 real", "connect() refused")
    p = Pipeline(RULESET)
    p.hold_back(Matcher([sil(1, "marked", 'message =~ "ALERT 2"')]).match)
    outcome = p.feed(batch)
    out = outcome.messages
    assert [[message(a) for a in m.alerts] for m in out] == [["ALERT 3 real"], ["connect() refused"]]
    assert [(i, a.rule.name) for i, a in outcome.held] == [(1, "marked")] * 50
    assert [message(a) for _, a in outcome.held] == [f"ALERT 2 storm {i}" for i in range(50)]
    assert p.finish().messages == []  # nothing waits in a budget's backlog
    assert not any(k.startswith("budget:") for counts in p.stats().values() for k in counts if counts[k])

    control = Pipeline(RULESET)  # the same batch with no silence: the budget (2 at once) holds the rest back
    checked = control.feed(batch)
    first = checked.messages
    assert [len(m.alerts) for m in first] == [1, 1]
    assert [message(a) for m in first for a in m.alerts] == ["ALERT 2 storm 0", "ALERT 2 storm 1"]
    assert checked.held == []


def test_a_glob_silence_in_the_pipeline_holds_only_its_rules() -> None:
    p = Pipeline(RULESET)
    p.hold_back(Matcher([sil(4, "upstream-*")]).match)
    outcome = p.feed(events("connect() refused", "upstream timed out", "ALERT 7 x"))
    assert [a.rule.name for m in outcome.messages for a in m.alerts] == ["marked"]
    assert sorted(a.rule.name for _, a in outcome.held) == ["upstream-refused", "upstream-timeout"]
    p.hold_back(None)  # the silence ended: alerts flow again
    outcome = p.feed(events("connect() refused", second=5))
    assert [a.rule.name for m in outcome.messages for a in m.alerts] == ["upstream-refused"] and outcome.held == []


# =========================================================================== the command line


def test_add_list_show_and_expire(tmp_path: Path) -> None:
    state, rules = state_dir(tmp_path), rules_dir(tmp_path)
    base = ["--state-dir", str(state)]
    empty = invoke("list", *base)
    assert (empty.exit_code, empty.stdout) == (0, "no silence in force\n")
    assert invoke("list", "--all", *base).stdout == "no silence\n"

    added = invoke("add", *base, "--rules", str(rules), "--rule", "marked", "--for", "2h", "--comment", "deploy")
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith("silence 1 in force until ")
    assert added.stdout.endswith(" UTC: rule marked (deploy)\n")
    glob = invoke(
        "add", *base, "--rules", str(rules), "--rule", "upstream-*", "--when", "status >= 500", "--for", "30m"
    )
    assert glob.exit_code == 0 and glob.stdout.endswith(": rule upstream-* when status >= 500\n"), glob.output
    with Store(str(state)) as store:
        [two, one] = silence.listing(store.db)
    assert one.ends_at - one.starts_at == 7200 and two.ends_at - two.starts_at == 1800
    assert abs(one.starts_at - time.time()) < 60 and one.created_by

    listed = invoke("list", *base)
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("2  in force until ") and lines[1].startswith("1  in force until ")
    assert "(29m left): rule upstream-* when status >= 500; held back 0 alert(s), by " in lines[0]
    assert "(1h59m left): rule marked (deploy); held back 0 alert(s), by " in lines[1]

    shown = invoke("show", *base, "1")
    assert (shown.exit_code, shown.stdout) == (0, "silence 1: rule marked (deploy); held back 0 alert(s)\n")
    missing = invoke("show", *base, "9")
    assert missing.exit_code == 2 and "no silence 9" in missing.stderr

    expired = invoke("expire", *base, "1")
    assert (expired.exit_code, expired.stdout) == (0, "silence 1 expired; it held back 0 alert(s)\n")
    again = invoke("expire", *base, "1")
    assert again.exit_code == 2 and "no silence 1 in force" in again.stderr
    unknown = invoke("expire", *base, "77")
    assert unknown.exit_code == 2 and "no silence 77 in force" in unknown.stderr

    after = invoke("list", *base).stdout.splitlines()
    assert [x.split()[0] for x in after] == ["2"]  # the ended one is hidden...
    every = invoke("list", "--all", *base).stdout.splitlines()
    assert [x.split()[0] for x in every] == ["2", "1"]  # ...unless --all
    assert every[1].startswith("1  ended ") and "rule marked (deploy); held back 0 alert(s)" in every[1]
    assert invoke("show", *base, "1").exit_code == 0  # an ended silence can still be shown


def test_add_refuses_a_rule_no_rule_has_and_names_the_rules(tmp_path: Path) -> None:
    state, rules = state_dir(tmp_path), rules_dir(tmp_path)
    for pattern in ("nosuch", "Marked", "gateway-*"):
        r = invoke("add", "--state-dir", str(state), "--rules", str(rules), "--rule", pattern, "--for", "1h")
        assert r.exit_code == 2 and r.stdout == ""
        assert f"--rule {pattern!r}: no rule of {rules} has that name" in r.stderr
        assert "(rules: marked, upstream-refused, upstream-timeout)" in r.stderr
    assert invoke("list", "--all", "--state-dir", str(state)).stdout == "no silence\n"  # nothing added


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("message =~", "--when: condition 'message =~': expected a value at column 11"),
        ('message =~ "("', "--when: condition 'message =~ \"(\"': bad regex '('"),
        ('level == "error" and', "expected a condition at column 21"),
    ],
)
def test_add_refuses_a_bad_condition_and_says_what_is_wrong(tmp_path: Path, when: str, problem: str) -> None:
    state, rules = state_dir(tmp_path), rules_dir(tmp_path)
    r = invoke(
        "add", "--state-dir", str(state), "--rules", str(rules), "--rule", "marked", "--when", when, "--for", "1h"
    )
    assert r.exit_code == 2 and problem in r.stderr, r.stderr
    assert invoke("list", "--all", "--state-dir", str(state)).stdout == "no silence\n"


@pytest.mark.parametrize(
    ("length", "problem"),
    [
        ("soon", "--for: 'soon' is not a duration"),
        ("2x", "--for: '2x' is not a duration"),
        ("0", "--for: a silence must last some time"),
        ("0s", "--for: a silence must last some time"),
    ],
)
def test_add_refuses_a_bad_duration(tmp_path: Path, length: str, problem: str) -> None:
    state, rules = state_dir(tmp_path), rules_dir(tmp_path)
    r = invoke("add", "--state-dir", str(state), "--rules", str(rules), "--rule", "marked", "--for", length)
    assert r.exit_code == 2 and problem in r.stderr, r.stderr
    assert invoke("list", "--all", "--state-dir", str(state)).stdout == "no silence\n"


def test_every_command_needs_an_existing_state_database(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path)
    nowhere = tmp_path / "state"
    for args in (
        ["add", "--rules", str(rules), "--rule", "marked", "--for", "1h"],
        ["list"],
        ["list", "--all"],
        ["show", "1"],
        ["expire", "1"],
    ):
        r = invoke(*args, "--state-dir", str(nowhere))
        assert r.exit_code == 3, (args, r.output)
        assert f"kong-tailer: error: {nowhere}: no state database here" in r.stderr
    assert not nowhere.exists()  # none of them made one


def test_values_from_logs_and_controls_are_shown_inert(tmp_path: Path) -> None:
    state, rules = state_dir(tmp_path), rules_dir(tmp_path)
    r = invoke(
        "add", "--state-dir", str(state), "--rules", str(rules), "--rule", "marked", "--for", "1h",
        "--comment", "red \x1b[31mtext\x1b[0m",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    with Store(str(state)) as store:
        store.commit([], now=NOW, held=[Held(1, "marked", "0123456789abcdef", NOW, "ALERT 9 \x1b]0;owned\x07 \x9b2J")])
    shown = invoke("show", "--state-dir", str(state), "1").stdout
    listed = invoke("list", "--state-dir", str(state)).stdout
    for out in (shown, listed):
        assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in out), repr(out)
        assert "rule marked (red ␛[31mtext␛[0m)" in out
    assert shown.splitlines()[1].endswith("  marked  key 0123456789ab  ALERT 9 ␛]0;owned␇ \ufffd2J")
    assert "held back 1 alert(s)" in listed


# =========================================================================== the daemon


def test_a_silence_added_while_the_daemon_runs_holds_back_live_and_its_end_is_told_once(
    daemon: Daemon, rx: Receiver
) -> None:
    daemon.write(entry(1))
    daemon.start()
    wait_until(lambda: alerts_seen(rx) == {"1": 1}, DEADLINE, "ALERT 1")

    added = cli(daemon, "add", "--rule", "marked", "--when", 'message =~ "ALERT 2"', "--for", "2h", "--comment", "k")
    assert added.returncode == 0 and added.stdout.startswith("silence 1 in force until "), added.stderr
    daemon.wait_for_log("silence 1 in force until", DEADLINE)  # read within a second, no reload

    daemon.write(entry(2, ESC_TEXT) + entry(3))
    wait_until(lambda: "3" in alerts_seen(rx), DEADLINE, "ALERT 3")
    assert alerts_seen(rx) == {"1": 1, "3": 1}  # ALERT 2 was read before ALERT 3, and not sent
    wait_until(lambda: "held back 1 alert(s)" in listing_of(daemon), DEADLINE, "the held alert counted")
    shown = cli(daemon, "show", "1")
    assert shown.returncode == 0, shown.stderr
    head, *held = shown.stdout.splitlines()
    assert head == 'silence 1: rule marked when message =~ "ALERT 2" (k); held back 1 alert(s)'
    assert len(held) == 1 and held[0].startswith("2025-01-15 10:00:02 UTC  marked  key ")
    assert held[0].endswith("  ALERT 2 ␛[31mred␛[0m␇ upstream went away"), held[0]

    expired = cli(daemon, "expire", "1")
    assert (expired.returncode, expired.stdout) == (0, "silence 1 expired; it held back 1 alert(s)\n")
    wait_until(lambda: notices(rx), DEADLINE, "the notice that the silence ended")
    [notice] = notices(rx)
    body = notice["text"]
    assert body.startswith('Silence 1 (rule marked when message =~ "ALERT 2" (k)) ended ')
    assert "it held back 1 alert(s) of marked. See them with ˋkong-tailer silence show 1ˋ." in body
    context = notice["blocks"][-1]["elements"][0]["text"]
    assert context.startswith("rule kong-tailer · ")  # the built-in rule's message

    daemon.wait_for_log("silence 1 has ended", DEADLINE)
    daemon.write(entry(4, "ALERT 2 once more"))
    wait_until(lambda: "2" in alerts_seen(rx), DEADLINE, "ALERT 2 after the silence")
    assert daemon.stop() == 0
    with Store(str(daemon.state)) as store:
        assert [s.noticed for s in silence.listing(store.db)] == [True]
        store.db.execute("DELETE FROM outbox WHERE state = 'sent'")  # as pruning does after a week: keys gone

    daemon.start()  # the end was told: a restart does not tell it again
    daemon.write(entry(5))
    wait_until(lambda: "5" in alerts_seen(rx), DEADLINE, "ALERT 5 after the restart")
    assert daemon.stop() == 0
    assert alerts_seen(rx) == {"1": 1, "2": 1, "3": 1, "5": 1}
    assert len(notices(rx)) == 1
    assert listing_of(daemon) == "no silence in force\n"
    assert listing_of(daemon, "--all").startswith("1  ended ")


def test_a_short_silence_ends_by_itself_and_alerts_flow_again(daemon: Daemon, rx: Receiver) -> None:
    daemon.start()
    added = cli(daemon, "add", "--rule", "marked", "--for", "3s")
    assert added.returncode == 0, added.stderr
    daemon.wait_for_log("silence 1 in force until", DEADLINE)
    daemon.write(entry(1))
    wait_until(lambda: "held back 1 alert(s)" in listing_of(daemon, "--all"), DEADLINE, "ALERT 1 held back")
    daemon.wait_for_log("silence 1 has ended", DEADLINE)
    assert listing_of(daemon) == "no silence in force\n"
    daemon.write(entry(2))
    wait_until(lambda: alerts_seen(rx) == {"2": 1}, DEADLINE, "ALERT 2 after the silence ended")
    wait_until(lambda: notices(rx), DEADLINE, "the notice that the silence ended")
    [notice] = notices(rx)
    assert "it held back 1 alert(s) of marked" in notice["text"]
    assert daemon.stop() == 0
    assert alerts_seen(rx) == {"2": 1}


def test_silenced_alerts_use_none_of_the_notifiers_budget(tmp_path: Path, rx: Receiver) -> None:
    d = Daemon(tmp_path, rx.url, rules=BUDGET_RULES)
    try:
        d.start()
        added = cli(d, "add", "--rule", "noisy", "--for", "1h", "--comment", "flapping")
        assert added.returncode == 0, added.stderr
        d.wait_for_log("silence 1 in force until", DEADLINE)
        # 51 alerts within one second of log time, where the budget allows one message a second.
        d.write("".join(line(1, f"NOISE {i} upstream flapping") for i in range(50)) + line(1, "ALERT 51 went away"))
        [first] = wait_until(lambda: rx.requests, DEADLINE, "the unsilenced alert")
        payload = first.json()
        assert title(payload) == "marked"  # the rule's own message, not a digest ("N alerts held back")
        assert set(marks(payload)) == {"51"} and "NOISE" not in first.body.decode()
        assert payload["text"] == "ALERT 51 went away"
        context = payload["blocks"][-1]["elements"][0]["text"]
        assert context.startswith("rule marked · ") and "digest" not in context
        wait_until(lambda: "held back 50 alert(s)" in listing_of(d), DEADLINE, "the 50 held alerts counted")
        assert len(rx.requests) == 1

        assert cli(d, "expire", "1").returncode == 0
        wait_until(lambda: notices(rx), DEADLINE, "the notice that the silence ended")
        assert "it held back 50 alert(s) of noisy" in notices(rx)[0]["text"]
        assert d.stop() == 0
        assert [title(r.json()) for r in rx.requests] == ["marked", "Silence ended"]
    finally:
        d.close()
