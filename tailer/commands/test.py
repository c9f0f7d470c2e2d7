"""`kong-tailer test [RULES_DIR]`: the test cases kept beside the rules, run (Vector's `vector test`): log lines
in, the alerts expected out, so whoever changes a rule knows what it will do before the daemon does it.

Test files are `RULES_DIR/tests/*.toml`: a subdirectory, so the rules loader (which reads the `*.toml` files
of RULES_DIR itself) never takes them for rules, and they go wherever the rules are copied. A file holds cases:

    [[test]]
    name = "a consumer over its limit: one message, then snoozed for 5 minutes"
    rules = ["rate-limit-exceeded"]    # optional: only these rules run (default: every rule of RULES_DIR)
    tz = "UTC"                         # optional: the error log's time zone (default UTC); host = "test-host"
    error_log = '''
    2025/01/15 10:00:02 [notice] 1311#0: ...
    '''
    access_log = [                     # a string, or a list of strings and { text, repeat } tables
      '10.0.0.5 - - [15/Jan/2025:10:00:00 +0000] "GET /orders HTTP/1.1" 200 731 "-" "curl/8.5.0"',
      { repeat = 6, text = '10.0.0.5 - - [15/Jan/2025:10:00:01 +0000] "GET /orders HTTP/1.1" 502 ...' },
    ]
    until = 2025-01-15T10:10:00Z       # optional: the logs' time moves on to here, quiet, before they end

    [[test.expect]]                    # every alert the lines make, in the order they fire; `expect = []`: none
    rule = "rate-limit-exceeded"
    contains = "username 'mobile-app'" # the alert's text holds this (or each of a list); text = "...": is this
    count = 1                          # optional: the events it stands for
    time = 2025-01-15T10:00:02Z        # optional: when it fired; first, last: its first and last event

A case runs as `replay` runs: its logs are written to files in a temporary directory and read as replay reads
files (`FileEvents`, one timeline over them), through a `Pipeline` of the rules, finished at the end of the
input. The alerts are taken from the messages (each once, whichever notifiers it goes to, in the order they
fired) and their texts are the rule's `text` filled in, unescaped: nothing is sent.

Exit code: 0 every case passed, 1 some case failed (each with what was expected against what came out), 2 a
test file is broken (each mistake as `file:line: ...`), there is none, or the rules do not load.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any, TextIO

from tailer.alerts import Alert, Message
from tailer.commands.replay import generation_keys, timeline  # one way to read files, as replay reads them
from tailer.config import resolve_zone
from tailer.errors import ConfigError, TailerError
from tailer.events import Event
from tailer.lines import DEFAULT_MAX_LINE
from tailer.notify.summary import controls
from tailer.pipeline import Pipeline
from tailer.reader import read_options
from tailer.rules.load import load_rules
from tailer.rules.model import RuleSet
from tailer.sources import FileEvents
from tailer.template import no_escape
from tailer.tomltext import did_you_mean

TESTS = "tests"  # the subdirectory of the rules directory
HOST = "test-host"
BATCH = 2048  # events handed to the pipeline at a time, as replay does
_CASE_KEYS = {"name", "rules", "tz", "host", "log_format", "error_log", "access_log", "until", "expect"}
_EXPECT_KEYS = {"rule", "text", "contains", "count", "time", "first", "last"}
_LOGS = {"error_log": "error.log", "access_log": "access.log"}


@dataclass(frozen=True)
class Expect:
    """One alert a case expects; what is not given is not compared."""

    line: int
    rule: str
    text: str | None = None  # the whole text
    contains: tuple[str, ...] = ()  # pieces of it
    count: int | None = None
    time: datetime | None = None
    first: datetime | None = None
    last: datetime | None = None

    def matches(self, got: Got) -> bool:
        return (
            self.rule == got.rule
            and (self.text is None or self.text == got.text)
            and all(piece in got.text for piece in self.contains)
            and (self.count is None or self.count == got.count)
            and (self.time is None or self.time == got.time)
            and (self.first is None or self.first == got.first)
            and (self.last is None or self.last == got.last)
        )

    def show(self) -> str:
        out = self.rule + (f" ×{self.count}" if self.count is not None else "")
        for what, t in (("at", self.time), ("first", self.first), ("last", self.last)):
            out += f" {what} {t.isoformat()}" if t is not None else ""
        if self.text is not None:
            return f"{out}: {_quote(self.text)}"
        return out + (": text containing " + " and ".join(map(_quote, self.contains)) if self.contains else "")


@dataclass(frozen=True)
class Got:
    """One alert that came out."""

    rule: str
    text: str
    count: int
    time: datetime
    first: datetime
    last: datetime

    @classmethod
    def of(cls, alert: Alert) -> Got:
        return cls(alert.rule.name, alert.render("text", no_escape), alert.count, alert.time, alert.first, alert.last)

    def show(self) -> str:
        span = f" (first {self.first.isoformat()})" if self.first != self.time else ""
        return f"{self.rule} ×{self.count} at {self.time.isoformat()}{span}: {_quote(self.text)}"


@dataclass(frozen=True)
class Case:
    file: str
    line: int
    name: str
    logs: dict[str, str]  # file name → its text
    expect: tuple[Expect, ...]
    rules: tuple[str, ...] = ()
    zone: str = "UTC"
    host: str = HOST
    log_formats: tuple[str, ...] = ()
    until: datetime | None = None

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def run_tests(rules_dir: str, out: TextIO, err: TextIO) -> int:
    directory = os.path.join(rules_dir, TESTS)
    ruleset = load_rules(rules_dir)  # mistakes in the rules: ConfigError (exit 2)
    known = {r.name for r in ruleset.rules}
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".toml"))
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot read the tests: {exc.strerror or exc}") from None
    if not names:
        raise ConfigError(f"{directory}: no test files (*.toml) there")
    cases: list[Case] = []
    problems: list[str] = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}:1: cannot read: {getattr(exc, 'strerror', None) or exc}")
            continue
        cases += read_cases(path, text, known, problems)
    passed = failed = 0
    for case in cases:
        try:
            got, errors = run_case(case, ruleset)
        except TailerError as exc:  # a zone or a log_format the case gives, that cannot be used
            problems.append(f"{case.where()}: {exc}")
            continue
        report = _compare(case.expect, got) + errors
        if report:
            failed += 1
            out.write(f"FAIL {case.where()}: {controls(case.name)}\n")
            out.writelines(f"     {controls(line)}\n" for line in report)
        else:
            passed += 1
            out.write(f"ok   {case.where()}: {controls(case.name)}\n")
    for problem in problems:
        err.write(f"{problem}\n")
    broken = f", {len(problems)} problem(s) in the test files" if problems else ""
    out.write(f"{passed} passed, {failed} failed{broken} ({len(names)} file(s) in {directory})\n")
    return 2 if problems else 1 if failed else 0


def run_case(case: Case, ruleset: RuleSet) -> tuple[list[Got], list[str]]:
    """The alerts a case's logs make through `ruleset` (its rules only, when it names some), in the order they
    fired; and the rules' failures, said."""
    if case.rules:
        ruleset = replace(ruleset, rules=tuple(r for r in ruleset.rules if r.name in case.rules))
    pipeline = Pipeline(ruleset)
    read = read_options("auto", case.zone, case.host, case.log_formats, DEFAULT_MAX_LINE)
    read = replace(read, ctx=pipeline.parse_context(read.ctx))
    alerts: dict[str, Alert] = {}
    errors: list[str] = []

    def take(messages: list[Message]) -> None:
        for message in messages:
            for alert in message.alerts:
                alerts.setdefault(alert.key, alert)

    with tempfile.TemporaryDirectory(prefix="kong-tailer-test-") as tmp:
        paths = []
        for name, text in case.logs.items():
            paths.append(os.path.join(tmp, name))
            with open(paths[-1], "w", encoding="utf-8") as f:
                f.write(text)
        files = [FileEvents(path, read) for path in paths]
        for batch in _batches(timeline(files, None, None)):
            outcome = pipeline.feed(batch, origins=generation_keys(files))
            take(outcome.messages)
            for failure in outcome.failures:
                where = f"{os.path.basename(failure.event.file)}:{failure.event.lineno}"
                errors.append(f"rule {failure.rule} failed on {where}: {type(failure.error).__name__}: {failure.error}")
        if case.until is not None:
            take(pipeline.advance(case.until.timestamp()).messages)
        take(pipeline.finish().messages)
    got = sorted(alerts.values(), key=lambda a: a.time)  # stable: alerts of one time stay in the order they came
    return [Got.of(a) for a in got], errors


