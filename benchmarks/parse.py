"""Benchmark of the parse stage against baselines measured in the same run.

    python -m benchmarks.parse [--lines N] [--repeat R] [--dir DIR]

Generates its own corpus (tests/kongsim.py writes it as Kong would):
  error.log   debug level, 2-4 interleaved workers, about one event-hook box per 200 lines, a few errors
  boxes.log   nothing but event-hook boxes from 3 interleaved workers
  access.log  Kong's kong_log_format with a realistic status mix (~90 % 2xx/3xx)
and reports lines/s of the parse stage (reading, splitting, parsing, building events) as a ratio to
  bare      `for line in file: n += 1`
  regex     one compiled regex per line and `.groupdict()`: the reference's ERR_RE / ACCESS_RE
and two box rates: "box decode" (a box's rows → reassembled text → Lua values → event, the work a
pyparsing grammar would do) and "boxes.log" (the whole parse stage over nothing but interleaved boxes).
These machines are noisy (the same baseline varies by a third from one minute to the next), so each round
runs the baselines and the parse stage back to back, a ratio is taken within each round, and the median
ratio over R rounds is reported with its range; rates are the median of the rounds.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tailer.lines import DEFAULT_MAX_LINE
from tailer.parse import ParseContext, make_parser
from tailer.parse.boxes import HEADED, Box, box_values, inspect_event
from tailer.sources import open_log, read_chunks
from tests import kongsim

ERR_RE = re.compile(
    rb"(?P<ts>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[(?P<level>emerg|alert|crit|error|warn|notice|info|debug|)\] "
    rb"(?P<pid>\d+)#(?P<tid>\d+): (?:\*(?P<conn>\d+) )?(?P<msg>.*)$"
)
ACCESS_RE = re.compile(
    rb"(?P<remote_addr>\S+) - (?P<remote_user>.+?) \[(?P<time_local>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} "
    rb'[+-]\d{4})\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)"'
    rb'(?: kong_request_id: "(?P<kong_request_id>[0-9a-f]{32})")?$'
)
START = datetime(2025, 1, 15, 10, 0, 0, tzinfo=UTC)
DEBUG_MESSAGES = (
    "[lua] balancer.lua:{n}: get_balancer(): balancer not found for orders.svc, will create it",
    '[kong] init.lua:{n} [core] executing plugin "rate-limiting": access (0.{n} ms)',
    "[lua] router.lua:{n}: match(): route matched: {{ name = orders-route }}",
    "[lua] healthcheck.lua:{n}: log(): [healthcheck] (orders.upstream) healthy SUCCESS increment (1/3) "
    "for '10.0.0.{n}'",
    "[lua] cache.lua:{n}: get(): cache hit for key: routes:{n}:::::",
)


def _hook_data(rng: random.Random, i: int) -> tuple[str, str, dict[str, object]]:
    kind = rng.random()
    if kind < 0.5:
        return (
            "rate-limit-exceeded",
            "rate-limiting-advanced",
            {
                "consumer": {"id": f"c{i % 97:04d}-aaaa", "username": f"user-{i % 97}"} if i % 3 else {},
                "ip": f"10.42.{i % 256}.{(i * 7) % 256}",
                "limit": 100,
                "rate": 100 + i % 9,
                "window": "minute",
                "service": {
                    "connect_timeout": 60000,
                    "host": "orders.internal",
                    "id": f"svc-{i % 5}",
                    "name": f"orders-{i % 5}",
                    "path": "/anything",
                    "port": 80,
                    "protocol": "http",
                    "read_timeout": 60000,
                    "retries": 5,
                    "write_timeout": 60000,
                },
            },
        )
    if kind < 0.8:
        return (
            "health",
            "balancer",
            {
                "health": rng.choice(["healthy", "unhealthy"]),
                "hostname": "orders.internal",
                "ip": f"10.0.0.{i % 250}",
                "port": 8080,
                "upstream_id": f"up-{i % 7}",
            },
        )
    return (
        "consumers",
        "crud",
        {
            "entity": {
                "created_at": 1702735046 + i,
                "id": f"4757bd6b-{i:04d}",
                "type": 0,
                "username": f"consumer-{i}",
            },
            "operation": rng.choice(["create", "update", "delete"]),
            "schema": "consumers",
        },
    )


def _stamp(t: datetime) -> str:
    return t.strftime("%Y/%m/%d %H:%M:%S")


def write_error_log(path: Path, lines: int, rng: random.Random, box_every: int = 200) -> int:
    """A debug-level error.log; returns the number of boxes written."""
    workers = [1000 + w for w in range(rng.randint(2, 4))]
    pending: dict[int, list[str]] = {w: [] for w in workers}
    out: list[str] = []
    boxes = 0
    t = START
    i = 0
    while len(out) < lines:
        i += 1
        if i % 50 == 0:
            t += timedelta(seconds=1)
        w = rng.choice(workers)
        if pending[w]:  # this worker is in the middle of printing a box: one row per turn
            out.append(pending[w].pop(0))
            continue
        r = rng.random()
        if r < 1 / (box_every - 25):  # a box is ~25 lines: one box per `box_every` lines
            event, source, data = _hook_data(rng, i)
            msg = kongsim.event_hook_message(event, source, data, w)
            pending[w] = kongsim.box_lines(
                _stamp(t),
                "debug",
                w,
                "[kong] event_hooks.lua:?:537 [core]",
                msg,
                "2.7",
                conn=rng.randint(1, 99999),
            )
            boxes += 1
        elif r < 1 / (box_every - 25) + 0.005:
            out.append(
                kongsim.error_line(
                    _stamp(t),
                    "error",
                    w,
                    "connect() failed (111: Connection refused) while connecting to upstream",
                    conn=rng.randint(1, 99999),
                    suffix=', client: 10.0.0.5, server: kong, request: "GET /orders HTTP/1.1", upstream: '
                    '"http://10.0.0.12:8080/orders", host: "api.example.test", request_id: "'
                    + f"{rng.getrandbits(128):032x}"
                    + '"',
                )
            )
        else:
            msg = rng.choice(DEBUG_MESSAGES).format(n=rng.randint(1, 999))
            out.append(kongsim.error_line(_stamp(t), "debug", w, msg, conn=rng.randint(1, 99999)))
    for w in workers:
        out.extend(pending[w])
    path.write_text("\n".join(out) + "\n")
    return boxes


def write_boxes_log(path: Path, boxes: int, rng: random.Random) -> None:
    workers = [2000, 2001, 2002]
    streams = {w: [] for w in workers}  # type: dict[int, list[str]]
    for i in range(boxes):
        w = workers[i % 3]
        event, source, data = _hook_data(rng, i)
        streams[w].extend(
            kongsim.box_lines(
                _stamp(START),
                "debug",
                w,
                "[kong] event_hooks.lua:?:537 [core]",
                kongsim.event_hook_message(event, source, data, w),
                "2.7",
                conn=i,
            )
        )
    out: list[str] = []
    while any(streams.values()):
        w = rng.choice([w for w in workers if streams[w]])
        out.append(streams[w].pop(0))
    path.write_text("\n".join(out) + "\n")


def write_access_log(path: Path, lines: int, rng: random.Random) -> None:
    statuses = (
        [200] * 80
        + [201] * 4
        + [204] * 2
        + [301] * 2
        + [304] * 2
        + [401] * 3
        + [403, 404, 404]
        + [429] * 2
        + [499, 500, 502, 503, 504]
    )
    paths = ["/orders", "/orders/42", "/users/me", "/v1/items?page=2", "/health"]
    agents = [
        "curl/8.5.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
        "okhttp/4.12.0",
    ]
    out = []
    t = START
    for i in range(lines):
        if i % 200 == 0:
            t += timedelta(seconds=1)
        out.append(
            f"10.0.{i % 200}.{i % 250} - - [{t.strftime('%d/%b/%Y:%H:%M:%S +0000')}] "
            f'"{rng.choice(["GET", "GET", "POST"])} {rng.choice(paths)} HTTP/1.1" {rng.choice(statuses)} '
            f'{rng.randint(0, 5000)} "-" "{rng.choice(agents)}" kong_request_id: "{rng.getrandbits(128):032x}"'
        )
    path.write_text("\n".join(out) + "\n")


def make_boxes(count: int, rng: random.Random) -> list[Box]:
    """Closed boxes as the error-log parser holds them: the rows' message parts, as Kong printed them."""
    header = b"[kong] event_hooks.lua:?:537 [core]"
    out = []
    for i in range(count):
        event, source, data = _hook_data(rng, i)
        rows = kongsim.box_rows_bytes(header, kongsim.event_hook_message(event, source, data, 1000), "2.7")
        out.append(Box(HEADED, 0, START, 120, rows[0], rows=rows[1:-1], lines=rows, takes_rows=True))
    return out


