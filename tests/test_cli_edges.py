"""The operator's path through the command line (issue 14, points 4, 5 and 9), as an operator meets it: real
`python -m tailer` processes on real files, a real HTTP server on 127.0.0.1 standing in for Slack
(tests/receiver.py), a real daemon where the outbox needs one (tests/daemon.py), SIGINT sent to a real process
for Ctrl-C. Each test checks the exit code and the words of the message."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tailer import notices
from tailer.commands.run import dead_letter_text
from tailer.notify.command import CommandDestination
from tailer.notify.console import ConsoleDestination
from tailer.notify.slack import SlackDestination
from tailer.notify.webhook import WebhookDestination
from tests.daemon import Daemon, delivered, entry, wait_until
from tests.receiver import Receiver, Reply

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "tests" / "fixtures" / "contract"
SAMPLES = [str(ROOT / "samples" / "error.log"), str(ROOT / "samples" / "access.log")]
DEADLINE = 30.0

# Every `ALERT <n>` error entry is a message to Slack, 2 a second (the replay Ctrl-C tests need a few seconds
# of sending).
RULES = """
[notifier.slack]
type = "slack"
url_env = "TEST_WEBHOOK_URL"
rate = 2
timeout = 5

[[rule]]
name = "marked"
kind = "error"
when = 'message =~ "ALERT [0-9]+"'
notify = ["slack"]
title = "marked"
text = "{{ message }}"
"""


def environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SLACK_WEBHOOK_URL", "TEST_WEBHOOK_URL", "COLUMNS")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def kong(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    """`python -m tailer ARGS`, run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "tailer", *args], capture_output=True, text=True, env=env or environ(), timeout=120, **kw
    )


def start(*args: str, tmp_path: Path, env: dict[str, str], stdin: Any = subprocess.DEVNULL) -> subprocess.Popen[Any]:
    """`python -m tailer ARGS` started, its output going to tmp_path/out and tmp_path/err."""
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        return subprocess.Popen([sys.executable, "-m", "tailer", *args], stdin=stdin, stdout=out, stderr=err, env=env)


def rules_dir(tmp_path: Path, text: str = RULES) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "rules.toml").write_text(text)
    return rules


def slack_key(payload: dict[str, Any]) -> str:
    """The 12 characters of the key a Slack message ends with."""
    found = re.search(r"key ([0-9a-f]{12})", json.dumps(payload["blocks"][-1]))
    assert found, payload
    return found.group(1)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error" in line.lower()]


# =========================================================================== 4. --send with nowhere to send


def test_send_with_no_webhook_url_is_an_error_before_any_log_is_read(tmp_path: Path) -> None:
    missing = tmp_path / "not-there.log"  # were a log read first, this would be the error said
    done = kong("replay", "--rules", str(CONTRACT), "--send", *SAMPLES, str(missing))
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "kong-tailer: error: --send has nowhere to send: notifier 'slack': no webhook URL ($SLACK_WEBHOOK_URL is "
        "not set). Set it, or leave out --send to print the messages instead\n"
    )
    assert done.stdout == ""  # nothing went to the console either


