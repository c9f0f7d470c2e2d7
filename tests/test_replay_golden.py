"""`kong-tailer replay`, end to end against golden outputs (tests/fixtures/replay/README.md).

Each case directory holds `rules/`, log files, optionally `args`, and `expected.jsonl`: the stdout of
`kong-tailer replay --json --tz UTC --host test-host --rules rules [args] <logs, sorted>` run inside the case
directory (so payloads name the files without a path). `KONG_TAILER_REGEN=1` rewrites the goldens instead of
comparing them; review the diff before committing. Besides the byte-for-byte comparison, each case's golden is
checked for what the case is about, so a regenerated golden cannot silently lose it.
"""

from __future__ import annotations

import io
import json
import os
import shlex
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tailer.cli import main

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = Path(__file__).resolve().parent / "fixtures" / "replay"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())
NOT_LOGS = {"args", "expected.jsonl"}
REGEN = os.environ.get("KONG_TAILER_REGEN") == "1"


def case_logs(case: Path) -> list[str]:
    return sorted(p.name for p in case.iterdir() if p.is_file() and p.name not in NOT_LOGS)


def replay_case(case: Path, monkeypatch: pytest.MonkeyPatch, *, as_json: bool = True) -> Result:
    extra = shlex.split((case / "args").read_text()) if (case / "args").exists() else []
    args = ["replay", *(["--json"] if as_json else []), "--tz", "UTC", "--host", "test-host", "--rules", "rules"]
    monkeypatch.chdir(case)
    return CliRunner().invoke(main, [*args, *extra, *case_logs(case)])


