"""SIGHUP reloads `kong-tailer run` (a real process, real files, a real HTTP receiver for Slack, a real datagram
socket for systemd): a good rule set or --config file replaces the running one and keeps the rules' state
(windows, snoozes) by rule name; a bad one is refused with its file and line, and the old rules go on; no line
is lost or alerted twice across reloads, not even while Slack is down.

Lines are stamped with the current time (not `T0`): rule time follows the clock when the daemon is idle, and a
10-minute window or snooze has to still be open after the reload. Every wait is a poll with a deadline; the
only `time.sleep` paces a writer.

The daemon's loop sees a signal's flag when it next goes round: at once while files change, else within its
period (1 s). To keep the file fast, `reload` and `stop` follow the signal with a new empty file in the watched
logs directory (`nudge`), which wakes the loop as any file event does; the systemd test reloads without it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import ROOT, RULES, Daemon, delivered, marks, wait_until
from tests.receiver import Receiver, Reply
from tests.test_systemd_notify import FakeSystemd

DEADLINE = 30.0  # seconds: generous, for a loaded machine
RELOADED = "kong-tailer: info: reloaded: "
REFUSED = "kong-tailer: error: reload refused, the running rules and configuration go on: "


# -- helpers


def line(n: int, text: str | None = None, client: str = "10.0.0.1") -> str:
    """An error-log entry stamped now (UTC; the daemon runs with --tz UTC), alerting as `ALERT <n>` unless
    `text` says else. Short, so that a backlog message of 100 still holds every mark in its text."""
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime())
    body = text if text is not None else f"ALERT {n}"
    return f'{stamp} [error] 1234#0: *{n} {body}, client: {client}, server: kong, request: "GET / HTTP/1.1"\n'


def versioned(version: str) -> str:
    """The harness's rules with the `marked` rule's text saying which set it is: `<version> ALERT <n>`."""
    return RULES.replace('text = "{{ message }}"', f'text = "{version} {{{{ message }}}}"')


def rule(name: str, when: str, text: str, **settings: str) -> str:
    """One more `[[rule]]` table (error entries, to the harness's `slack` notifier); `settings` as TOML."""
    extra = "".join(f"{key} = {value}\n" for key, value in settings.items())
    return (
        f'\n[[rule]]\nname = {name!r}\nkind = "error"\nwhen = \'{when}\'\n{extra}notify = ["slack"]\ntext = {text!r}\n'
    )


def texts(rx: Receiver, start: int = 0) -> list[str]:
    """Every request received (from the `start`th on), as its JSON text."""
    return [json.dumps(r.json(), ensure_ascii=False) for r in rx.requests[start:]]


def occurrences(rx: Receiver, text: str) -> int:
    """How many requests hold `text`."""
    return sum(text in t for t in texts(rx))


_nudges = count()


def nudge(d: Daemon) -> None:
    """Wake the daemon's loop now, rather than at the end of its period: a new (empty, unfollowed) file in
    the directory it watches."""
    (d.logs / f".nudge-{next(_nudges)}").touch()


def reload(d: Daemon, rules: str | None = None, *, refused: bool = False, wake: bool = True) -> str:
    """Write `rules` (if given) as the rule file, send SIGHUP (and `nudge`, with `wake`), wait for the daemon to
    say it reloaded or refused; what it logged meanwhile. AssertionError if it did the other thing, or exited."""
    if rules is not None:
        (d.rules / "test.toml").write_text(rules)
    before = d.log_text()
    ok, bad = before.count(RELOADED), before.count(REFUSED)
    assert d.proc is not None
    d.proc.send_signal(signal.SIGHUP)
    if wake:
        nudge(d)

    def answered() -> bool:
        text = d.log_text()
        if d.proc is not None and d.proc.poll() is not None:
            raise AssertionError(f"the daemon exited ({d.proc.returncode}) on SIGHUP:\n{text}")
        return text.count(RELOADED) > ok or text.count(REFUSED) > bad

    wait_until(answered, DEADLINE, "the reload to be done")
    said = d.log_text()[len(before) :]
    assert (REFUSED if refused else RELOADED) in said, said
    return said


def stop(d: Daemon) -> int:
    """SIGTERM, nudged; the exit code."""
    assert d.proc is not None
    d.proc.send_signal(signal.SIGTERM)
    nudge(d)
    return d.wait_exit()


def reloaded_line(said: str) -> str:
    """The `reloaded: ...` line among what the daemon logged."""
    return next(text for text in said.splitlines() if text.startswith(RELOADED))


def wait_delivered(rx: Receiver, want: dict[str, int], what: str) -> None:
    wait_until(lambda: delivered(rx) == want, DEADLINE, what)


def delivered_since(rx: Receiver, start: int = 0, *, but: str | None = None) -> dict[str, int]:
    """`delivered`, over the requests from the `start`th on (those that were answered 200), leaving out the
    messages whose text starts with `but` (a backlog message only lists their text: it is counted)."""
    seen: dict[str, int] = {}
    for request in rx.requests[start:]:
        payload = request.json()
        if but is not None and str(payload.get("text", "")).startswith(but):
            continue
        seen.update((n, seen.get(n, 0) + 1) for n in dict.fromkeys(marks(payload)))
    return seen


def ones(*ns: int) -> dict[str, int]:
    return {str(n): 1 for n in ns}


def heal(rx: Receiver) -> int:
    """Slack answers 200 from now on; how many requests came before (all answered by the failing default).
    Under the receiver's lock, which also picks each request's reply: no request is counted on the wrong side."""
    with rx._lock:
        rx._default = Reply()
        return len(rx._received)


class ConfigDaemon(Daemon):
    """The daemon configured by `--config FILE`; `args` are flags given besides (they override the file)."""

    def __init__(self, root: Path, url: str, config: str, *, rules: str = RULES, args: tuple[str, ...] = ()) -> None:
        super().__init__(root, url, rules=rules, logs=(), args=args)
        self.config = root / "config.toml"
        self.config.write_text(config)

    def start(self, *, wait: bool = True, env: dict[str, str] | None = None) -> None:
        self.runs += 1
        environ = {k: v for k, v in os.environ.items() if k not in ("SLACK_WEBHOOK_URL", "JOURNAL_STREAM")}
        environ.update(PYTHONPATH=str(ROOT), PYTHONFAULTHANDLER="1", **(env or {}))
        environ["TEST_WEBHOOK_URL"] = f"{self.url}/services/T0/B0/secret"
        argv = [sys.executable, "-m", "tailer", "run", "--config", str(self.config), *self.args]
        with open(self.stderr_path, "wb") as err, open(self.root / f"stdout.{self.runs}", "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, env=environ)
        if wait:
            self.wait_for_log("following")


def config_text(d: Daemon, followed: list[str], **settings: Any) -> str:
    """A --config file following `followed` (names in the daemon's logs/), with its rules and state, reading
    from the beginning, in UTC; `settings` add or replace keys."""
    values: dict[str, Any] = {
        "logs": [str(d.logs / name) for name in followed],
        "rules": str(d.rules),
        "state_dir": str(d.state),
        "start_at": "beginning",
        "tz": "UTC",
        "host": "gw",
        "rotate_wait": "1s",
        **settings,
    }
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[tuple[FakeSystemd, dict[str, str]]]:
    path = str(tmp_path / "notify.sock")
    fake = FakeSystemd(path)
    yield fake, {"NOTIFY_SOCKET": path}
    fake.close()


# -- 1. a good set replaces the old one


def test_a_good_rule_set_replaces_the_running_one(daemon: Daemon, rx: Receiver) -> None:
    (daemon.rules / "test.toml").write_text(versioned("old"))
    daemon.write(line(1))
    daemon.start()
    wait_delivered(rx, ones(1), "ALERT 1")
    said = reload(daemon, versioned("new") + rule("extra", 'message =~ "EXTRA"', "extra {{ message }}"))
    assert f"reloaded: 2 rule(s) from {daemon.rules / 'test.toml'}, notifiers slack; following " in said
    daemon.write(line(2) + line(3, "EXTRA three"))
    wait_until(lambda: occurrences(rx, "extra EXTRA three") == 1, DEADLINE, "the new rule's alert")
    wait_delivered(rx, ones(1, 2), "ALERT 2")
    assert stop(daemon) == 0
    assert occurrences(rx, "old ALERT 1") == 1
    assert occurrences(rx, "new ALERT 2") == 1
    assert occurrences(rx, "old ALERT 2") == 0  # the old text is gone
    assert occurrences(rx, "new ALERT 1") == 0  # and nothing was read again


def test_a_notifier_whose_url_file_changed_sends_to_the_new_url(daemon: Daemon, rx: Receiver) -> None:
    url = daemon.root / "slack-url"
    url.write_text(f"{rx.url}/services/T0/B0/first\n")
    rules = RULES.replace('url_env = "TEST_WEBHOOK_URL"', f"url_file = {json.dumps(str(url))}")
    (daemon.rules / "test.toml").write_text(rules)
    daemon.write(line(1))
    daemon.start()
    wait_delivered(rx, ones(1), "ALERT 1")
    url.write_text(f"{rx.url}/services/T0/B0/second\n")
    reload(daemon)  # the same rules: only the credential changed
    daemon.write(line(2))
    wait_delivered(rx, ones(1, 2), "ALERT 2")
    assert stop(daemon) == 0
    assert [r.path for r in rx.requests] == ["/services/T0/B0/first", "/services/T0/B0/second"]
    assert "/services/T0/B0/second" not in daemon.log_text()  # the new secret is redacted too


# -- 2. the rules' state is carried over, by rule name


def test_a_threshold_window_is_kept_across_a_reload(daemon: Daemon, rx: Receiver) -> None:
    burst = {"group_by": '["client"]', "threshold": '{ count = 3, within = "10m" }'}
    (daemon.rules / "test.toml").write_text(
        versioned("v1") + rule("burst", 'message =~ "BURST"', "v1 burst {{ count }} from {{ client }}", **burst)
    )
    daemon.start()
    a, b = "10.0.0.1", "10.0.0.2"
    daemon.write(
        line(1, "BURST", a) + line(2, "BURST", b) + line(3, "BURST", a) + line(4, "BURST", b) + line(5)
    )  # two per client, then a marker: once ALERT 5 is in, the four were counted
    wait_delivered(rx, ones(5), "ALERT 5")
    new = versioned("v2") + rule("burst", 'message =~ "BURST"', "v2 burst {{ count }} from {{ client }}", **burst)
    control = rule("burst-fresh", 'message =~ "BURST"', "fresh burst {{ count }} from {{ client }}", **burst)
    reload(daemon, new + control)  # `burst-fresh` is new: it starts from nothing, as `burst` would if reset
    daemon.write(line(6, "BURST", a) + line(7))
    wait_delivered(rx, ones(5, 7), "ALERT 7")
    wait_until(lambda: occurrences(rx, "v2 burst 3 from 10.0.0.1") == 1, DEADLINE, "the threshold alert")
    assert stop(daemon) == 0
    assert occurrences(rx, "burst") == 1, texts(rx)  # not client b (2 lines), not the reset control (1 line)


def test_a_snooze_is_kept_across_a_reload(daemon: Daemon, rx: Receiver) -> None:
    (daemon.rules / "test.toml").write_text(
        versioned("v1") + rule("snoozed", 'message =~ "SNOOZE"', "v1 {{ message }}", snooze='"10m"')
    )
    daemon.start()
    daemon.write(line(1, "SNOOZE one") + line(2))
    wait_delivered(rx, ones(2), "ALERT 2")
    wait_until(lambda: occurrences(rx, "v1 SNOOZE one") == 1, DEADLINE, "the first snoozed alert")
    new = versioned("v2") + rule("snoozed", 'message =~ "SNOOZE"', "v2 {{ message }}", snooze='"10m"')
    control = rule("snoozed-fresh", 'message =~ "SNOOZE"', "fresh {{ message }}", snooze='"10m"')
    reload(daemon, new + control)
    daemon.write(line(3, "SNOOZE two") + line(4))
    # Both came after `SNOOZE two` was judged: the new rule saw it (its control did), and let nothing out.
    wait_until(lambda: occurrences(rx, "fresh SNOOZE two") == 1, DEADLINE, "the control rule's alert")
    wait_delivered(rx, ones(2, 4), "ALERT 4")
    assert stop(daemon) == 0
    assert occurrences(rx, "SNOOZE two") == 1, texts(rx)  # the control's only, not `v2 SNOOZE two`
    assert occurrences(rx, "v1 SNOOZE one") == 1


# -- 3. a bad set is refused, and the old rules go on


BAD = versioned("bad")  # each broken set below is this one, with one mistake


def _broken(mistake: str, text: str) -> tuple[str, int]:
    """A broken rule set, and the line of its `mistake`."""
    return text, text.splitlines().index(mistake) + 1


BROKEN_TOML = _broken("text = ", BAD + '\n[[rule]]\nname = "half"\ntext = \n')
UNKNOWN_KEY = _broken('colour = "red"', BAD.replace('title = "marked"', 'title = "marked"\ncolour = "red"'))
UNKNOWN_NOTIFIER = _broken('notify = ["pager"]', BAD.replace('notify = ["slack"]', 'notify = ["pager"]'))
BAD_THRESHOLD = _broken(
    "threshold = { count = 0, within = 60 }",
    BAD.replace('title = "marked"', 'title = "marked"\nthreshold = { count = 0, within = 60 }'),
)
NO_URL_FILE = BAD.replace('url_env = "TEST_WEBHOOK_URL"', 'url_file = "/nonexistent/slack-url"')
NO_CREDENTIAL = BAD.replace('url_env = "TEST_WEBHOOK_URL"', 'url_credential = "slack-url"')


@pytest.mark.parametrize(
    ("rules", "line_no", "reason"),
    [
        pytest.param(*BROKEN_TOML, "not valid TOML", id="broken-toml"),
        pytest.param(*UNKNOWN_KEY, "rule 'marked': unknown key 'colour'", id="unknown-key"),
        pytest.param(*UNKNOWN_NOTIFIER, "rule 'marked': notify: no notifier 'pager'", id="unknown-notifier"),
        pytest.param(
            *BAD_THRESHOLD, "rule 'marked': threshold: expected a whole number of at least 1, got 0", id="bad-value"
        ),
        # Found when the notifier's secret is read: named with its [notifier.slack] table's file and line.
        pytest.param(NO_URL_FILE, 2, "notifier 'slack' url: cannot read file '/nonexistent/slack-url'", id="url-file"),
        pytest.param(
            NO_CREDENTIAL, 2, "notifier 'slack' url: systemd credential 'slack-url' not found", id="credential"
        ),
    ],
)
def test_a_broken_rule_set_is_refused_and_the_old_rules_go_on(
    daemon: Daemon, rx: Receiver, rules: str, line_no: int | None, reason: str
) -> None:
    (daemon.rules / "test.toml").write_text(versioned("old"))
    daemon.start()
    daemon.write(line(1))
    wait_delivered(rx, ones(1), "ALERT 1")
    said = reload(daemon, rules, refused=True)
    where = f"{daemon.rules / 'test.toml'}:{line_no}: " if line_no is not None else ""
    assert f"{REFUSED}{where}{reason}" in said, said
    assert RELOADED not in said
    daemon.write(line(2))
    wait_delivered(rx, ones(1, 2), "ALERT 2 by the old rules")
    reload(daemon, versioned("fixed"))  # the next good set is taken
    daemon.write(line(3))
    wait_delivered(rx, ones(1, 2, 3), "ALERT 3 by the new rules")
    assert stop(daemon) == 0
    assert [occurrences(rx, f"{v} ALERT {n}") for v, n in [("old", 1), ("old", 2), ("fixed", 3)]] == [1, 1, 1]
    assert occurrences(rx, "bad ALERT") == 0


@pytest.mark.parametrize(
    ("bad", "named", "reason"),
    [
        pytest.param("logs = [\n", True, "not valid TOML", id="broken-toml"),
        pytest.param({"logz": ["x"]}, True, "unknown setting 'logz'", id="unknown-setting"),
        pytest.param({"start_at": "middle"}, True, "start_at: 'middle' is not one of 'end', 'beginning'", id="choice"),
        pytest.param({"max_line": 3}, True, "max_line: 3 is not in the range", id="number"),
        pytest.param({"logs": "error.log"}, True, "logs has the wrong type (str)", id="type"),
        # Checked once the file is read, still named with the file and the setting.
        pytest.param({"rotate_wait": "soon"}, True, "rotate_wait: 'soon' is not a duration", id="duration"),
        pytest.param({"tz": "Mars/Base"}, True, "tz: ", id="zone"),
        pytest.param({"format": "xml"}, True, "format: 'xml' is not one of", id="format-key"),
    ],
)
def test_a_broken_config_file_is_refused_and_the_old_configuration_goes_on(
    tmp_path: Path, rx: Receiver, bad: str | dict[str, Any], named: bool, reason: str
) -> None:
    d = ConfigDaemon(tmp_path, rx.url, "", rules=versioned("old"))
    good = config_text(d, ["error.log"])
    d.config.write_text(good)
    try:
        d.write(line(1))
        d.start()
        wait_delivered(rx, ones(1), "ALERT 1")
        d.config.write_text(bad if isinstance(bad, str) else config_text(d, ["error.log"], **bad))
        said = reload(d, BAD, refused=True)  # good rules, with a bad configuration: neither is taken
        at = re.escape(f"{d.config}:") + r"\d+: " if named else ""  # the file and the line of the setting
        assert re.search(re.escape(REFUSED) + at + re.escape(reason), said), said
        d.write(line(2))
        wait_delivered(rx, ones(1, 2), "ALERT 2 under the old configuration")
        d.config.write_text(good)
        reload(d, versioned("fixed"))
        d.write(line(3))
        wait_delivered(rx, ones(1, 2, 3), "ALERT 3")
        assert stop(d) == 0
    finally:
        d.close()
    assert [occurrences(rx, f"{v} ALERT {n}") for v, n in [("old", 1), ("old", 2), ("fixed", 3)]] == [1, 1, 1]
    assert occurrences(rx, "bad ALERT") == 0


# -- 4. systemd's notify protocol


def notices(fake: FakeSystemd, start: int) -> list[str]:
    return [m for _, m in fake.poll()[start:]]


def test_reloading_and_ready_are_sent_and_a_refusal_shows_in_the_status(
    tmp_path: Path, rx: Receiver, systemd: tuple[FakeSystemd, dict[str, str]]
) -> None:
    fake, env = systemd
    d = Daemon(tmp_path, rx.url, env=env)
    try:
        d.write("")  # the file exists, empty
        d.start()
        wait_until(lambda: fake.saw("READY=1"), DEADLINE, "READY=1")

        def reload_notices(rules: str, refused: bool) -> tuple[str, str]:
            """The RELOADING=1 and the next READY=1 datagrams of one reload (checking the clock's value)."""
            start = len(fake.poll())
            sent = time.monotonic_ns() // 1000
            reload(d, rules, refused=refused, wake=False)  # the signal alone
            got = wait_until(
                lambda: [m for m in notices(fake, start) if "READY=1" in m] and notices(fake, start),
                DEADLINE,
                "READY=1 after the reload",
            )
            first = next((i for i, m in enumerate(got) if m.startswith("RELOADING=1\n")), None)
            assert first is not None, f"no RELOADING=1 before READY=1: {got}"
            ready = next(m for m in got[first:] if "READY=1" in m)
            reloading = got[first].split("\n")
            assert reloading[0] == "RELOADING=1" and reloading[2] == "STATUS=reloading", got[first]
            usec = re.fullmatch(r"MONOTONIC_USEC=(\d+)", reloading[1])
            assert usec is not None, got[first]
            assert sent <= int(usec.group(1)) <= time.monotonic_ns() // 1000  # CLOCK_MONOTONIC, in µs
            assert ready.startswith("READY=1\nSTATUS="), ready
            return got[first], ready

        _, ready = reload_notices(versioned("v2"), refused=False)
        assert "STATUS=following 1 file(s)" in ready and "reload refused" not in ready

        start = len(fake.poll())
        _, ready = reload_notices(RULES.replace("title =", "colour = 1\ntitle ="), refused=True)
        assert f"; reload refused: {d.rules / 'test.toml'}:" in ready and "unknown key 'colour'" in ready, ready
        # The regular status updates say so too, until a reload is taken.
        wait_until(
            lambda: [m for m in notices(fake, start) if m.startswith("STATUS=") and "reload refused" in m],
            DEADLINE,
            "a STATUS update saying the reload was refused",
        )
        d.write(line(1))
        wait_delivered(rx, ones(1), "ALERT 1")
        assert occurrences(rx, "v2 ALERT 1") == 1  # the set of the last good reload

        _, ready = reload_notices(versioned("v3"), refused=False)
        assert "reload refused" not in ready, ready
        start = len(fake.poll())
        wait_until(lambda: [m for m in notices(fake, start) if m.startswith("STATUS=")], DEADLINE, "a STATUS update")
        assert not [m for m in notices(fake, start) if "reload refused" in m]
        assert stop(d) == 0
        assert fake.poll()[-1][1] == "STOPPING=1"
    finally:
        d.close()


# -- 5. the --config file is read again; flags still override it


def test_a_log_added_to_the_config_file_is_followed(tmp_path: Path, rx: Receiver) -> None:
    d = ConfigDaemon(tmp_path, rx.url, "")
    d.config.write_text(config_text(d, ["a.log"]))
    try:
        d.write(line(1), "a.log")
        d.write(line(2), "b.log")  # not followed yet
        d.start()
        wait_delivered(rx, ones(1), "ALERT 1")
        d.config.write_text(config_text(d, ["a.log", "b.log"], state_dir=str(tmp_path / "elsewhere")))
        said = reload(d)
        assert f"following {d.logs / 'a.log'}, {d.logs / 'b.log'}" in said, said
        # state_dir changed in the file: that takes a restart, said so, and the state stays where it was
        assert f"state_dir changed from {d.state} to {tmp_path / 'elsewhere'}: that takes a restart" in said
        wait_delivered(rx, ones(1, 2), "ALERT 2 from b.log, read from its beginning")
        d.write(line(3), "b.log")
        d.write(line(4), "a.log")
        wait_delivered(rx, ones(1, 2, 3, 4), "ALERT 3 and 4")
        assert stop(d) == 0
    finally:
        d.close()
    assert not (tmp_path / "elsewhere").exists()


def test_flags_still_override_the_config_file_after_a_reload(tmp_path: Path, rx: Receiver) -> None:
    flagged_state = tmp_path / "flag-state"
    args = ("--log", str(tmp_path / "logs" / "a.log"), "--state-dir", str(flagged_state))
    d = ConfigDaemon(tmp_path, rx.url, "", args=args)
    d.config.write_text(config_text(d, ["b.log"]))
    try:
        d.write(line(1), "a.log")
        d.write(line(2), "b.log")  # named only by the file: never followed
        d.start()
        wait_delivered(rx, ones(1), "ALERT 1")
        d.config.write_text(config_text(d, ["b.log", "c.log"], state_dir=str(tmp_path / "file-state")))
        said = reload(d, versioned("v2"))
        assert reloaded_line(said).endswith(f"; following {d.logs / 'a.log'}"), said
        assert "state_dir changed" not in said  # --state-dir still wins: nothing changed
        d.write(line(3), "c.log")
        d.write(line(4), "b.log")
        d.write(line(5), "a.log")
        wait_delivered(rx, ones(1, 5), "ALERT 5 from a.log")
        assert stop(d) == 0
    finally:
        d.close()
    assert occurrences(rx, "v2 ALERT 5") == 1
    assert (flagged_state / "state.db").exists()
    assert not (tmp_path / "file-state").exists() and not d.state.exists()


# -- 6. nothing lost or repeated across reloads


def test_no_line_is_lost_or_alerted_twice_while_reloading(daemon: Daemon, rx: Receiver) -> None:
    total, reloads = 200, 3
    # Around each reload point (every 50 lines) the lines alert nothing: the reader's last batch before the
    # reload holds no message, so only the reload's own commit saves how far it read.
    quiet = {n for k in range(1, reloads + 1) for n in range(50 * k - 9, 50 * k + 11)}
    alerting = [n for n in range(1, total + 1) if n not in quiet]
    # Over every line: fires once, on the 200th, if each line is counted once (lines read twice by a rebuilt
    # follower would make it fire earlier; a window reset by a reload, never).
    within = '{ count = 200, within = "10m" }'
    counter = rule("all-lines", 'message =~ "ALERT|QUIET"', "COUNTED {{ count }} at line {{ conn }}", threshold=within)
    (daemon.rules / "test.toml").write_text(versioned("v0") + counter)
    daemon.start()
    done = 0  # reloads done
    written = 0

    def writer() -> None:
        nonlocal written
        for n in range(1, total + 1):
            # Each reload falls in the stream: at most 25 lines are written past its point before it is done.
            wait_until(lambda n=n: done >= reloads or n <= 50 * (done + 1) + 25, DEADLINE, f"reload {done + 1}")
            daemon.write(line(n, f"QUIET {n}" if n in quiet else None))
            written = n
            time.sleep(0.002)  # pacing only

    with ThreadPoolExecutor(1) as pool:
        writing = pool.submit(writer)
        for k in range(1, reloads + 1):
            wait_until(lambda k=k: written >= 50 * k or writing.done(), DEADLINE, f"{50 * k} lines written")
            reload(daemon, versioned(f"v{k}") + counter)
            done = k
        writing.result()
    # (The counting rule's own message shows its latest line, ALERT 200, among its fields: not counted.)
    wait_until(lambda: delivered_since(rx, but="COUNTED") == ones(*alerting), DEADLINE, "every alert once")
    wait_until(lambda: occurrences(rx, "COUNTED 200 at line 200") == 1, DEADLINE, "the counting rule's alert")
    assert stop(daemon) == 0
    assert delivered_since(rx, but="COUNTED") == ones(*alerting)
    assert occurrences(rx, "COUNTED") == 1, [t for t in texts(rx) if "COUNTED" in t]
    # Each line was judged by the rules running when it was read: the set's version never goes back.
    version = {int(n): int(v) for t in texts(rx) for v, n in re.findall(r"v(\d) ALERT (\d+)", t)}
    assert sorted(version) == alerting
    got = [version[n] for n in alerting]
    assert got == sorted(got), got
    assert all(version[n] >= k for k in range(1, reloads + 1) for n in alerting if n > 50 * k + 25), got
    assert daemon.log_text().count(RELOADED) == reloads


def test_a_line_half_written_at_the_reload_is_read_whole_once(daemon: Daemon, rx: Receiver) -> None:
    daemon.start()
    whole = line(1)
    daemon.write(whole[:30])
    reload(daemon, versioned("v2"))
    daemon.write(whole[30:] + line(2))
    wait_delivered(rx, ones(1, 2), "ALERT 1 and 2")
    assert stop(daemon) == 0
    assert occurrences(rx, "v2 ALERT 1") == 1


# -- 7. a reload while Slack is down


@pytest.mark.parametrize("notifier", ["unchanged", "changed"])
def test_a_reload_while_slack_is_down_keeps_the_queued_messages(tmp_path: Path, notifier: str) -> None:
    with Receiver(default=Reply(500, "internal_error")) as rx:
        d = Daemon(tmp_path, rx.url, rules=versioned("v1"))
        try:
            d.start()
            d.write("".join(line(n) for n in range(1, 6)))
            wait_until(lambda: len(rx.requests) >= 2, DEADLINE, "two failed attempts")  # queued, being retried
            new = versioned("v2")
            if notifier == "changed":  # the sender is reconfigured in place
                new = new.replace("backoff_cap = 1", "backoff_cap = 0.5").replace("timeout = 2", "timeout = 3")
            reload(d, new)
            d.write("".join(line(n) for n in range(6, 9)))
            seen = len(rx.requests)
            wait_until(lambda: len(rx.requests) > seen, DEADLINE, "an attempt after the reload")
            answered_from = heal(rx)
            wait_until(
                lambda: delivered_since(rx, answered_from) == ones(*range(1, 9)), DEADLINE, "the backlog, after healing"
            )
            d.write(line(9))
            wait_until(lambda: "9" in delivered_since(rx, answered_from), DEADLINE, "ALERT 9")
            assert stop(d) == 0
        finally:
            d.close()
        assert delivered_since(rx, answered_from) == ones(*range(1, 10))
        delivered_text = "".join(texts(rx, answered_from))
        assert all(f"v1 ALERT {n}" in delivered_text for n in range(1, 6))  # rendered when queued
        assert all(f"v2 ALERT {n}" in delivered_text for n in range(6, 10))
        assert "retry in" in d.log_text()
