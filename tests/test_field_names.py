"""Misspelled field names are not silent (issue 14, point 2): a field path that no event of a rule's kind can
have is a mistake, with the closest known name (`unknown field 'stauts' for kind http; did you mean
'status'?`), for `check`, `replay` and `silence add --when`; free-form data that Kong does not document for the
rule's Event Hooks source/event is a warning naming the fields it does document.

The CLI runs as a user runs it: a real process in a directory holding `rules/`, so messages name
`rules/x.toml:LINE`. The last tests hold the tables of tailer.rules.names to the code that makes the fields.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tailer.correlate import Correlator
from tailer.events import Http
from tailer.parse.accesslog import compile_log_format
from tailer.rules import names
from tailer.rules.load import KONG_UNIQUE
from tailer.state import Store
from tests.conftest import parse_bytes

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def kong_tailer(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`kong-tailer ARGS` run in `cwd`; our log lines in the terminal's form (`kong-tailer: warning: ...`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "SLACK_WEBHOOK_URL")}
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, "-m", "tailer", *args]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def rules(tmp_path: Path, text: str) -> Path:
    """`rules/x.toml` holding `text` (its first line is line 1) under `tmp_path`."""
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "x.toml").write_text(text)
    return tmp_path


def problems(stderr: str) -> list[str]:
    """The `file:line: ...` lines of `check`'s standard error."""
    return [line for line in stderr.splitlines() if line.startswith("rules/")]


# =========================================================================== check


def test_check_refuses_a_misspelled_field_in_when_naming_the_field_it_means(tmp_path: Path) -> None:
    rules(
        tmp_path,
        '[[rule]]\nname = "server-errors"\nkind = "http"\nnotify = ["console"]\n'
        "when = 'stauts >= 500'\n"
        'text = "{{ status }} on {{ path }}"\n',
    )
    proc = kong_tailer(tmp_path, "check", "--rules", "rules")
    assert proc.returncode == 1, proc.stderr
    assert problems(proc.stderr) == [
        "rules/x.toml:5: rule 'server-errors': when: unknown field 'stauts' for kind http; did you mean 'status'?"
    ]
    assert proc.stderr.endswith("kong-tailer: 1 problem(s) in rules\n")


def test_check_lists_every_misspelled_field_at_once_in_every_key_that_names_fields(tmp_path: Path) -> None:
    rules(
        tmp_path,
        "[[rule]]\n"  # 1
        'name = "by-service"\n'
        'kind = "http"\n'
        'notify = ["console"]\n'
        'text = "{{ status }} on {{ servcie.name }}"\n'  # 5
        'title = "{{ mehtod }}"\n'
        "\n"
        "[[rule]]\n"  # 8
        'name = "share"\n'
        'kind = "http"\n'  # 10
        'notify = ["console"]\n'
        'ratio = { when = "staus >= 500", above = 0.05, within = "5m" }\n'
        'group_by = ["hots"]\n'
        'text = "{{ percent }} of {{ total }}"\n'
        "\n"  # 15
        "[[rule]]\n"
        'name = "any"\n'
        "when = 'messag =~ \"acme\"'\n"
        'unique = ["clinet"]\n'
        "snooze = 60\n"  # 20
        'notify = ["console"]\n'
        'text = "{{ message }}"\n',
    )
    proc = kong_tailer(tmp_path, "check", "--rules", "rules")
    assert proc.returncode == 1, proc.stderr
    assert problems(proc.stderr) == [
        "rules/x.toml:5: rule 'by-service': text: unknown field 'servcie' for kind http; did you mean 'service'?",
        "rules/x.toml:6: rule 'by-service': title: unknown field 'mehtod' for kind http; did you mean 'method'?",
        "rules/x.toml:13: rule 'share': group_by: unknown field 'hots' for kind http; did you mean 'host'?",
        "rules/x.toml:12: rule 'share': ratio: unknown field 'staus' for kind http; did you mean 'status'?",
        "rules/x.toml:19: rule 'any': unique: unknown field 'clinet' for any kind; did you mean 'client'?",
        "rules/x.toml:18: rule 'any': when: unknown field 'messag' for any kind; did you mean 'message'?",
    ]


