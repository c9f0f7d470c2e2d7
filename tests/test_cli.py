# ruff: noqa: E501  (verbatim log lines below)
"""`kong-tailer parse`, end to end: through a real `python -m tailer` process, and through click's CliRunner."""

from __future__ import annotations

import gzip
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tailer.cli import main
from tailer.lines import KEEP_OF_CUT_LINE

ROOT = Path(__file__).resolve().parent.parent

KONG_429 = '10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /orders HTTP/1.1" 429 92 "-" "curl/8.5.0" kong_request_id: "8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b"'
KONG_200 = '10.0.0.5 - - [15/Jan/2025:10:00:03 +0000] "GET /fine HTTP/1.1" 200 15 "-" "curl/8.5.0" kong_request_id: "1123456789abcdef0123456789abcdef"'
COMBINED_503 = '10.0.0.5 - - [15/Jan/2020:10:00:03 +0000] "GET /orders HTTP/1.1" 503 36 "-" "curl/7.68.0"'
ACCESS = "\n".join([KONG_429, KONG_200, COMBINED_503]) + "\n"

ERROR_JAN = '2025/01/15 10:00:06 [error] 1280#0: *77 connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.5, server: kong, request: "GET /orders HTTP/1.1", upstream: "http://10.0.0.7:8080/orders", host: "api.example.test"'
ERROR_JUL = '2025/07/15 10:00:06 [error] 1280#0: *78 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.5, server: kong, request: "GET /slow HTTP/1.1", upstream: "http://10.0.0.7:8080/slow", host: "api.example.test"'
ERRORS = ERROR_JAN + "\n" + ERROR_JUL + "\n"


