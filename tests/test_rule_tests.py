"""`kong-tailer test RULES_DIR`, run as an operator runs it: a subprocess over real rule and test files. The
shipped rules pass their shipped tests (and every shipped rule has one); a case that fails says what was
expected against what came out, exit 1; a broken test file says where, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def kong_tailer_test(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KONG_TAILER_RULES", None)
    return subprocess.run(
        [sys.executable, "-m", "tailer", "test", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


RULE = """
[[rule]]
name = "upstream-refused"
kind = "error"
when = 'cause == "upstream_refused"'
group_by = ["upstream"]
threshold = { count = 3, within = "1m" }
notify = ["console"]
text = "{{ count }} refused connections to {{ upstream }}"

[[rule]]
name = "heartbeat-lost"
kind = "error"
when = 'message =~ "heartbeat"'
group_by = ["server"]
flatline = { count = 1, within = "1m" }
notify = ["console"]
text = "no heartbeat from {{ server }}"
"""


def refused(second: int, upstream: str = "10.0.0.12:8080") -> str:
    return (
        f"2025/01/15 10:00:{second:02d} [error] 1312#0: *{second} connect() failed (111: Connection refused) while "
        f'connecting to upstream, client: 10.0.0.5, server: kong, request: "GET / HTTP/1.1", upstream: '
        f'"http://{upstream}/", host: "api.example.test"'
    )


def rules_dir(tmp_path: Path, tests: dict[str, str]) -> Path:
    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    (rules / "r.toml").write_text(RULE)
    for name, text in tests.items():
        (rules / "tests" / name).write_text(text)
    return rules


def test_the_shipped_rules_pass_their_shipped_tests() -> None:
    done = kong_tailer_test("rules")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].startswith(f"{len(lines) - 1} passed, 0 failed (2 file(s) in rules/tests)")
    assert all(line.startswith("ok   rules/tests/") for line in lines[:-1])
    assert "FAIL" not in done.stdout and done.stderr == ""


def test_every_shipped_rule_has_a_test_that_expects_an_alert_of_it() -> None:
    shipped = {r["name"] for f in sorted((ROOT / "rules").glob("*.toml")) for r in tomllib.loads(f.read_text())["rule"]}
    expected = set()
    for f in sorted((ROOT / "rules" / "tests").glob("*.toml")):
        for case in tomllib.loads(f.read_text())["test"]:
            expected |= {e["rule"] for e in case["expect"]}
    assert shipped <= expected


def test_passing_cases_say_ok_with_file_and_line(tmp_path: Path) -> None:
    case = f"""
[[test]]
name = "three refused within a minute"
error_log = '''
{refused(1)}
{refused(2)}
{refused(3)}
'''

[[test.expect]]
rule = "upstream-refused"
count = 3
contains = "to http://10.0.0.12:8080/"
time = 2025-01-15T10:00:03Z
first = 2025-01-15T10:00:01Z

[[test]]
name = "two are not enough; another upstream is another key"
rules = ["upstream-refused"]
error_log = [
  '{refused(1)}',
  {{ repeat = 2, text = '{refused(2, "10.0.0.13:8080")}' }},
]
expect = []
"""
    rules = rules_dir(tmp_path, {"refused.toml": case})
    done = kong_tailer_test(str(rules))
    assert done.returncode == 0, done.stdout + done.stderr
    tests = rules / "tests" / "refused.toml"
    assert done.stdout.splitlines() == [
        f"ok   {tests}:2: three refused within a minute",
        f"ok   {tests}:17: two are not enough; another upstream is another key",
        f"2 passed, 0 failed (1 file(s) in {rules / 'tests'})",
    ]


def test_a_case_that_fails_shows_expected_against_got_and_exits_1(tmp_path: Path) -> None:
    case = f"""
[[test]]
name = "what a reworded rule would break"
error_log = '''
{refused(1)}
{refused(2)}
{refused(3)}
{refused(4, "10.0.0.99:80")}
'''
expect = [
  {{ rule = "upstream-refused", count = 3, contains = "refused connections to http://10.0.0.12:8080/" }},
  {{ rule = "upstream-refused", count = 2, contains = "10.0.0.13" }},
]

[[test]]
name = "this one passes"
error_log = '{refused(1)}'
expect = [{{ rule = "upstream-refused", text = "1 refused connections to http://10.0.0.12:8080/" }}]
"""
    rules = rules_dir(tmp_path, {"a.toml": case})
    (rules / "r.toml").write_text(RULE.replace("threshold = { count = 3,", "threshold = { count = 1,"))
    done = kong_tailer_test(str(rules))
    assert done.returncode == 1, done.stdout + done.stderr
    tests = rules / "tests" / "a.toml"
    out = done.stdout.splitlines()
    assert out[0] == f"FAIL {tests}:2: what a reworded rule would break"
    assert out[1] == "     expected 2 alert(s), got 2; - expected, not come; + came, not expected:"
    assert out[2] == '     - upstream-refused ×3: text containing "refused connections to http://10.0.0.12:8080/"'
    assert out[3] == (
        '     + upstream-refused ×1 at 2025-01-15T10:00:01+00:00: "1 refused connections to http://10.0.0.12:8080/"'
    )
    assert out[4] == '     - upstream-refused ×2: text containing "10.0.0.13"'
    assert (
        out[5]
        == '     + upstream-refused ×1 at 2025-01-15T10:00:04+00:00: "1 refused connections to http://10.0.0.99:80/"'
    )
    assert out[6] == f"ok   {tests}:15: this one passes"
    assert out[7] == f"1 passed, 1 failed (1 file(s) in {rules / 'tests'})"


def test_an_alert_in_excess_or_missing_is_a_failure(tmp_path: Path) -> None:
    case = f"""