def test_send_with_no_url_for_a_notifier_of_the_rules_names_its_variable(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text(entry(1))
    done = kong("replay", "--tz", "UTC", "--rules", str(rules_dir(tmp_path)), "--send", str(log))
    assert done.returncode == 2
    assert "--send has nowhere to send: notifier 'slack': no webhook URL ($TEST_WEBHOOK_URL is not set)" in done.stderr
    assert "error log" not in done.stderr  # no log was read


# =========================================================================== 5. Ctrl-C


def test_ctrl_c_while_sending_exits_130_and_says_which_messages_went_out_so_that_since_sends_the_rest(
    tmp_path: Path,
) -> None:
    log = tmp_path / "error.log"
    log.write_text("".join(entry(n) for n in range(1, 9)))  # 8 messages: 4 s of sending at 2 a second
    rules = rules_dir(tmp_path)
    with Receiver() as rx:
        env = environ(TEST_WEBHOOK_URL=f"{rx.url}/services/T/B/X")
        args = ("replay", "--tz", "UTC", "--rules", str(rules), "--send")
        proc = start(*args, str(log), tmp_path=tmp_path, env=env)
        try:
            rx.wait_for(2, timeout=DEADLINE)
            proc.send_signal(signal.SIGINT)
            code = proc.wait(DEADLINE)
        finally:
            if proc.poll() is None:
                proc.kill()
        first = rx.requests
        stderr = (tmp_path / "err").read_text()
        assert code == 130, stderr
        assert "Aborted!" not in stderr and "Traceback" not in stderr
        sent = [slack_key(r.json()) for r in first]
        assert 2 <= len(sent) < 8
        assert f"kong-tailer: interrupted while sending: {len(sent)} of 8 message(s) had gone out:\n" in stderr, stderr
        times = [datetime.fromtimestamp(1_736_935_200 + n, UTC).isoformat() for n in range(1, 9)]
        for n, key in enumerate(sent, 1):  # in order: the n-th entry's message is the n-th sent
            assert f"kong-tailer: slack: sent {key} (log time {times[n - 1]})\n" in stderr
        resume = times[len(sent)]
        assert f"the last one sent is of {times[len(sent) - 1]}; the first not sent of {resume}" in stderr
        assert f"replay again with --since {resume}" in stderr
        assert stderr.endswith("(a message sent already is known by its key, above)\n")  # the last word

        # the rerun the message suggests sends exactly what had not gone out
        again = kong(*args, "--since", resume, str(log), env=env)
        assert again.returncode == 0, again.stderr
        rest = [slack_key(r.json()) for r in rx.requests[len(first) :]]
    assert len(rest) == 8 - len(sent) and not set(rest) & set(sent)
    assert f"slack: {len(rest)} sent, 0 failed" in again.stderr


class Feeder(threading.Thread):
    """Writes error-log lines that alert on nothing into a process's stdin, without end, until stopped: a
    log that is still being read. `written` says how much went in (the pipe holds 64 KiB: the rest was read)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.written = 0
        self.halt = threading.Event()

    def run(self) -> None:
        block = "".join(entry(n, "nothing to see here", level="error") for n in range(1000)).encode()
        try:
            while not self.halt.is_set():
                self.stream.write(block)
                self.stream.flush()
                self.written += len(block)
        except OSError:  # the reader is gone
            pass


def interrupt_while_reading(args: tuple[str, ...], tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    """Start `args` reading standard input, feed it until it has read 2 MB or more, send SIGINT: the exit code
    and standard error."""
    proc = start(*args, tmp_path=tmp_path, env=env, stdin=subprocess.PIPE)
    feeder = Feeder(proc.stdin)
    feeder.start()
    try:
        wait_until(lambda: feeder.written > 2 << 20, DEADLINE, "2 MB read")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(DEADLINE)
    finally:
        feeder.halt.set()
        if proc.poll() is None:
            proc.kill()
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
    return code, (tmp_path / "err").read_text()


def test_ctrl_c_while_reading_with_send_exits_130_saying_nothing_was_sent(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path)
    with Receiver() as rx:
        env = environ(TEST_WEBHOOK_URL=f"{rx.url}/services/T/B/X")
        code, stderr = interrupt_while_reading(
            ("replay", "--tz", "UTC", "--rules", str(rules), "--send", "-"), tmp_path, env
        )
        assert rx.requests == []
    assert code == 130, stderr
    assert stderr == "kong-tailer: interrupted while reading the logs: no message was sent\n"
    assert "Aborted!" not in stderr and "Traceback" not in stderr


def test_ctrl_c_ends_any_command_with_130_not_aborted(tmp_path: Path) -> None:
    code, stderr = interrupt_while_reading(("parse", "--tz", "UTC", "-"), tmp_path, environ())
    assert code == 130, stderr
    assert stderr.endswith("kong-tailer: interrupted\n") and "Aborted!" not in stderr, stderr


# =========================================================================== 9. the small ones


def test_send_with_json_prints_each_message_and_whether_it_was_delivered() -> None:
    dry = kong("replay", "--tz", "UTC", "--host", "gw-1", "--rules", str(CONTRACT), "--json", *SAMPLES)
    assert dry.returncode == 0, dry.stderr
    expected = [json.loads(line) for line in dry.stdout.splitlines()]
    with Receiver([Reply(404, "no_service")]) as rx:  # the first refused, the other three delivered
        env = environ(SLACK_WEBHOOK_URL=f"{rx.url}/services/T/B/X")
        done = kong(
            "replay", "--tz", "UTC", "--host", "gw-1", "--rules", str(CONTRACT), "--send", "--json", *SAMPLES, env=env
        )
        bodies = [r.json() for r in rx.requests]
    assert done.returncode == 1, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [{k: v for k, v in p.items() if k not in ("delivered", "error")} for p in printed] == expected
    assert [(p["delivered"], p["error"]) for p in printed] == [(False, "404 no_service")] + [(True, None)] * 3
    assert [p["payload"] for p in printed] == bodies  # what was printed is what was sent
    assert "slack: 3 sent, 1 failed" in done.stderr


def test_since_after_until_is_an_error(tmp_path: Path) -> None:
    done = kong(
        "replay", "--tz", "UTC", "--rules", str(CONTRACT), "--since", "2025-01-15T11:00", "--until", "10:00", *SAMPLES
    )
    assert done.returncode == 2  # (a time without a date is no ISO 8601 time: said first)
    assert "kong-tailer: error: --until '10:00': not a time" in done.stderr
    done = kong(
        "replay", "--tz", "UTC", "--rules", str(CONTRACT), "--since", "2025-01-15T11:00", "--until", "2025-01-15T10:00",
        *SAMPLES,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "kong-tailer: error: --since 2025-01-15T11:00:00+00:00 is not before --until 2025-01-15T10:00:00+00:00: "
        "no event can be in between\n"
    )


def test_since_takes_a_time_ago_as_journalctl_does(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    lines = []
    for n, ago in enumerate((timedelta(hours=30), timedelta(hours=3), timedelta(minutes=90), timedelta(minutes=5))):
        stamp = (now - ago).strftime("%Y/%m/%d %H:%M:%S")
        lines.append(f"{stamp} [error] 1#0: *{n} ALERT {n} went away, client: 10.0.0.1, server: kong\n")
    log = tmp_path / "error.log"
    log.write_text("".join(lines))
    rules = str(rules_dir(tmp_path))

    def alerted(*since: str) -> list[str]:
        done = kong("replay", "--tz", "UTC", "--rules", rules, "--json", *since, str(log))
        assert done.returncode == 0, done.stderr
        return [re.findall(r"ALERT \d", json.dumps(json.loads(m)["payload"]))[0] for m in done.stdout.splitlines()]

    assert alerted() == ["ALERT 0", "ALERT 1", "ALERT 2", "ALERT 3"]
    assert alerted("--since", "2h") == ["ALERT 2", "ALERT 3"]
    assert alerted("--since", "1d") == ["ALERT 1", "ALERT 2", "ALERT 3"]
    assert alerted("--since", "30m ago") == ["ALERT 3"]
    assert alerted("--since", "-4h", "--until", "1h") == ["ALERT 1", "ALERT 2"]
    bad = kong("replay", "--tz", "UTC", "--rules", rules, "--since", "soon", str(log))
    assert bad.returncode == 2
    assert bad.stderr == (
        "kong-tailer: error: --since 'soon': not a time: give an ISO 8601 time (2025-01-15T10:00:00+00:00) or a "
        "time ago (1h, 30m, 2d)\n"
    )
    helped = kong("replay", "--help", env=environ(COLUMNS="200"))
    assert "or a time ago as journalctl takes it (1h, 30m, 2d, '1h ago')" in " ".join(helped.stdout.split())


def test_a_gz_log_is_closed_once_checked(tmp_path: Path) -> None:
    log = tmp_path / "error.log.1.gz"
    log.write_bytes(gzip.compress((ROOT / "samples" / "error.log").read_bytes()))
    cmd = [sys.executable, "-X", "dev", "-W", "always::ResourceWarning", "-m", "tailer", "replay", "--tz", "UTC"]
    done = subprocess.run(
        [*cmd, "--rules", str(CONTRACT), str(log)], capture_output=True, text=True, env=environ(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"kong-tailer: {log}: error log, 55 lines" in done.stderr
    assert "replay.py" not in done.stderr, done.stderr  # (tailer/sources.py's FileEvents: see the report)


def test_one_error_style_for_clicks_usage_errors_too() -> None:
    for args, words in [
        (("replay", "--bogus", "x.log"), "No such option '--bogus'"),
        (("replay",), "Missing argument 'FILE...'"),
        (("run", "--start-at", "middle"), "Invalid value for '--start-at': 'middle' is not one of 'end', 'beginning'"),
        (("status", "--stale-after", "soon"), "Invalid value for --stale-after: 'soon' is not a duration"),
        (("nosuch",), "No such command 'nosuch'"),
    ]:
        done = kong(*args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.splitlines()
        assert lines[0].startswith("Usage: "), done.stderr
        assert lines[-1].startswith(f"kong-tailer: error: {words}"), done.stderr
        assert not any(line.startswith("Error:") for line in lines), done.stderr


def test_help_is_never_cut_and_never_wrapped_inside_a_path() -> None:
    env = environ(COLUMNS="80")
    top = kong("--help", env=env)
    assert top.returncode == 0
    entries: list[str] = []  # each command's line in the list, its continuation lines joined to it
    for line in top.stdout.partition("Commands:")[2].splitlines():
        if re.match(r"  \S", line):
            entries.append(line.strip())
        elif line.strip():
            entries[-1] += " " + line.strip()
    assert {e.split()[0] for e in entries} >= {"check", "outbox", "parse", "replay", "run", "silence"}
    for e in entries:  # a whole first sentence, not cut with "..."
        assert e.endswith(".") and not e.endswith("..."), e
    assert "run Follow Kong's logs and send alerts, until stopped (SIGTERM or SIGINT)." in [
        " ".join(e.split()) for e in entries
    ]
    for args in (("run",), ("replay",), ("status",), ("outbox", "list"), ("silence", "add"), ("check",)):
        page = kong(*args, "--help", env=env)
        assert page.returncode == 0, page.stderr
        assert "kong-\n" not in page.stdout.replace(" ", ""), page.stdout
        assert max(len(line) for line in page.stdout.splitlines()) <= 80
    run = kong("run", "--help", env=env).stdout
    assert "/var/lib/kong-tailer" in run and "/etc/kong-tailer/rules" in run


def test_silence_expire_takes_several_ids_and_add_takes_an_author(tmp_path: Path, rx: Receiver) -> None:
    d = Daemon(tmp_path, rx.url)  # a state directory as `run` leaves it
    try:
        d.start()
        assert d.stop() == 0
    finally:
        d.close()
    base = ("--state-dir", str(d.state))
    for n in range(3):
        added = kong(
            "silence", "add", *base, "--rules", str(d.rules), "--rule", "marked", "--for", "1h", "--author", f"ops-{n}"
        )
        assert added.returncode == 0, added.stderr
    listed = kong("silence", "list", *base).stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["3", "2", "1"]
    assert all(line.endswith(f"held back 0 alert(s), by ops-{n}") for line, n in zip(listed, (2, 1, 0), strict=True))

    both = kong("silence", "expire", *base, "1", "2")
    assert (both.returncode, both.stderr) == (0, "")
    assert both.stdout == "silence 1 expired; it held back 0 alert(s)\nsilence 2 expired; it held back 0 alert(s)\n"
    some = kong("silence", "expire", *base, "3", "7", "1")
    assert some.returncode == 2
    assert some.stdout == "silence 3 expired; it held back 0 alert(s)\n"  # the one in force still ends
    assert some.stderr == "kong-tailer: error: no silences 7, 1 in force (see `kong-tailer silence list`)\n"
    assert kong("silence", "list", *base).stdout == "no silence in force\n"
    none = kong("silence", "expire", *base)
    assert none.returncode == 2 and "kong-tailer: error: Missing argument 'ID...'" in none.stderr


def test_outbox_list_shows_rule_and_text_and_retry_says_what_a_key_matches(tmp_path: Path) -> None:
    with Receiver([Reply(404, "no_service")]) as rx:  # ALERT 1 refused: a dead letter; the next ones sent
        d = Daemon(tmp_path, rx.url)
        try:
            d.write(entry(1, "ALERT 1 <billing> upstream went away") + entry(2, "ALERT 2 POISON") + entry(3))
            d.start(env={"KONG_TAILER_FAULT": "raise:POISON"})
            wait_until(lambda: delivered(rx)["3"] == 1, DEADLINE, "ALERT 3")
            base = ("--state-dir", str(d.state))
            listing = kong("outbox", "list", *base)
            assert listing.returncode == 0, listing.stderr
            lines = listing.stdout.splitlines()
            dead = [i for i, line in enumerate(lines) if line.startswith("dead ")]
            assert len(dead) == 2, listing.stdout
            slack = next(i for i in dead if " slack queued " in lines[i])
            rule = next(i for i in dead if " (rule marked) queued " in lines[i])
            assert lines[slack].endswith("1 attempt(s): 404 no_service")
            assert lines[slack + 1] == "    rule marked: ALERT 1 <billing> upstream went away"  # unescaped
            assert lines[rule + 1].startswith("    rule marked failed on: ") and "ALERT 2 POISON" in lines[rule + 1]
            slack_key, rule_key = lines[slack].split()[1], lines[rule].split()[1]

            nothing = kong("outbox", "retry", *base, "zzz")
            assert (nothing.returncode, nothing.stdout) == (2, "")
            assert nothing.stderr == (
                "kong-tailer: error: no message's key starts with 'zzz' (`kong-tailer outbox list` shows the dead "
                "letters)\n"
            )
            failed = kong("outbox", "retry", *base, rule_key)
            assert (failed.returncode, failed.stdout) == (2, "")
            assert f"kong-tailer: error: {rule_key} is an entry rule marked failed on, not a message" in failed.stderr
            sent_key = slack_key_of(rx.requests[-1].json())
            sent = kong("outbox", "retry", *base, sent_key)
            assert sent.returncode == 2
            assert f"kong-tailer: error: {sent_key} (slack) is sent, not a dead letter" in sent.stderr

            mixed = kong("outbox", "retry", *base, slack_key, "zzz")
            assert mixed.returncode == 2
            assert mixed.stdout == "1 dead letter(s) queued again; a running daemon sends them within a few seconds\n"
            assert "no message's key starts with 'zzz'" in mixed.stderr
            wait_until(lambda: delivered(rx)["1"] == 2, DEADLINE, "the dead letter sent again")
            again = kong("outbox", "retry", *base)
            assert (again.returncode, again.stdout) == (0, "no dead letter to queue again\n")
            assert d.stop() == 0
        finally:
            d.close()


def slack_key_of(payload: dict[str, Any]) -> str:
    return slack_key(payload)


def test_dead_letter_text_reads_every_notifier_types_payload() -> None:
    (message,) = notices.notice(["n"], "k" * 32, "stalled", "a title", "disk <full> & more\nsecond line", 0.0, "gw")

    class NoTransport:
        def close(self) -> None:
            pass

    payloads = {
        "slack": SlackDestination("http://x.invalid/", NoTransport()).render(message),
        "webhook": WebhookDestination({"url": "http://x.invalid/"}, NoTransport()).render(message),
        "command": CommandDestination(["cat"], 5).render(message),
        "console": ConsoleDestination(io.StringIO()).render(message),
    }
    for kind, payload in payloads.items():
        assert dead_letter_text(kind, payload) == "rule kong-tailer: disk <full> & more⏎second line", kind
    assert dead_letter_text("(rule x)", "2025/01/15 10:00:00 [error] boom\x1b[31m") == (
        "rule x failed on: 2025/01/15 10:00:00 [error] boom␛[31m"
    )
    assert dead_letter_text("w", "not a payload of ours") == "not a payload of ours"
    assert dead_letter_text("w", json.dumps({"method": "POST", "body": "x" * 500}, ensure_ascii=False)).endswith("x…")
