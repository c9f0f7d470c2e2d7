"""Every log under tests/fixtures/ parses to the events in the .jsonl beside it.

A fixture is `<name>.log`, optionally `<name>.args` (extra `kong-tailer parse` arguments, shell-quoted) and the
expected output `<name>.jsonl`, one event per line, as `kong-tailer parse --tz UTC --host fixture-host` prints it.
After a deliberate change of output, rewrite the expected files with KONG_TAILER_REGEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tailer.cli import main
from tailer.parse.accesslog import BUILTIN, compile_log_format
from tests.conftest import random_pieces, read_bytes

FIXTURES = Path(__file__).parent / "fixtures"
PARSE_KINDS = ("error", "access", "json", "mixed")  # fixtures of the parse stage (replay/ has its own test)
LOGS = sorted(log for kind in PARSE_KINDS for log in (FIXTURES / kind).rglob("*.log"))
REGEN = os.environ.get("KONG_TAILER_REGEN") == "1"


def _args(log: Path) -> list[str]:
    args_file = log.with_suffix(".args")
    return shlex.split(args_file.read_text()) if args_file.exists() else []


def _run_cli(log: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[dict[str, Any]], str]:
    monkeypatch.chdir(log.parent)
    result = CliRunner().invoke(main, ["parse", "--tz", "UTC", "--host", "fixture-host", *_args(log), log.name])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


@pytest.mark.parametrize("log", LOGS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_parses_to_the_expected_events(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events, summary = _run_cli(log, monkeypatch)
    expected_file = log.with_suffix(".jsonl")
    if REGEN:
        expected_file.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
    expected = [json.loads(line) for line in expected_file.read_text().splitlines()]
    assert events == expected
    assert f"{log.name}:" in summary and f"{sum(e['kind'] == 'parse_error' for e in events)} parse errors" in summary


@pytest.mark.parametrize("log", LOGS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_read_in_random_pieces_gives_the_same_events(log: Path) -> None:
    args = _args(log)
    fmt = args[args.index("--format") + 1] if "--format" in args else "auto"
    custom = tuple(compile_log_format(a) for i, a in enumerate(args) if i and args[i - 1] == "--log-format")
    data = log.read_bytes()
    opts: dict[str, Any] = {"emit_all": "--all" in args, "formats": custom + BUILTIN}
    whole = [e.to_json() for e in read_bytes(data, fmt, **opts)]  # JSON: nan == nan there
    for seed in range(3):
        assert [e.to_json() for e in read_bytes(random_pieces(data, seed), fmt, **opts)] == whole


@pytest.mark.parametrize("log", LOGS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_event_names_the_line_it_starts_on(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`lineno` is counted by the reader, `offset` by the parser: they agree, for every shape of log."""
    events, _ = _run_cli(log, monkeypatch)
    data = log.read_bytes()
    assert events
    for event in events:
        assert event["lineno"] == data.count(b"\n", 0, event["offset"]) + 1, event


def test_every_fixture_has_expected_output() -> None:
    missing = [str(log.relative_to(FIXTURES)) for log in LOGS if not log.with_suffix(".jsonl").exists()]
    assert not missing
