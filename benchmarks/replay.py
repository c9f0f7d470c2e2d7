"""Benchmark of `replay` (parse → correlate → rules → budgets) with the shipped rules, against the same
baselines as the parse benchmark, measured in the same run:

    python -m benchmarks.replay [--lines N] [--repeat R] [--rules DIR]

  bare      `for line in file: n += 1`
  regex     one compiled regex per line and `.groupdict()` (the error-prefix and access regexes)
  parse     the parse stage alone (what benchmarks.parse measures)
  replay    the whole one-shot pipeline, messages rendered for Slack and dropped

and a storm: 100,000 5xx requests within one minute of log time through a per-request rule notifying Slack,
reporting how many messages come out and whether their counts add up exactly.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.parse import (
    ACCESS_RE,
    ERR_RE,
    bare_loop,
    parse_stage,
    rate,
    ratio,
    regex_loop,
    rounds,
    write_access_log,
    write_error_log,
)
from tailer.events import Http
from tailer.notify import slack
from tailer.parse import ParseContext
from tailer.pipeline import Pipeline
from tailer.reader import ReadOptions
from tailer.rules.load import load_rules, load_texts
from tailer.rules.model import RuleSet
from tailer.sources import FileEvents

STORM_RULE = """
[[rule]]
name = "upstream-5xx"
kind = "http"
when = "status >= 500"
notify = ["slack"]
text = "{{ status }} on {{ method }} {{ path }}"
"""


def replay_stage(ruleset: RuleSet, fmt: str) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        pipeline = Pipeline(ruleset)
        ctx = pipeline.parse_context(ParseContext(str(path), "bench", UTC))  # as `replay` makes it
        files = FileEvents(str(path), ReadOptions(fmt, ctx))
        messages = []
        for batch in files:
            messages.extend(pipeline.feed(batch).messages)
        messages.extend(pipeline.finish().messages)
        for m in messages:
            slack.render(m)
        run.messages = len(messages)  # type: ignore[attr-defined]
        return files.stats["lines"]

    return run


def storm(events: int = 100_000) -> str:
    """Messages to Slack from `events` 5xx requests spread over one minute of log time."""
    ruleset = load_texts([("storm.toml", STORM_RULE)])
    pipeline = Pipeline(ruleset)
    start = datetime(2025, 1, 15, 10, 0, 0, tzinfo=UTC)
    messages = []
    batch = []
    for i in range(events):
        t = start + timedelta(seconds=60 * i / events)
        batch.append(Http(t, "bench", "access.log", i * 150, f"line {i}", 502, "GET", "/x", "HTTP/1.1",
                          "10.0.0.1", 0, None, None, None, {}))  # fmt: skip
        if len(batch) == 2048:
            messages.extend(pipeline.feed(batch).messages)
            batch = []
    messages.extend(pipeline.feed(batch).messages)
    messages.extend(pipeline.finish().messages)
    counted = sum(m.count for m in messages)
    return f"{len(messages)} Slack messages for {events:,} events in 60 s of log time; counts add up to {counted:,}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100_000, help="lines per generated log (default 100000)")
    ap.add_argument("--repeat", type=int, default=9, help="rounds of measurements (default 9)")
    ap.add_argument("--rules", default=str(Path(__file__).parent.parent / "rules"), help="rules directory")
    args = ap.parse_args()
    ruleset = load_rules(args.rules)
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        error_log, access_log = Path(tmp) / "error.log", Path(tmp) / "access.log"
        write_error_log(error_log, args.lines, rng)
        write_access_log(access_log, args.lines, rng)
        print(f"{len(ruleset.rules)} rules from {args.rules}; {args.lines} lines per log; medians of {args.repeat}")
        for label, path, base_re, fmt in (
            ("debug error.log", error_log, ERR_RE, "error"),
            ("access.log", access_log, ACCESS_RE, "access"),
        ):
            stage = replay_stage(ruleset, fmt)
            runners = {"bare": bare_loop, "regex": regex_loop(base_re), "parse": parse_stage(fmt), "replay": stage}
            times = rounds(path, runners, args.repeat)
            print(
                f"{label:16} replay {rate(times, 'replay'):>10,.0f} lines/s = {ratio(times, 'replay', 'regex')}, "
                f"{ratio(times, 'replay', 'parse')}, {ratio(times, 'replay', 'bare')}; "
                f"{stage.messages} messages"  # type: ignore[attr-defined]
            )
        print(f"{'storm':16} {storm()}")


if __name__ == "__main__":
    main()