def _batches(events: Iterator[Event]) -> Iterator[list[Event]]:
    batch: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    yield batch


def _compare(expect: tuple[Expect, ...], got: list[Got]) -> list[str]:
    """Nothing when `got` is what `expect` says, alert for alert; else the two lined up as a diff: `-` an
    expected alert that did not come, `+` one that came unexpected, ` ` one as expected."""
    n, m = len(expect), len(got)
    # the longest run of expectations met in order (LCS): the alerts that match line up, the others are the diff
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if expect[i].matches(got[j]):
                best[i][j] = best[i + 1][j + 1] + 1
            else:
                best[i][j] = max(best[i + 1][j], best[i][j + 1])
    if best[0][0] == n == m:
        return []
    lines = [f"expected {n} alert(s), got {m}; - expected, not come; + came, not expected:"]
    i = j = 0
    while i < n or j < m:
        if i < n and j < m and expect[i].matches(got[j]) and best[i][j] == best[i + 1][j + 1] + 1:
            lines.append(f"  {got[j].show()}")
            i, j = i + 1, j + 1
        elif i < n and j < m and best[i + 1][j + 1] == best[i][j]:  # one alert in place of another: side by side
            lines += [f"- {expect[i].show()}", f"+ {got[j].show()}"]
            i, j = i + 1, j + 1
        elif i < n and (j == m or best[i + 1][j] >= best[i][j + 1]):
            lines.append(f"- {expect[i].show()}")
            i += 1
        else:
            lines.append(f"+ {got[j].show()}")
            j += 1
    return lines