BENCH_CTX = ParseContext("boxes", "bench", UTC)


def decode_boxes(boxes: list[Box]) -> int:
    events = 0
    for box in boxes:
        read = box_values(box)
        assert not isinstance(read, str), read
        loc, values = read
        inspect_event(loc, values, BENCH_CTX, box.time, 0, b"\n".join(box.lines).decode("utf-8", "replace"), 1000)
        events += 1
    return events


def bare_loop(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        for _line in f:
            n += 1
    return n


def regex_loop(regex: re.Pattern[bytes]) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        n = 0
        with open(path, "rb") as f:
            for line in f:
                m = regex.match(line)
                if m:
                    m.groupdict()
                n += 1
        return n

    return run


def parse_stage(fmt: str) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        parser = make_parser(fmt, ParseContext(str(path), "bench", UTC))
        events = 0
        with open_log(str(path)) as stream:
            for chunk in read_chunks(stream, str(path), DEFAULT_MAX_LINE):
                events += len(parser.feed(chunk))
        events += len(parser.finish())
        run.events = events  # type: ignore[attr-defined]
        return parser.stats["lines"]

    return run


def rounds(
    subject: object, runners: dict[str, Callable[[Any], int]], repeat: int
) -> dict[str, list[tuple[float, int]]]:
    """(seconds, count) of each runner in each of `repeat` rounds; runners run back to back in a round."""
    out: dict[str, list[tuple[float, int]]] = {name: [] for name in runners}
    for _ in range(repeat):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            n = fn(subject)
            out[name].append((time.perf_counter() - t0, n))
    return out


def ratio(times: dict[str, list[tuple[float, int]]], a: str, b: str) -> str:
    """The median over rounds of a's rate / b's rate, and its range."""
    r = sorted((tb / ta) * (na / nb) for (ta, na), (tb, nb) in zip(times[a], times[b], strict=True))
    return f"{statistics.median(r):.2f}x {b} [{r[0]:.2f}-{r[-1]:.2f}]"


def rate(times: dict[str, list[tuple[float, int]]], name: str, count: int | None = None) -> float:
    return statistics.median((count if count is not None else n) / t for t, n in times[name])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100_000, help="lines per generated log (default 100000)")
    ap.add_argument("--repeat", type=int, default=9, help="rounds of measurements (default 9)")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the corpus (default: a temp dir)")
    args = ap.parse_args()
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        d = args.dir or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        error_log, access_log, boxes_log = d / "error.log", d / "access.log", d / "boxes.log"
        n_boxes = write_error_log(error_log, args.lines, rng)
        write_access_log(access_log, args.lines, rng)
        box_count = max(1000, args.lines // 40)
        write_boxes_log(boxes_log, box_count, rng)
        print(
            f"corpus: {error_log.stat().st_size >> 20} MiB error.log ({args.lines} lines, {n_boxes} boxes), "
            f"{access_log.stat().st_size >> 20} MiB access.log, {box_count} boxes in boxes.log; medians of "
            f"{args.repeat}"
        )
        for label, path, base_re, fmt in (
            ("debug error.log", error_log, ERR_RE, "error"),
            ("access.log", access_log, ACCESS_RE, "access"),
        ):
            stage = parse_stage(fmt)
            times = rounds(path, {"bare": bare_loop, "regex": regex_loop(base_re), "parse": stage}, args.repeat)
            print(
                f"{label:16} parse {rate(times, 'parse'):>10,.0f} lines/s = {ratio(times, 'parse', 'regex')}, "
                f"{ratio(times, 'parse', 'bare')}; regex {rate(times, 'regex'):,.0f}/s, "
                f"bare {rate(times, 'bare'):,.0f}/s; {times['parse'][0][1]} lines, {stage.events} events"  # type: ignore[attr-defined]
            )
        boxes = make_boxes(box_count, rng)
        times = rounds(boxes, {"decode": decode_boxes}, args.repeat)
        print(
            f"{'box decode':16}       {rate(times, 'decode', box_count):>10,.0f} boxes/s "
            f"(rows -> event, {sum(len(b.rows) for b in boxes) / len(boxes):.1f} rows per box)"
        )
        stage = parse_stage("error")
        times = rounds(boxes_log, {"parse": stage}, args.repeat)
        print(
            f"{'boxes.log':16} parse {rate(times, 'parse', box_count):>10,.0f} boxes/s "
            f"(whole parse stage: {times['parse'][0][1]} lines of 3 interleaved workers, "
            f"{stage.events} events)"  # type: ignore[attr-defined]
        )


if __name__ == "__main__":
    main()
