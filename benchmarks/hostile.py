"""Benchmark: parse time of hostile access-log lines as their hostile part doubles (issue 12, point 8).

    python -m benchmarks.hostile [--sizes 1,2,4,8] [--repeat R] [--case SUBSTRING]

For each case of tests/test_log_format_hostile.py (the built-in formats, the issue's escape=none and typo
formats, the fixtures' custom formats; User-Agents of `" "`, runs of spaces, quotes, brackets, digits) it
parses the line with its hostile part at each size (KiB), through the parser as the drivers use it, and prints
the best time of R runs and the ratio to the previous size. Linear time gives ratios near 2 (the fixed part of
the line and the per-line overhead make them lower at small sizes); anything steadily above ~3 would be the
backtracking this guards against. The pass/fail tests assert results only: timings belong here.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC

from tailer.events import Event
from tailer.lines import Chunk
from tailer.parse import ParseContext, make_parser
from tests.conftest import HOST
from tests.test_log_format_hostile import CASES, KIB, Case


def parse_time(case: Case, size: int, repeat: int) -> float:
    line, _ = case.line(size)
    chunk = Chunk(0, line + b"\n")
    best = float("inf")
    for _ in range(repeat):
        parser = make_parser("access", ParseContext("access.log", HOST, UTC), case.formats)
        t = time.perf_counter()
        events: list[Event] = parser.feed(chunk)
        best = min(best, time.perf_counter() - t)
        assert events is not None
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,2,4,8", help="sizes of the hostile part in KiB (default 1,2,4,8)")
    ap.add_argument("--repeat", type=int, default=20, help="runs per measurement; the best is kept (default 20)")
    ap.add_argument("--case", default="", help="only the cases whose name contains this")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    head = "".join(f"{s:>8} KiB" for s in sizes)
    print(f"{'case':<40}{head}   ratios per doubling   (best of {args.repeat}, microseconds)")
    worst = 0.0
    for case in CASES:
        if args.case not in case.name:
            continue
        times = [parse_time(case, s * KIB, args.repeat) for s in sizes]
        ratios = [b / a for a, b in zip(times, times[1:], strict=False) if a > 0]
        worst = max([worst, *ratios])
        cells = "".join(f"{t * 1e6:>12.1f}" for t in times)
        print(f"{case.name:<40}{cells}   " + " ".join(f"{r:.2f}" for r in ratios))
    print(f"largest ratio: {worst:.2f}")


if __name__ == "__main__":
    main()