def _quote(text: str) -> str:
    return '"' + text.replace("\n", "\\n").replace("\t", "\\t") + '"'


# -- reading test files


class _Lines:
    """Where the cases and their keys are in a file's text (tomllib does not say), for messages."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        header = re.compile(r"\s*\[\[\s*test\s*\]\]")
        self.starts = [i + 1 for i, line in enumerate(self.lines) if header.match(line)]

    def top(self, key: str) -> int:
        """The line that sets `key` before the first case (1 if none does)."""
        pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*[=.]|\s*\[\s*{re.escape(key)}\s*[\].]")
        end = self.starts[0] if self.starts else len(self.lines) + 1
        return next((n for n in range(1, end) if pattern.match(self.lines[n - 1])), 1)

    def span(self, case: int) -> range:
        start = self.starts[case] if case < len(self.starts) else 1
        end = self.starts[case + 1] if case + 1 < len(self.starts) else len(self.lines) + 1
        return range(start, end)

    def key(self, case: int, key: str) -> int:
        pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
        span = self.span(case)
        return next((n for n in span if pattern.match(self.lines[n - 1])), span.start)

    def expects(self, case: int) -> list[int]:
        """The lines of the case's expectations: their `[[test.expect]]` headers, or (inline tables) their
        `rule = `."""
        span = self.span(case)
        headers = [n for n in span if re.match(r"\s*\[\[\s*test\s*\.\s*expect\s*\]\]", self.lines[n - 1])]
        rule = re.compile(r"(?<![\w-])rule\s*=")
        return headers or [n for n in span for _ in rule.finditer(self.lines[n - 1])]

    def expect(self, case: int, index: int, key: str | None = None) -> int:
        """The line of the case's `index`-th expectation, or of its `key` when it can be found."""
        found = self.expects(case)
        if index >= len(found):
            return self.span(case).start
        start = found[index]
        end = found[index + 1] if index + 1 < len(found) else self.span(case).stop
        if key is not None:
            pattern = re.compile(rf"(?<![\w-]){re.escape(key)}\s*=")
            return next((n for n in range(start, max(end, start + 1)) if pattern.search(self.lines[n - 1])), start)
        return start