def test_check_knows_the_fields_a_request_reads_through_and_says_how_to_name_others(tmp_path: Path) -> None:
    rules(
        tmp_path,
        '[[rule]]\nname = "known"\nkind = "http"\nnotify = ["console"]\n'
        'when = \'upstream_status == "502" and http_x_tenant == "a" and extra.my_var == "1"\'\n'
        'text = "{{ service.name }} {{ route.name }} {{ consumer.username }} {{ latencies.proxy }} {{ cause }} '
        '{{ error.message }} {{ upstream }} {{ upstream_response_time }} {{ ssl_protocol }}"\n'
        "\n"
        '[[rule]]\nname = "unknown"\nkind = "http"\nnotify = ["console"]\n'
        "when = 'my_var == \"1\"'\n"  # 12
        'text = "{{ remote_addr }}"\n',
    )
    proc = kong_tailer(tmp_path, "check", "--rules", "rules")
    assert proc.returncode == 1, proc.stderr
    assert problems(proc.stderr) == [
        "rules/x.toml:13: rule 'unknown': text: unknown field 'remote_addr' for kind http; "
        "nginx's $remote_addr is the field 'client'",
    ]
    # a name close to no field may be a variable of the user's own log_format: said, not refused
    assert (
        "kong-tailer: warning: rules/x.toml:12: rule 'unknown': when: field 'my_var' is not one kong-tailer knows "
        "for kind http: if it is a variable of your own log_format, write extra.my_var to say so"
    ) in proc.stderr.splitlines()


def test_an_event_hook_field_kong_does_not_document_is_a_warning_naming_those_it_does(tmp_path: Path) -> None:
    rules(
        tmp_path,
        '[[rule]]\nname = "rl"\nsource = "rate-limiting-advanced"\nevent = "rate-limit-exceeded"\n'
        'notify = ["console"]\n'
        "when = 'data.limt > 10'\n"  # 6
        'text = "{{ consumer.username }} on {{ servcie.name }}"\n'
        "\n"
        '[[rule]]\nname = "health"\nsource = "balancer"\nevent = "health"\nnotify = ["console"]\n'
        "when = 'helth == \"unhealthy\"'\n"  # 14
        'text = "{{ hostname }}"\n',
    )
    proc = kong_tailer(tmp_path, "check", "--rules", "rules")
    assert proc.returncode == 0, proc.stderr
    rla = "rate-limiting-advanced/rate-limit-exceeded (consumer, ip, service, rate, limit, window)"
    assert proc.stderr.splitlines() == [
        f"kong-tailer: warning: rules/x.toml:7: rule 'rl': text: field 'servcie' is not one Kong documents for "
        f"{rla}; did you mean 'service'?",
        f"kong-tailer: warning: rules/x.toml:6: rule 'rl': when: field 'data.limt' is not one Kong documents for "
        f"{rla}; did you mean 'limit'?",
        "kong-tailer: warning: rules/x.toml:14: rule 'health': when: field 'helth' is not one Kong documents for "
        "balancer/health (upstream_id, ip, port, hostname, health); did you mean 'health'?",
    ]
    assert proc.stdout.startswith("2 rules from 1 files in rules\n")


def test_a_field_of_the_error_joined_to_a_request_that_it_does_not_have_is_a_warning(tmp_path: Path) -> None:
    rules(
        tmp_path,
        '[[rule]]\nname = "failed"\nkind = "http"\nnotify = ["console"]\ntext = "{{ status }}: {{ error.messge }}"\n',
    )
    proc = kong_tailer(tmp_path, "check", "--rules", "rules")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        "kong-tailer: warning: rules/x.toml:5: rule 'failed': text: field 'error.messge': a request's `error` "
        "(the error-log entry joined to it) has cause, level, message, upstream, action, file, offset, line; "
        "did you mean 'message'?\n"
    )


def test_templates_know_the_alerts_own_fields_and_those_of_the_rules_aggregation(tmp_path: Path) -> None:
    rules(
        tmp_path,
        '[[rule]]\nname = "share"\nkind = "http"\nnotify = ["console"]\n'
        'ratio = { when = "status >= 500", above = 0.05, within = "5m" }\n'
        'text = "{{ percent }} {{ ratio }} of {{ total }} in {{ within }} s: {{ count }} {{ first }} {{ last }} '
        '{{ time }} {{ key }} {{ group }} {{ rule }} {{ suppressed }} {{ alert.count }} {{ alert.percent }}"\n'
        'title = "{{ rule }}"\n'
        "\n"
        '[[rule]]\nname = "many"\nkind = "error"\nnotify = ["console"]\n'
        'threshold = { count = 5, within = "1m" }\ntext = "{{ count }} ≥ {{ threshold }} in {{ within }} s"\n'
        "\n"
        '[[rule]]\nname = "quiet"\nkind = "http"\nnotify = ["console"]\n'
        'flatline = { count = 1, within = "1m" }\ntext = "fewer than {{ expected }} in {{ within }} s"\n'
        "\n"
        '[[rule]]\nname = "new"\nkind = "error"\nnotify = ["console"]\n'
        'new_value = ["upstream"]\ntext = "new: {{ value }}"\n',
    )
    proc = kong_tailer(tmp_path, "check", "--rules", "rules")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_an_alert_field_of_another_aggregation_or_outside_templates_is_unknown(tmp_path: Path) -> None:
    rules(
        tmp_path,
        '[[rule]]\nname = "many"\nkind = "error"\nnotify = ["console"]\n'
        'threshold = { count = 5, within = "1m" }\n'
        'text = "{{ percent }} {{ alert.cout }}"\n'  # 6
        "when = 'count > 3'\n",
    )
    proc = kong_tailer(tmp_path, "check", "--rules", "rules")
    assert proc.returncode == 1, proc.stderr
    assert problems(proc.stderr) == [
        "rules/x.toml:6: rule 'many': text: unknown field 'percent' for kind error (the alerts of a ratio rule "
        "have it)",
        "rules/x.toml:6: rule 'many': text: unknown alert field 'alert.cout'; did you mean 'count'?",
        "rules/x.toml:7: rule 'many': when: unknown field 'count' for kind error ('count' is an alert's, for its "
        "templates: `text`, `title`, a webhook's payload)",
    ]