def kong(*args: str, input: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m tailer parse ARGS` in a real process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "tailer", "parse", *args],
        input=input if input is not None else b"",
        capture_output=True,
        timeout=60,
        cwd=cwd or ROOT,
        env=env,
    )


def _no_constants(name: str) -> Any:
    raise AssertionError(f"not strict JSON: {name}")


def events_of(stdout: bytes | str) -> list[dict[str, Any]]:
    """Every stdout line as strict JSON, checked for the fields every event has."""
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    out = []
    for line in text.splitlines():
        event = json.loads(line, parse_constant=_no_constants)
        assert isinstance(event, dict)
        assert {"kind", "time", "host", "file", "offset", "raw"} <= event.keys(), event
        assert isinstance(event["offset"], int) and event["offset"] >= 0
        if event["time"] is not None:
            t = datetime.fromisoformat(event["time"])
            assert t.tzinfo is not None, event["time"]
        out.append(event)
    return out


def stderr_lines(stderr: bytes | str) -> list[str]:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    return text.splitlines()


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def run_cli(args: Sequence[str]) -> Any:
    return CliRunner().invoke(main, ["parse", *args])


# =========================================================================== output shape


def test_json_lines_on_stdout_and_a_summary_per_file_on_stderr(tmp_path: Path) -> None:
    access = write(tmp_path / "access.log", ACCESS)
    errors = write(tmp_path / "error.log", ERRORS)
    r = kong(str(access), str(errors), "--tz", "UTC")
    assert r.returncode == 0, r.stderr
    events = events_of(r.stdout)
    assert [(e["kind"], e["file"], e["offset"]) for e in events] == [
        ("http", str(access), 0),
        ("http", str(access), ACCESS.index(COMBINED_503)),
        ("error", str(errors), 0),
        ("error", str(errors), len(ERROR_JAN) + 1),
    ]
    assert [e["raw"] for e in events] == [KONG_429, COMBINED_503, ERROR_JAN, ERROR_JUL]
    assert events[0]["time"] == "2025-01-15T10:00:02+00:00"
    assert events[0]["status"] == 429 and events[0]["request_id"] == "8c1e4b7a2d5f9e0c3a6b1d4f7e2a5c8b"
    assert events[2]["time"] == "2025-01-15T10:00:06+00:00"
    assert (events[2]["cause"], events[2]["status"]) == ("upstream_refused", 502)
    assert (events[3]["cause"], events[3]["status"]) == ("upstream_timeout", 504)

    summary = stderr_lines(r.stderr)
    assert len(summary) == 2
    assert str(access) in summary[0] and str(errors) in summary[1]
    assert "access log" in summary[0] and "3 lines" in summary[0] and "http 2" in summary[0]
    assert "0 parse errors" in summary[0]
    assert "1 requests below 400" in summary[0]
    assert "error log" in summary[1] and "2 lines" in summary[1] and "error 2" in summary[1]


def test_event_json_is_strict_and_one_object_per_line(tmp_path: Path) -> None:
    weird = '10.0.0.5 - - [15/Jan/2025:10:00:02 +0000] "GET /caf\\xE2\\x9C\\x93 HTTP/1.1" 500 1 "-" "\\x22quoted\\x22 \\x0A newline"'
    r = kong(str(write(tmp_path / "a.log", weird + "\n")))
    assert r.returncode == 0
    (event,) = events_of(r.stdout)
    assert event["path"] == "/caf✓"
    assert event["user_agent"] == '"quoted" \n newline'
    assert r.stdout.count(b"\n") == 1


# =========================================================================== files that cannot be read


def test_missing_file_is_one_line_and_exit_2_and_the_others_are_still_read(tmp_path: Path) -> None:
    first = write(tmp_path / "first.log", ACCESS)
    missing = tmp_path / "nope.log"
    last = write(tmp_path / "last.log", ERRORS)
    r = kong(str(first), str(missing), str(last), "--tz", "UTC")
    assert r.returncode == 2
    assert {e["file"] for e in events_of(r.stdout)} == {str(first), str(last)}
    lines = stderr_lines(r.stderr)
    about_missing = [line for line in lines if str(missing) in line]
    assert len(about_missing) == 1
    assert "error" in about_missing[0]
    assert len(lines) == 3  # two summaries and the one error
    assert b"Traceback" not in r.stderr


def test_only_a_missing_file(tmp_path: Path) -> None:
    r = kong(str(tmp_path / "nope.log"))
    assert r.returncode == 2
    assert r.stdout == b""
    (line,) = stderr_lines(r.stderr)
    assert str(tmp_path / "nope.log") in line


def test_directory_given_as_a_file(tmp_path: Path) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    r = kong(str(d))
    assert r.returncode == 2
    assert r.stdout == b""
    (line,) = stderr_lines(r.stderr)
    assert str(d) in line
    assert "error" in line


# =========================================================================== stdin and gzip


def test_dash_reads_stdin() -> None:
    r = kong("-", input=ACCESS.encode())
    assert r.returncode == 0, r.stderr
    events = events_of(r.stdout)
    assert [(e["file"], e["status"]) for e in events] == [("-", 429), ("-", 503)]
    (summary,) = stderr_lines(r.stderr)
    assert "-: access log" in summary


def plain_events(path: Path) -> list[tuple[Any, ...]]:
    r = kong(str(path), "--tz", "UTC")
    assert r.returncode == 0, r.stderr
    return [(e["kind"], e["offset"], e["raw"], e.get("status")) for e in events_of(r.stdout)]


def test_gz_file_is_read_transparently(tmp_path: Path) -> None:
    plain = write(tmp_path / "access.log", ACCESS)
    gz = write(tmp_path / "access.log.1.gz", gzip.compress(ACCESS.encode()))
    no_suffix = write(tmp_path / "access.log.2", gzip.compress(ACCESS.encode()))
    expected = plain_events(plain)
    assert len(expected) == 2
    assert plain_events(gz) == expected
    assert plain_events(no_suffix) == expected


def test_gzip_on_stdin() -> None:
    r = kong("-", input=gzip.compress(ERRORS.encode()), cwd=None)
    assert r.returncode == 0, r.stderr
    assert [e["raw"] for e in events_of(r.stdout)] == [ERROR_JAN, ERROR_JUL]


def test_truncated_gz_is_exit_2_with_one_line(tmp_path: Path) -> None:
    body = "".join(KONG_429.replace("/orders", f"/orders/{i}") + "\n" for i in range(2000)).encode()
    packed = gzip.compress(body)
    bad = write(tmp_path / "cut.log.gz", packed[: len(packed) // 2])
    r = kong(str(bad))
    assert r.returncode == 2
    (line,) = stderr_lines(r.stderr)
    assert str(bad) in line
    assert b"Traceback" not in r.stderr
    for event in events_of(r.stdout):  # what was read before the cut is fine
        assert event["file"] == str(bad)


# =========================================================================== options


def test_tz_shifts_error_log_times(tmp_path: Path) -> None:
    errors = write(tmp_path / "error.log", ERRORS)
    access = write(tmp_path / "access.log", ACCESS)
    r = kong("--tz", "Europe/Paris", str(errors), str(access))
    assert r.returncode == 0, r.stderr
    times = [e["time"] for e in events_of(r.stdout)]
    assert times[:2] == ["2025-01-15T10:00:06+01:00", "2025-07-15T10:00:06+02:00"]
    assert datetime.fromisoformat(times[0]).utcoffset() == timedelta(hours=1)
    assert times[2] == "2025-01-15T10:00:02+00:00"  # the access log carries its own offset


def test_tz_fixed_offset(tmp_path: Path) -> None:
    result = run_cli(["--tz", "-05:30", str(write(tmp_path / "e.log", ERROR_JAN + "\n"))])
    assert result.exit_code == 0, result.output
    (event,) = events_of(result.stdout)
    assert event["time"] == "2025-01-15T10:00:06-05:30"


def test_tz_nonsense(tmp_path: Path) -> None:
    r = kong("--tz", "nonsense", str(write(tmp_path / "e.log", ERRORS)))
    assert r.returncode == 2
    assert r.stdout == b""
    (line,) = stderr_lines(r.stderr)
    assert "nonsense" in line
    assert "Europe/Paris" in line  # says what would work
    assert b"Traceback" not in r.stderr


def test_host_option(tmp_path: Path) -> None:
    result = run_cli(["--host", "edge-7", str(write(tmp_path / "a.log", ACCESS))])
    assert result.exit_code == 0, result.output
    events = events_of(result.stdout)
    assert len(events) == 2
    assert {e["host"] for e in events} == {"edge-7"}


def test_format_option_overrides_detection(tmp_path: Path) -> None:
    errors = write(tmp_path / "error.log", ERRORS)
    auto = run_cli(["--tz", "UTC", str(errors)])
    assert auto.exit_code == 0
    assert [e["kind"] for e in events_of(auto.stdout)] == ["error", "error"]
    assert f"{errors}: error log" in auto.stderr

    forced = run_cli(["--format", "access", str(errors)])
    assert forced.exit_code == 0
    assert [e["kind"] for e in events_of(forced.stdout)] == ["parse_error", "parse_error"]
    assert f"{errors}: access log" in forced.stderr
    assert "2 parse errors" in forced.stderr


def test_format_auto_detects_access(tmp_path: Path) -> None:
    result = run_cli([str(write(tmp_path / "a.log", ACCESS))])
    assert result.exit_code == 0
    assert "access log" in result.stderr
    assert [e["kind"] for e in events_of(result.stdout)] == ["http", "http"]


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(["--format", "yaml", str(write(tmp_path / "a.log", ACCESS))])
    assert result.exit_code == 2


def test_all_emits_2xx(tmp_path: Path) -> None:
    path = str(write(tmp_path / "a.log", ACCESS))
    some = run_cli([path])
    everything = run_cli(["--all", path])
    assert [e["status"] for e in events_of(some.stdout)] == [429, 503]
    assert [e["status"] for e in events_of(everything.stdout)] == [429, 200, 503]
    assert "below 400" not in everything.stderr


def test_custom_log_format(tmp_path: Path) -> None:
    fmt = '$remote_addr "$request" $status rt=$request_time up="$upstream_addr"'
    line = '10.9.9.9 "PUT /things/1 HTTP/1.1" 502 rt=0.004 up="10.0.0.7:8080"'
    path = str(write(tmp_path / "custom.log", line + "\n" + KONG_429 + "\n"))
    result = run_cli(["--log-format", fmt, path])
    assert result.exit_code == 0, result.output
    events = events_of(result.stdout)
    assert [(e["status"], e["method"], e["path"], e["client"]) for e in events] == [
        (502, "PUT", "/things/1", "10.9.9.9"),
        (429, "GET", "/orders", "10.0.0.5"),  # the built-in formats are still tried
    ]
    assert events[0]["extra"] == {"request_time": "0.004", "upstream_addr": "10.0.0.7:8080"}

    without = run_cli([path])  # without the format, the custom line is junk
    assert [e["kind"] for e in events_of(without.stdout)] == ["parse_error", "http"]


def test_bad_log_format_is_exit_2_with_one_line(tmp_path: Path) -> None:
    r = kong("--log-format", '$remote_addr "$request"', str(write(tmp_path / "a.log", ACCESS)))
    assert r.returncode == 2
    (line,) = stderr_lines(r.stderr)
    assert "$status" in line


def test_max_line_reports_the_long_line_and_reads_the_next(tmp_path: Path) -> None:
    long_line = "x" * 300
    data = KONG_429 + "\n" + long_line + "\n" + COMBINED_503 + "\n"
    result = run_cli(["--max-line", "200", str(write(tmp_path / "a.log", data))])
    assert result.exit_code == 0, result.output
    events = events_of(result.stdout)
    assert [e["kind"] for e in events] == ["http", "parse_error", "http"]
    cut = events[1]
    assert cut["offset"] == len(KONG_429) + 1
    assert "301 bytes" in cut["reason"]
    assert cut["raw"] == long_line  # the head of that line (all of it: it is shorter than the kept head)
    assert events[2]["offset"] == len(KONG_429) + 1 + 301
    assert events[2]["raw"] == COMBINED_503


def test_max_line_keeps_the_head_of_a_very_long_line(tmp_path: Path) -> None:
    long_line = "".join(chr(65 + i % 26) for i in range(5000))
    data = long_line + "\n" + KONG_429 + "\n"
    result = run_cli(["--max-line", "2000", str(write(tmp_path / "a.log", data))])
    assert result.exit_code == 0, result.output
    events = events_of(result.stdout)
    assert [e["kind"] for e in events] == ["parse_error", "http"]
    assert events[0]["raw"] == long_line[:KEEP_OF_CUT_LINE]
    assert events[1]["offset"] == 5001


# =========================================================================== a reader that goes away


def test_reader_closing_early_gets_no_traceback(tmp_path: Path) -> None:
    line = KONG_429.encode() + b"\n"
    big = write(tmp_path / "big.log", line * 40000)  # far more output than a pipe buffer holds
    err_path = tmp_path / "stderr.txt"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tailer", "parse", str(big)],
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=ROOT,
            env=env,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # like `| head -1`
        returncode = proc.wait(timeout=60)
    assert json.loads(first)["kind"] == "http"
    stderr = err_path.read_bytes()
    assert b"Traceback" not in stderr
    assert b"BrokenPipeError" not in stderr
    assert b"Exception ignored" not in stderr
    assert returncode == 0


def test_non_finite_lua_numbers_do_not_crash_the_output(tmp_path: Path) -> None:
    """Kong 0.14 – 2.6 `kong.log.inspect` notices: `nan` values and a table keyed by `math.huge`."""
    log = (
        "2022/11/21 04:27:36 [notice] 2120#0: *1 [kong] handler.lua:access:12 { x = nan, y = -inf }\n"
        "2022/11/21 04:27:37 [notice] 2120#0: *1 [kong] handler.lua:access:13 { [inf] = 1 }\n"
    )
    r = kong("--tz", "UTC", str(write(tmp_path / "error.log", log)))
    assert b"Traceback" not in r.stderr
    assert r.returncode == 0
    events = events_of(r.stdout)
    assert [e["kind"] for e in events] == ["inspect", "inspect"]
    assert events[0]["values"] == [{"x": "nan", "y": "-inf"}]
    assert events[1]["values"] == [{"inf": 1}]


def test_output_is_byte_identical_whatever_the_hash_seed() -> None:
    custom = ROOT / "tests" / "fixtures" / "access" / "custom-log-format.log"
    args = shlex.split(custom.with_suffix(".args").read_text()) + ["--tz", "UTC", "--host", "h", str(custom)]
    outputs = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        run = subprocess.run([sys.executable, "-m", "tailer", "parse", *args], capture_output=True, env=env, timeout=60)
        assert run.returncode == 0, run.stderr
        outputs.add(run.stdout)
    assert len(outputs) == 1 and b'"extra": {"request_time": "0.004", "upstream_addr"' in outputs.pop()