def read_cases(path: str, text: str, known: set[str], problems: list[str]) -> list[Case]:
    """The cases of one test file; each mistake (`file:line: ...`) added to `problems`. `known`: the rules."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = m.group(1) if m else len(text.splitlines()) if "end of document" in str(exc) else 1
        what = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        problems.append(f"{path}:{line}: not valid TOML: {what}")
        return []
    where = _Lines(text)
    for key in sorted(set(doc) - {"test"}):
        problems.append(f"{path}:{where.top(key)}: unknown top-level key {key!r} (each case is a [[test]] table)")
    tables = doc.get("test", [])
    if not isinstance(tables, list) or not tables:
        problems.append(f"{path}:1: no test: each case is a [[test]] table")
        return []
    cases = []
    for i, table in enumerate(tables):
        case = _CaseReader(path, where, i, table, known, problems).read()
        if case is not None:
            cases.append(case)
    return cases


class _CaseReader:
    def __init__(
        self, path: str, where: _Lines, index: int, table: dict[str, Any], known: set[str], problems: list[str]
    ) -> None:
        self.path, self.where, self.index, self.t, self.known = path, where, index, table, known
        self.problems = problems
        self.bad = False
        self.line = where.span(index).start

    def problem(self, line: int, what: str) -> None:
        name = self.t.get("name")
        who = f"test {name!r}" if isinstance(name, str) else "test"
        self.problems.append(f"{self.path}:{line}: {who}: {what}")
        self.bad = True

    def key_problem(self, key: str, what: str) -> None:
        self.problem(self.where.key(self.index, key), f"{key}: {what}")

    def read(self) -> Case | None:
        t = self.t
        for key in sorted(set(t) - _CASE_KEYS):
            self.key_problem(key, f"unknown key (known: {', '.join(sorted(_CASE_KEYS))})")
        name = t.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problem(self.line, "every test needs a `name`")
        rules = self._strings("rules")
        for rule in rules:
            if rule not in self.known:
                self.key_problem(
                    "rules", f"no rule {rule!r} in the rules directory{did_you_mean(rule, sorted(self.known))}"
                )
        zone = self._string("tz", "UTC")
        host = self._string("host", HOST)
        try:
            tz = resolve_zone(zone)
        except ConfigError as exc:
            self.key_problem("tz", str(exc))
            tz = resolve_zone("UTC")
        logs = {}
        for key, file in _LOGS.items():
            if key in t:
                logs[file] = self._log(key, t[key])
        if not logs:
            self.problem(self.line, "no log lines: give error_log, access_log or both")
        until = self._time(self.where.key(self.index, "until"), "until", t.get("until"), tz)
        running = None if not set(rules) <= self.known else set(rules) or self.known  # None: told above
        expect = self._expectations(tz, running)
        if self.bad or not isinstance(name, str):
            return None
        return Case(self.path, self.line, name, logs, expect, rules, zone, host, self._strings("log_format"), until)

    def _string(self, key: str, default: str) -> str:
        value = self.t.get(key, default)
        if not isinstance(value, str):
            self.key_problem(key, "must be a string")
            return default
        return value

    def _strings(self, key: str) -> tuple[str, ...]:
        value = self.t.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.key_problem(key, "must be a list of strings")
            return ()
        return tuple(value)

    def _log(self, key: str, value: Any) -> str:
        """A log's text: a string, or a list of strings and { text, repeat } tables, a newline after each."""
        parts = value if isinstance(value, list) else [value]
        out = []
        for part in parts:
            text, repeat = part, 1
            if isinstance(part, dict):
                unknown = sorted(set(part) - {"text", "repeat"})
                text, repeat = part.get("text"), part.get("repeat", 1)
                if unknown or not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
                    self.key_problem(key, "a table in it takes `text` and `repeat` (a count, 1 or more)")
                    continue
            if not isinstance(text, str):
                self.key_problem(key, "must be the lines as a string, or a list of strings and { text, repeat }")
                continue
            if text and not text.endswith("\n"):
                text += "\n"
            out.append(text * repeat)
        return "".join(out)

    def _time(self, line: int, key: str, value: Any, zone: tzinfo) -> datetime | None:
        """A time: a TOML date-time or an ISO 8601 string; without an offset, in the case's `tz`."""
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                self.problem(line, f"{key}: {value!r} is not an ISO 8601 time (2025-01-15T10:00:02Z)")
                return None
        if not isinstance(value, datetime):
            self.problem(line, f"{key}: a date and a time are needed (2025-01-15T10:00:02Z)")
            return None
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)

    def _expectations(self, zone: tzinfo, running: set[str] | None) -> tuple[Expect, ...]:
        tables = self.t.get("expect")
        if tables is None:
            self.problem(self.line, "no `expect`: list the alerts the lines make ([[test.expect]]), or expect = []")
            return ()
        if not isinstance(tables, list) or not all(isinstance(e, dict) for e in tables):
            self.key_problem("expect", "must be tables: [[test.expect]], or expect = [{ rule = ... }]")
            return ()
        out = []
        for j, e in enumerate(tables):

            def at(key: str | None = None, j: int = j) -> int:
                return self.where.expect(self.index, j, key)

            for key in sorted(set(e) - _EXPECT_KEYS):
                self.problem(at(key), f"expect: unknown key {key!r} (known: {', '.join(sorted(_EXPECT_KEYS))})")
            rule = e.get("rule")
            if not isinstance(rule, str):
                self.problem(at(), "expect: every expected alert needs the `rule` that makes it")
                continue
            if running is not None and rule not in running:
                ran = "the rules directory" if running is self.known else "the test's `rules`"
                self.problem(at("rule"), f"expect: no rule {rule!r} in {ran}{did_you_mean(rule, sorted(running))}")
            text = e.get("text")
            contains = e.get("contains", [])
            contains = [contains] if isinstance(contains, str) else contains
            if text is not None and not isinstance(text, str):
                self.problem(at("text"), "expect: `text` is a string: the alert's whole text")
                continue
            if not isinstance(contains, list) or not all(isinstance(c, str) for c in contains):
                self.problem(at("contains"), "expect: `contains` is a string, or a list of strings")
                continue
            count = e.get("count")
            if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
                self.problem(at("count"), "expect: `count` is a number of events (0 for a flatline)")
                continue
            time, first, last = (self._time(at(k), f"expect: {k}", e.get(k), zone) for k in ("time", "first", "last"))
            out.append(Expect(at(), rule, text, tuple(contains), count, time, first, last))
        return tuple(out)