def test_a_webhook_payload_is_checked_against_the_events_of_the_rules_that_use_it(tmp_path: Path) -> None:
    rules(
        tmp_path,
        '[notifier.ops]\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
        'payload = { text = "{{ rule }}: {{ count }} × {{ stauts }} on {{ path }}" }\n'
        "\n"
        '[[rule]]\nname = "server-errors"\nkind = "http"\nwhen = "status >= 500"\nnotify = ["ops"]\n'
        'text = "{{ status }}"\n',
    )
    proc = kong_tailer(tmp_path, "check", "--rules", "rules")
    assert proc.returncode == 1, proc.stderr
    assert problems(proc.stderr) == [
        "rules/x.toml:1: notifier 'ops': unknown field 'stauts' for kind http; did you mean 'status'?"
    ]


def test_the_shipped_rules_name_no_unknown_field(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    proc = kong_tailer(tmp_path, "check", "--rules", "rules")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


# =========================================================================== replay


def test_replay_refuses_a_rule_with_a_misspelled_field_rather_than_matching_nothing(tmp_path: Path) -> None:
    rules(
        tmp_path,
        '[[rule]]\nname = "server-errors"\nkind = "http"\nnotify = ["console"]\n'
        "when = 'stauts >= 500'\n"
        'text = "{{ status }} on {{ path }}"\n',
    )
    shutil.copy(SAMPLES / "access.log", tmp_path / "access.log")
    proc = kong_tailer(tmp_path, "replay", "--rules", "rules", "access.log")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        "kong-tailer: error: rules/x.toml:5: rule 'server-errors': when: unknown field 'stauts' for kind http; "
        "did you mean 'status'?\n"
    )
    assert proc.stdout == ""
    rules(tmp_path, (tmp_path / "rules" / "x.toml").read_text().replace("stauts", "status"))
    proc = kong_tailer(tmp_path, "replay", "--rules", "rules", "access.log")
    assert proc.returncode == 0, proc.stderr
    assert "kong-tailer: rule server-errors: 0 matched" not in proc.stderr
    assert "· server-errors · 1 event(s)" in proc.stdout


def test_replay_warns_of_an_undocumented_event_hook_field_and_runs_the_rule(tmp_path: Path) -> None:
    rules(
        tmp_path,
        '[[rule]]\nname = "rl"\nsource = "rate-limiting-advanced"\nevent = "rate-limit-exceeded"\n'
        'notify = ["console"]\n'
        "text = \"{{ consumer.username }} on '{{ servcie.name }}'\"\n",
    )
    shutil.copy(SAMPLES / "error.log", tmp_path / "error.log")
    proc = kong_tailer(tmp_path, "replay", "--rules", "rules", "error.log")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == (
        "kong-tailer: warning: rules/x.toml:6: rule 'rl': text: field 'servcie' is not one Kong documents for "
        "rate-limiting-advanced/rate-limit-exceeded (consumer, ip, service, rate, limit, window); "
        "did you mean 'service'?"
    )
    assert "kong-tailer: rule rl: 1 matched, 1 alerts" in proc.stderr
    assert "mobile-app on '-'" in proc.stdout


# =========================================================================== silence add --when

SILENCE_RULES = '[[rule]]\nname = "lua-errors"\nkind = "error"\nnotify = ["console"]\ntext = "{{ message }}"\n'


def silence_add(tmp_path: Path, when: str) -> subprocess.CompletedProcess[str]:
    args = ("silence", "add", "--rules", "rules", "--state-dir", "state", "--rule", "lua-*", "--when", when)
    return kong_tailer(tmp_path, *args, "--for", "2h")