def messages(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def strings(value: Any) -> list[str]:
    """Every string in a JSON value (the texts of a payload)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_every_case_is_complete() -> None:
    assert {"contract", "shipped-rules", "rotated-gz", "injection", "since-until", "grouping"} <= set(CASES)
    for name in CASES:
        case = CASES_DIR / name
        assert sorted((case / "rules").glob("*.toml")), name
        assert case_logs(case), name
        assert (case / "expected.jsonl").exists() or REGEN, f"{name}: no expected.jsonl (run with KONG_TAILER_REGEN=1)"


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES_DIR / name
    result = replay_case(case, monkeypatch)
    assert result.exit_code == 0, result.stderr
    golden = case / "expected.jsonl"
    if REGEN:
        golden.write_text(result.stdout)
    assert result.stdout == golden.read_text()
    assert result.stdout.endswith("\n")
    for message in messages(result.stdout):
        assert message["count"] >= message["alerts"] >= 1
        assert message["type"] == "slack" or message["type"] == "console"


def golden(name: str) -> list[dict[str, Any]]:
    return messages((CASES_DIR / name / "expected.jsonl").read_text())


# -- what each golden must show


def test_contract_golden() -> None:
    got = golden("contract")
    texts = [(m["rules"], m["payload"]["text"]) for m in got]
    assert texts == [
        (["rate-limit-exceeded"], "Rate limit exceeded by username 'mobile-app' on service 'orders'"),
        (["upstream-5xx"], "502 on GET /orders"),
        (["upstream-5xx"], "503 on GET /invoices/2025-01"),
        # 300 s after the pass at 10:00:02, snooze alone lets the next box through (the one at 10:01 was dropped)
        (["rate-limit-exceeded"], "Rate limit exceeded by username 'partner-batch' on service 'billing'"),
        (["upstream-5xx"], "500 on POST /orders"),
        # the 504 of the same second waited for the Slack budget and went out at the end as its own message
        (["upstream-5xx"], "504 on GET /orders/17"),
    ]
    assert [m["time"] for m in got][:4] == [
        "2025-01-15T10:00:02+00:00",
        "2025-01-15T10:02:10+00:00",
        "2025-01-15T10:03:00+00:00",
        "2025-01-15T10:05:02+00:00",
    ]
    assert all(m["notifier"] == "slack" and m["count"] == 1 for m in got)


def test_shipped_rules_golden_triggers_every_shipped_rule() -> None:
    shipped = set()
    for path in sorted((ROOT / "rules").glob("*.toml")):
        assert (CASES_DIR / "shipped-rules" / "rules" / path.name).read_text() == path.read_text(), (
            f"tests/fixtures/replay/shipped-rules/rules/{path.name} differs from rules/{path.name}: copy it again"
        )
        shipped |= {line.split('"')[1] for line in path.read_text().splitlines() if line.startswith("name = ")}
    got = golden("shipped-rules")
    assert {r for m in got for r in m["rules"]} == shipped
    by_rule = {m["rules"][0]: m for m in got if len(m["rules"]) == 1}
    assert by_rule["upstream-failures"]["count"] == 5
    assert by_rule["auth-storm"]["count"] == 50
    assert by_rule["admin-change"]["count"] == 2
    fields = [f["text"] for b in by_rule["5xx-share"]["payload"]["blocks"] if "fields" in b for f in b["fields"]]
    assert "*Cause*\nupstream_timeout" in fields  # the request's cause, from the error log


def test_rotated_golden_is_one_timeline() -> None:
    got = golden("rotated-gz")
    times = [m["time"] for m in got]
    assert times == sorted(times)
    refused = [m for m in got if m["rules"] == ["upstream-refused"]]
    assert [(m["count"], m["time"]) for m in refused] == [(5, "2025-01-15T10:01:20+00:00")]
    # the snooze starts at the oldest Lua error, in the .gz
    lua = [m["payload"] for m in got if m["rules"] == ["lua-errors"]]
    assert len(lua) == 2
    assert "acme-auth/handler.lua:42" in lua[0] and lua[0].startswith("2025-01-15T10:00:05+00:00")
    assert lua[1].startswith("2025-01-15T10:05:00+00:00")


EVIL = ("<!channel>", "<@U123>", "<http://x|y>", "`boss`", "`id`")


def slack_texts(payload: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(mrkdwn texts, the message's `text` included; plain_text texts) of a Slack payload."""
    mrkdwn, plain = [payload["text"]], []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "mrkdwn":
                mrkdwn.append(value["text"])
            elif value.get("type") == "plain_text":
                plain.append(value["text"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(payload["blocks"])
    return mrkdwn, plain


def test_injection_golden_escapes_every_log_value() -> None:
    got = golden("injection")
    assert sorted(r for m in got for r in m["rules"]) == ["paged-5xx", "rate-limit-exceeded", "upstream-5xx"]
    for m in got:
        assert m["type"] == "slack"
        mrkdwn, plain = slack_texts(m["payload"])
        assert set(strings(m["payload"])) - {"header", "section", "context", "mrkdwn", "plain_text"} <= set(
            mrkdwn + plain
        )
        joined = "\n".join(mrkdwn)
        for evil in EVIL:
            assert evil not in joined, (m["rules"], evil)
        assert "&lt;!channel&gt;" in joined
        assert "&lt;@U123&gt;" in joined
        assert "&lt;http://x|y&gt;" in joined
        assert "&amp;" in joined
        assert "ˋ" in joined  # backticks cannot open or close a code span
    rate = next(m for m in got if m["rules"] == ["rate-limit-exceeded"])
    assert rate["payload"]["text"] == (
        "Rate limit exceeded by username '&lt;!channel&gt; &amp; ˋbossˋ &lt;@U123&gt; &lt;http://x|y&gt;'"
        " on service 'orders&amp;&lt;b&gt;ˋxˋ'"
    )
    paged = next(m for m in got if m["rules"] == ["paged-5xx"])
    # the rule author's own mention and markup stay; the path inside them is escaped
    assert paged["payload"]["text"] == (
        "<!here> 502 on `/orders/&lt;!channel&gt;/ˋidˋ?a=1&amp;b=&lt;@U123&gt;|&lt;http://x|y&gt;` & more"
    )
    # a header is plain_text, which Slack never reads as markup: the value shows as it was logged
    assert paged["payload"]["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "502 on /orders/<!channel>/`id`?a=1&b=<@U123>|<http://x|y>"},
    }


def test_since_until_golden_keeps_the_window() -> None:
    got = golden("since-until")
    times = [m["time"] for m in got]
    assert times
    assert all("2025-01-15T10:01:00+00:00" <= t < "2025-01-15T10:03:00+00:00" for t in times)
    assert "2025-01-15T10:01:00+00:00" in times  # --since is inclusive
    assert len(got) == 5  # 2 Lua errors (10:01:00, 10:02:59), 3 503s (10:01:00, 10:01:30, 10:02:59)


def test_grouping_golden_folds_and_caps_the_list() -> None:
    got = golden("grouping")
    assert [(m["alerts"], m["count"]) for m in got] == [(1, 14), (1, 2), (1, 1)]
    first = "\n".join(strings(got[0]["payload"]))
    assert "*Grouped: 14 alerts, 14 events*" in first
    assert "+4 more" in first
    assert "/orders/10 " in first and "/orders/11 " not in first
    second = "\n".join(strings(got[1]["payload"]))
    assert "Grouped: 2 alerts" in second and "more" not in second
    assert "Grouped" not in "\n".join(strings(got[2]["payload"]))


# -- the dry run for a person, the summary, mistakes


def test_contract_dry_run_text(monkeypatch: pytest.MonkeyPatch) -> None:
    result = replay_case(CASES_DIR / "contract", monkeypatch, as_json=False)
    assert result.exit_code == 0, result.stderr
    for text in (
        "Rate limit exceeded by username 'mobile-app' on service 'orders'",
        "Rate limit exceeded by username 'partner-batch' on service 'billing'",
        "502 on GET /orders",
        "503 on GET /invoices/2025-01",
        "500 on POST /orders",
        "504 on GET /orders/17",
    ):
        assert f"\n{text}\n" in result.stdout
    assert result.stdout.count("── slack (slack) · ") == 6
    assert '"payload"' not in result.stdout  # the dry run for a person is not JSON


def test_contract_summary_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    result = replay_case(CASES_DIR / "contract", monkeypatch)
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert "kong-tailer: rule rate-limit-exceeded: 3 matched, 2 alerts; dropped: 1 by snooze" in lines
    assert "kong-tailer: rule upstream-5xx: 4 matched, 4 alerts" in lines
    assert any(line.startswith("kong-tailer: error.log: error log, ") for line in lines)
    assert any(line.startswith("kong-tailer: access.log: access log, ") for line in lines)
    assert "kong-tailer" not in result.stdout


def test_replay_missing_file(monkeypatch: pytest.MonkeyPatch) -> None:
    result = replay_case_with(CASES_DIR / "contract", monkeypatch, ["error.log", "no-such.log"])
    assert result.exit_code == 2
    assert "no-such.log" in result.stderr
    assert result.stdout == ""


def replay_case_with(case: Path, monkeypatch: pytest.MonkeyPatch, logs: list[str], rules: str = "rules") -> Result:
    monkeypatch.chdir(case)
    return CliRunner().invoke(main, ["replay", "--json", "--tz", "UTC", "--host", "test-host", "--rules", rules, *logs])


def test_replay_broken_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.toml").write_text('[[rule]]\nname = "x"\nsnoze = 300\ntext = "t"\n')
    result = replay_case_with(CASES_DIR / "contract", monkeypatch, ["error.log"], rules=str(rules))
    assert result.exit_code in (1, 2)
    assert f"{rules / 'bad.toml'}:3: rule 'x': unknown key 'snoze'" in result.stderr
    assert result.stdout == ""


def test_replay_missing_rules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = replay_case_with(CASES_DIR / "contract", monkeypatch, ["error.log"], rules=str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert str(tmp_path / "nope") in result.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_on_a_terminal_for_long_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    from tailer.commands import replay as replay_module
    from tailer.commands.replay import ReplayOptions, run_replay
    from tailer.parse import ParseContext
    from tailer.reader import ReadOptions

    case = CASES_DIR / "contract"
    logs = [str(case / "access.log"), str(case / "error.log")]
    opts = ReplayOptions(str(case / "rules"), ReadOptions("auto", ParseContext("", "test-host", UTC)))
    out, err = io.StringIO(), _Terminal()
    monkeypatch.setattr(replay_module, "PROGRESS_FROM", 1)  # these logs are small; any size counts as long
    assert run_replay(logs, opts, out, err) == 0
    assert "replaying" in err.getvalue() and "100%" in err.getvalue()
    quiet = io.StringIO()  # not a terminal: no bar
    assert run_replay(logs, opts, io.StringIO(), quiet) == 0
    assert "replaying" not in quiet.getvalue()


def test_nginx_golden_names_the_cause_of_every_failure_without_a_request_id() -> None:
    got = [m["payload"].split("] ", 1)[1] for m in golden("nginx-no-request-id")]
    assert [text.split(" (")[0] for text in got] == [
        "502 GET /refused: upstream_refused",
        "502 GET /retried: upstream_refused",  # the tries' errors over the warn entries written after them
        "504 GET /timeout: upstream_timeout",
        "502 GET /closed: upstream_closed",
        "502 GET /reset: upstream_closed",
        "502 GET /garbage: upstream_closed",
        "502 GET /big: upstream_closed",
        "502 GET /tls: tls",
        "502 GET /retried: no_live_upstreams",  # within fail_timeout of the first: no try at all
        "502 GET /dns: dns",
        "500 GET /lua: lua_error",
        "413 POST /small: body_too_large",
        "499 GET /timeout: client_closed",  # nginx writes the client's own failures at info
        "400 - -: bad_request",  # `GARBAGE`: joined by the request line as logged
        "414 - -: -",  # nginx cut both lines (the entry at 2048 bytes): nothing says which request it was
        "400 GET /ok: bad_request",
        "502 GET /refused: upstream_refused",  # the same request again, on another connection: its own entry
    ]
    assert all(": -" not in text for text in got if text.startswith("5"))
    assert "request_id" not in (CASES_DIR / "nginx-no-request-id" / "error.log").read_text()