[[test]]
name = "expects one alert too many, and none of another"
error_log = '''
{refused(1)}
{refused(2)}
{refused(3)}
'''

[[test.expect]]
rule = "upstream-refused"
text = "3 refused connections to http://10.0.0.12:8080/"

[[test.expect]]
rule = "upstream-refused"
"""
    done = kong_tailer_test(str(rules_dir(tmp_path, {"a.toml": case})))
    assert done.returncode == 1
    assert '       upstream-refused ×3 at 2025-01-15T10:00:03+00:00 (first 2025-01-15T10:00:01+00:00): "3 refused' in (
        done.stdout
    )
    assert "     - upstream-refused\n" in done.stdout


def test_until_moves_the_logs_time_on_and_times_take_the_cases_zone(tmp_path: Path) -> None:
    case = """
[[test]]
name = "a heartbeat, then nothing for four minutes"
rules = ["heartbeat-lost"]
tz = "Europe/Paris"
error_log = '2025/01/15 11:00:00 [error] 1#0: heartbeat, client: 10.0.0.1, server: gw-7'
until = "2025-01-15T11:04:00"

[[test.expect]]
rule = "heartbeat-lost"
count = 0
contains = "gw-7"
time = 2025-01-15T11:04:00+01:00

[[test]]
name = "without until, the logs end at their last line: no time passes"
rules = ["heartbeat-lost"]
error_log = '2025/01/15 11:00:00 [error] 1#0: heartbeat, client: 10.0.0.1, server: gw-7'
expect = []
"""
    done = kong_tailer_test(str(rules_dir(tmp_path, {"t.toml": case})))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.endswith("2 passed, 0 failed (1 file(s) in " + str(tmp_path / "rules" / "tests") + ")\n")


def test_a_broken_test_file_says_where_and_exits_2(tmp_path: Path) -> None:
    broken = """# line 1
[[test]]
name = "typos"
rules = ["upstream-refuse"]
error_log = "x"
colour = "red"

[[test.expect]]
rule = "upstream-refused"
count = -1

[[test]]
name = "no expectation, a bad time"
access_log = [{ txt = "a" }]
until = "tomorrow"
"""
    rules = rules_dir(tmp_path, {"broken.toml": broken, "bad.toml": '[[test]]\nname = "x"\nerror_log = """\n'})
    done = kong_tailer_test(str(rules))
    assert done.returncode == 2, done.stdout + done.stderr
    tests = rules / "tests"
    assert done.stderr.splitlines() == [
        f"{tests}/bad.toml:3: not valid TOML: Unterminated string",
        f"{tests}/broken.toml:6: test 'typos': colour: unknown key (known: access_log, error_log, expect, host, "
        "log_format, name, rules, tz, until)",
        f"{tests}/broken.toml:4: test 'typos': rules: no rule 'upstream-refuse' in the rules directory; did you mean "
        "'upstream-refused'?",
        f"{tests}/broken.toml:10: test 'typos': expect: `count` is a number of events (0 for a flatline)",
        f"{tests}/broken.toml:14: test 'no expectation, a bad time': access_log: a table in it takes `text` and "
        "`repeat` (a count, 1 or more)",
        f"{tests}/broken.toml:15: test 'no expectation, a bad time': until: 'tomorrow' is not an ISO 8601 time "
        "(2025-01-15T10:00:02Z)",
        f"{tests}/broken.toml:12: test 'no expectation, a bad time': no `expect`: list the alerts the lines make "
        "([[test.expect]]), or expect = []",
    ]
    assert done.stdout == f"0 passed, 0 failed, 7 problem(s) in the test files (2 file(s) in {tests})\n"


def test_no_tests_or_broken_rules_exit_2(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, {})
    done = kong_tailer_test(str(rules))
    assert done.returncode == 2
    assert done.stderr == f"kong-tailer: error: {rules / 'tests'}: no test files (*.toml) there\n"
    (rules / "r.toml").write_text(RULE.replace('kind = "error"', 'kind = "errors"', 1))
    (rules / "tests" / "t.toml").write_text('[[test]]\nname = "x"\nerror_log = ""\nexpect = []\n')
    done = kong_tailer_test(str(rules))
    assert done.returncode == 2
    assert done.stderr.startswith(f"kong-tailer: error: {rules / 'r.toml'}:4: rule 'upstream-refused': kind")