def test_silence_add_refuses_a_misspelled_field_in_when(tmp_path: Path) -> None:
    rules(tmp_path, SILENCE_RULES)
    Store(str(tmp_path / "state")).close()  # the state database, as the daemon leaves it
    proc = silence_add(tmp_path, 'messag =~ "acme"')
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "kong-tailer: error: --when: unknown field 'messag' for any kind; did you mean 'message'?\n"
    listed = kong_tailer(tmp_path, "silence", "list", "--state-dir", "state")
    assert (listed.returncode, listed.stdout) == (0, "no silence in force\n")
    proc = silence_add(tmp_path, 'messag =~ "acme" or stauts == 502')
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        "kong-tailer: error: --when: unknown field 'messag' for any kind; did you mean 'message'?\n"
        "--when: unknown field 'stauts' for any kind; did you mean 'status'?\n"
    )


def test_silence_add_takes_a_field_of_any_kind_and_free_form_data_by_its_explicit_path(tmp_path: Path) -> None:
    rules(tmp_path, SILENCE_RULES)
    Store(str(tmp_path / "state")).close()
    when = 'message =~ "acme" or status == 502 or consumer.username == "a" or data.custom == 1 or extra.my_var == "x"'
    proc = silence_add(tmp_path, when)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("silence 1 in force until ")
    assert proc.stderr == ""
    proc = silence_add(tmp_path, "custom == 1")
    assert proc.returncode == 2
    assert proc.stderr == (
        "kong-tailer: error: --when: unknown field 'custom' for any kind (a variable of your own log_format is "
        "extra.custom; Event Hooks data Kong does not document is data.custom)\n"
    )


# =========================================================================== the tables, held to the code


def test_the_file_log_fields_known_are_those_the_parser_keeps() -> None:
    record = (
        b'{"request":{"id":"8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b","method":"GET","uri":"/o","headers":{}},'
        b'"upstream_uri":"/o","upstream_status":"502","response":{"status":502,"size":1,"headers":{}},'
        b'"latencies":{"kong":1,"proxy":2,"request":3},"tries":[{"ip":"10.0.0.1","port":80}],"client_ip":"10.0.0.5",'
        b'"started_at":1736935202000,"source":"upstream","route":{"name":"r"},"service":{"name":"s"},'
        b'"consumer":{"username":"c"},"authenticated_entity":{"id":"x"},"workspace":"w","workspace_name":"default",'
        b'"trace_id":{"w3c":"t"},"correlation_id":"c"}\n'
    )
    [event] = parse_bytes(record, "json")
    assert isinstance(event, Http)
    assert set(event.extra) == set(names.FILE_LOG)


def test_the_variables_known_go_to_extra_and_those_read_into_fields_do_not() -> None:
    variables = sorted((names.VARIABLES - {"request"}) | set(names.READ_INTO) | {"http_x_tenant", "arg_page"})
    fmt = compile_log_format(" ".join(f"${v}" for v in ["status", *variables]))
    assert set(fmt.extra) == set(variables) - set(names.READ_INTO)
    for variable, field in names.READ_INTO.items():
        assert field in names.OWN["http"]
        assert fmt.fields.get(field) is not None or field == "time", variable


def test_the_keys_of_a_joined_error_are_those_the_correlation_gives() -> None:
    error = (
        b"2025/01/15 10:00:04 [error] 1311#0: *5120 connect() failed (111: Connection refused) while connecting "
        b'to upstream, client: 10.0.0.5, server: kong, request: "GET /orders HTTP/1.1", upstream: '
        b'"http://10.0.0.12:8080/orders", host: "api.example.test", request_id: "d2f5a8c1e4b7d0a3f6c9e2b5d8a1c4f7"\n'
    )
    access = (
        b'10.0.0.5 - - [15/Jan/2025:10:00:04 +0000] "GET /orders HTTP/1.1" 502 126 "-" "curl/8.5.0" '
        b'kong_request_id: "d2f5a8c1e4b7d0a3f6c9e2b5d8a1c4f7"\n'
    )
    [request] = parse_bytes(access, "access")
    assert isinstance(request, Http)
    [joined] = [e for e in Correlator().join([*parse_bytes(error, "error"), request]) if isinstance(e, Http)]
    assert set(joined.extra) - set(request.extra) == set(names.JOINED)
    assert tuple(joined.extra["error"]) == names.JOINED_ERROR


@pytest.mark.parametrize(("source", "event"), sorted(KONG_UNIQUE))
def test_kongs_unique_fields_are_among_those_it_documents(source: str, event: str) -> None:
    documented = names.documented(source, event)
    assert documented is not None and set(KONG_UNIQUE[(source, event)]) <= set(documented)
