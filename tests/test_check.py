"""`kong-tailer check`: what loads is listed; every mistake is reported as `file:line: rule 'name': what`, with the
line of the key that is wrong (the line numbers in the fixtures below are counted from their first line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tailer.cli import main

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = Path(__file__).resolve().parent / "fixtures" / "replay" / "contract" / "rules" / "contract.toml"


def check(rules: Path | str) -> Result:
    return CliRunner().invoke(main, ["check", "--rules", str(rules)])


def rule_names(path: Path) -> list[str]:
    return re.findall(r'^name = "([^"]+)"', path.read_text(), re.M)


def test_shipped_rules_load() -> None:
    result = check(ROOT / "rules")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    names = [n for f in sorted((ROOT / "rules").glob("*.toml")) for n in rule_names(f)]
    assert len(names) >= 7
    files = len(list((ROOT / "rules").glob("*.toml")))
    assert result.stdout.startswith(f"{len(names)} rules from {files} files in {ROOT / 'rules'}\n")
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ") and "→" in line]
    assert listed == names
    assert "\nnotifiers\n  slack " in result.stdout


def test_contract_rules_load(tmp_path: Path) -> None:
    (tmp_path / "contract.toml").write_text(CONTRACT.read_text())
    result = check(tmp_path)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"2 rules from 1 files in {tmp_path}"
    assert lines[1].split()[0] == "rate-limit-exceeded"
    assert "snooze 300 s" in lines[1] and "→ slack" in lines[1]
    # snooze without on_change: Kong silences the whole rule, and check says so
    assert "note: snooze without on_change" in lines[2]
    assert lines[3].split()[0] == "upstream-5xx"
    assert "when status >= 500" in lines[3]


# (case, file text, line, who, hint): `who` is "rule 'name'" or "notifier 'name'"
BROKEN = [
    pytest.param(
        '[[rule]]\nname = "a"\nkind = "http"\ntext = "unterminated\nnotify = ["slack"]\n',
        4, None, "not valid TOML",
        id="bad-toml",
    ),
    pytest.param(
        '# a rule with a typo\n[[rule]]\nname = "rl"\nsource = "rate-limiting-advanced"\n'
        'event = "rate-limit-exceeded"\nsnoze = 300\ntext = "x"\n',
        6, "rule 'rl'", "unknown key 'snoze'",
        id="unknown-key",
    ),
    pytest.param(
        '[[rule]]\nname = "ok"\ntext = "fine"\n\n[[rule]]\nname = "no-text"\nkind = "http"\nwhen = "status >= 500"\n',
        5, "rule 'no-text'", "needs a `text`",
        id="missing-text",
    ),
    pytest.param(
        '[[rule]]\nname = "w"\nkind = "http"\nwhen = "status >== 500"\ntext = "x"\n',
        4, "rule 'w'", "when: ",
        id="bad-when",
    ),
    pytest.param(
        '[[rule]]\nname = "w2"\nkind = "http"\ntext = "x"\nwhen = \'status >= 500 and\'\n',
        5, "rule 'w2'", "when: ",
        id="bad-when-incomplete",
    ),
    pytest.param(
        '[[rule]]\nname = "n"\nkind = "http"\ntext = "x"\nnotify = ["slack", "pagerduty"]\n',
        5, "rule 'n'", "no notifier 'pagerduty'",
        id="unknown-notifier",
    ),
    pytest.param(
        '[[rule]]\nname = "dup"\ntext = "x"\n\n[[rule]]\nkind = "error"\nname = "dup"\ntext = "y"\n',
        7, "rule 'dup'", "name already used at {file}:1",
        id="duplicate-name",
    ),
    pytest.param(
        '[[rule]]\nname = "d"\nkind = "error"\nsnooze = "5 minutes"\ntext = "x"\n',
        4, "rule 'd'", "snooze: '5 minutes' is not a duration",
        id="bad-duration",
    ),
    pytest.param(
        '[[rule]]\nname = "d2"\nkind = "error"\ntext = "x"\nthreshold = { count = 5, within = "1 hour" }\n',
        5, "rule 'd2'", "is not a duration",
        id="bad-duration-in-threshold",
    ),
    pytest.param(
        '[[rule]]\nname = "t"\nkind = "error"\nthreshold = { count = 5 }\ntext = "x"\n',
        4, "rule 't'", "within is missing",
        id="threshold-without-within",
    ),
    pytest.param(
        '[[rule]]\nname = "two"\nkind = "http"\nthreshold = { count = 5, within = 60 }\n'
        'ratio = { when = "status >= 500", above = 0.05, within = 300 }\ntext = "x"\n',
        5, "rule 'two'", "one aggregation per rule, not threshold and ratio",
        id="two-aggregations",
    ),
    pytest.param(
        '[notifier.ops]\ntype = "webhook"\nurl_env = "OPS_URL"\nmethd = "POST"\n',
        4, "notifier 'ops'", "unknown key 'methd'",
        id="unknown-notifier-key",
    ),
    pytest.param(
        '[[rule]]\nname = "c"\ntext = "x"\n\n[notifier.pager]\ntype = "command"\nenv = { A = "b" }\n',
        5, "notifier 'pager'", "needs `argv`",
        id="command-without-argv",
    ),
    pytest.param(
        '[[rule]]\nname = "tpl"\nkind = "http"\ntext = "{{ status"\n',
        4, "rule 'tpl'", "never closed",
        id="unclosed-template",
    ),
    pytest.param(
        '[[rule]]\nname = "k"\nkind = "request"\ntext = "x"\n',
        3, "rule 'k'", "kind: must be one of",
        id="unknown-kind",
    ),
]  # fmt: skip


def expect(result: Result, path: Path, line: int, who: str | None, hint: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    prefix = f"{path}:{line}: " + (f"{who}: " if who else "")
    found = [e for e in result.stderr.splitlines() if e.startswith(prefix)]
    assert found, f"no line starting {prefix!r} in:\n{result.stderr}"
    assert any(hint.format(file=path) in e for e in found), f"{hint!r} not in {found}"


@pytest.mark.parametrize(("text", "line", "who", "hint"), BROKEN)
def test_broken_rule_file(tmp_path: Path, text: str, line: int, who: str | None, hint: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    result = check(tmp_path)
    expect(result, path, line, who, hint)
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith("kong-tailer: ") and f"problem(s) in {tmp_path}" in result.stderr


# Other spellings TOML allows: the line is still that of the key or table that is wrong
OTHER_SPELLINGS = [
    pytest.param(
        '[[rule]]\nname = "ok"\ntext = "x"\n\n[[rules]]\nname = "typo"\ntext = "y"\n',
        5, None, "unknown top-level key 'rules'",
        id="rules-table-typo",
    ),
    pytest.param(
        '[[rule]]\nname = "sub"\ntext = "x"\nkind = "error"\n\n[rule.threshold]\ncount = 5\n',
        6, "rule 'sub'", "within is missing",
        id="threshold-sub-table",
    ),
    pytest.param(
        '[[rule]]\nname = "dotted"\ntext = "x"\nkind = "error"\nthreshold.count = 5\n',
        5, "rule 'dotted'", "within is missing",
        id="threshold-dotted-key",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "who", "hint"), OTHER_SPELLINGS)
def test_line_of_other_toml_spellings(tmp_path: Path, text: str, line: int, who: str | None, hint: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    expect(check(tmp_path), path, line, who, hint)


def test_every_mistake_of_a_directory_is_reported(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    a.write_text(
        '[[rule]]\nname = "first"\nsnoze = 5\ntext = "x"\n\n'  # 1-5
        '[[rule]]\nname = "second"\nkind = "http"\nwhen = "status >>= 5"\n'  # 6-9 (and no text)
    )
    b.write_text(
        '[[rule]]\nname = "first"\ntext = "again"\nnotify = ["nobody"]\n\n'  # 1-5
        '[notifier.pager]\ntype = "command"\n'  # 6-7
    )
    result = check(tmp_path)
    assert result.exit_code == 1
    problems = result.stderr.splitlines()
    assert problems[-1] == f"kong-tailer: 6 problem(s) in {tmp_path}"
    for path, line, who, hint in [
        (a, 3, "rule 'first'", "unknown key 'snoze'"),
        (a, 6, "rule 'second'", "needs a `text`"),
        (a, 9, "rule 'second'", "when: "),
        (b, 2, "rule 'first'", f"name already used at {a}:1"),
        (b, 4, "rule 'first'", "no notifier 'nobody'"),
        (b, 6, "notifier 'pager'", "needs `argv`"),
    ]:
        assert any(p.startswith(f"{path}:{line}: {who}: ") and hint in p for p in problems), (path, line, hint)
    assert result.stdout == ""


def test_disabled_rule_is_not_loaded(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(
        '[[rule]]\nname = "on"\ntext = "x"\n\n[[rule]]\nname = "off"\nenabled = false\ntext = "y"\n'
    )
    result = check(tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("1 rules from 1 files")
    assert "  on " in result.stdout and " off " not in result.stdout


def test_missing_or_empty_rules_dir(tmp_path: Path) -> None:
    result = check(tmp_path / "nope")
    assert result.exit_code == 1
    assert f"{tmp_path / 'nope'}: cannot read the rules directory" in result.stderr
    result = check(tmp_path)
    assert result.exit_code == 1
    assert f"{tmp_path}: no rule files (*.toml) there" in result.stderr
