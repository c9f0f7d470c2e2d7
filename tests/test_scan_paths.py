"""The error log is read two ways: `finditer` over a chunk passes over plain entries in C, and `line()` reads
every line (used when a chunk holds `\\r` or NUL, or with --all). Both must decide every line alike, since how
reads fall decides which path a line takes."""

from __future__ import annotations

import re
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from tailer.events import Event, EventHook, ParseError
from tailer.lines import LineBuffer
from tailer.parse import ParseContext
from tailer.parse.errorlog import ErrorLogParser
from tests import kongsim
from tests.conftest import HOST, parse_bytes


class LineByLine(ErrorLogParser):
    """The same parser with the C-level scan switched off."""

    def scanner(self) -> re.Pattern[bytes] | None:
        return None


def _events(parser: ErrorLogParser, data: bytes) -> list[str]:
    buf = LineBuffer()
    out: list[Event] = []
    for chunk in buf.push(data) + buf.finish():
        out += parser.feed(chunk)
    out += parser.finish()
    return [e.to_json() for e in out]


def _box(pid: int, n: int, layout: str) -> list[str]:
    data = {"health": "healthy" if n % 2 else "unhealthy", "ip": f"10.0.0.{n}", "port": 80 + n}
    level = "debug" if layout == "2.7" else "notice"
    suffix = ", context: ngx.timer, client: 10.1.2.3, server: 0.0.0.0:8001" if layout == "1.0.1" else ""
    header = "[kong] event_hooks.lua:?:537" + ("" if layout == "1.0.1" else " [core]")
    message = kongsim.event_hook_message("health", "balancer", data, pid)
    return kongsim.box_lines("2024/02/29 10:00:00", level, pid, header, message, layout, conn=n, suffix=suffix)


LINES = st.one_of(
    st.builds(
        lambda pid, n, layout: _box(pid, n, layout),
        st.sampled_from([7, 8]),
        st.integers(0, 9),
        st.sampled_from(["1.0.1", "2.7", "3.9"]),
    ),
    st.builds(
        lambda box, cut: box[:cut], st.builds(_box, st.just(7), st.just(1), st.just("2.7")), st.integers(1, 8)
    ),  # a box cut short
    st.sampled_from(
        [
            ["2024/02/29 10:00:01 [debug] 7#0: *1 [lua] plain debug of a worker that may have a box open"],
            ["2024/02/30 10:00:01 [debug] 8#0: *1 an impossible date below warn"],
            ["2024/02/30 10:00:01 [error] 8#0: *1 an impossible date at error"],
            ["2024/02/29 10:00:02 [notice] 7#0: *1 [kong] init.lua:1 a notice from kong.log"],
            ["2024/02/29 10:00:03 [warn] 8#0: *2 something odd, client: 10.0.0.5, server: kong"],
            [
                "2024/02/29 10:00:04 [error] 7#0: *3 lua entry thread aborted: runtime error: x",
                "stack traceback:",
                "\tcoroutine 0:",
            ],
            ["junk that continues nothing", ""],
            ["2024/02/29 10:00:05 [foo] 7#0: not a level"],
            ["2024/02/29 10:00:06 [debug] 8#0: *4 +not a border", "2024/02/29 10:00:06 [debug] 8#0: *4 |a row?"],
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, max_size=12))
def test_the_scan_and_the_line_by_line_path_read_every_line_alike(blocks: list[list[str]]) -> None:
    data = "".join(line + "\n" for block in blocks for line in block).encode()
    ctx = ParseContext("t.log", HOST, UTC)
    assert _events(ErrorLogParser(ctx), data) == _events(LineByLine(ctx), data)


def test_a_lost_1_0_1_footer_costs_no_box() -> None:
    first, second = _box(7, 1, "1.0.1"), _box(7, 2, "1.0.1")
    data = "".join(line + "\n" for line in first[:-1] + second).encode()  # the first box lost its footer
    events = parse_bytes(data, "error")
    assert [type(e) for e in events] == [EventHook, EventHook]
    assert [e.data["ip"] for e in events if isinstance(e, EventHook)] == ["10.0.0.1", "10.0.0.2"]
    assert not [e for e in events if isinstance(e, ParseError)]
