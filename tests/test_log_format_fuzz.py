"""Fuzzing the `log_format` compiler and the parsers it builds (issue 12, point 8).

Random formats are made of nginx variables (those the compiler knows the shape of, and free-text ones) and
literal text (quotes, brackets, spaces, `=`, `:`...), in every escape mode, written as a whole `log_format`
directive. Then:

- compiling raises nothing but ConfigError;
- parsing a random line, or a line rendered from the format with hostile values, raises nothing, and every
  line that is not blank gives exactly one event: a request or a parse error;
- a line rendered from the format with values that can be told apart from its literal text (no character in
  common, and no two variables side by side) parses back to those values.

Hostile lines are kept short here (up to ~1.5 KiB) so that the test runs in seconds; tests/
test_log_format_hostile.py and benchmarks/hostile.py cover long ones.
"""

from __future__ import annotations

import json
import re
from datetime import UTC

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tailer.errors import ConfigError
from tailer.events import Event, Http, ParseError
from tailer.lines import LineBuffer
from tailer.parse import ParseContext, make_parser
from tailer.parse.accesslog import BUILTIN, LogFormat, compile_log_format
from tests.conftest import HOST

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")  # as nginx reads a variable name
# Variables whose values have a shape, and how nginx writes them.
NUMBER = st.integers(0, 10**12).map(str)
DECIMAL = st.integers(0, 10**7).map(lambda n: f"{n / 1000:.3f}")
SHAPED: dict[str, st.SearchStrategy[str]] = {
    "status": st.integers(100, 599).map(str),
    "time_local": st.sampled_from(["15/Jan/2025:10:00:06 +0000", "01/Feb/2024:23:59:59 -0530"]),
    "time_iso8601": st.sampled_from(["2025-01-15T10:00:06+00:00", "2024-02-01T23:59:59-05:30", "2025-01-15T10:00:06Z"]),
    "msec": st.integers(0, 2 * 10**12).map(lambda n: f"{n / 1000:.3f}"),
    "pipe": st.sampled_from(["p", "."]),
    "body_bytes_sent": NUMBER,
    "bytes_sent": NUMBER,
    "bytes_received": NUMBER,
    "request_length": NUMBER,
    "connection": NUMBER,
    "connection_requests": NUMBER,
    "server_port": st.integers(1, 65535).map(str),
    "request_time": DECIMAL,
    "session_time": DECIMAL,
    "remote_addr": st.sampled_from(["10.0.0.5", "2001:db8::1", "unix:", "192.0.2.20"]),
    "protocol": st.sampled_from(["TCP", "UDP"]),
}
FIXED_LENGTH = {"status", "time_local", "time_iso8601", "pipe"}  # no literal can be mistaken for their end
TEXT_VARS = [
    "remote_user",
    "request",
    "request_method",
    "request_uri",
    "uri",
    "server_protocol",
    "http_user_agent",
    "http_referer",
    "kong_request_id",
    "request_id",
    "upstream_addr",
    "upstream_status",
    "http_x_forwarded_for",
    "remote_addratus",  # the typo: an unknown variable is free text
]
VARIABLES = [*SHAPED, *TEXT_VARS]

LITERAL = st.text(alphabet=' "[]=-:,/{}|#;.+xyz', max_size=4)
SEPARATOR = st.text(alphabet=' "[]=-:,/{}|#;.+xyz', min_size=1, max_size=4)
ESCAPE = st.sampled_from(["default", "json", "none"])


@st.composite
def formats(draw: st.DrawFn, separated: bool = False) -> tuple[str, str]:
    """A `log_format` directive, and its escape mode; it has a $status more often than not. `separated`:
    some literal text between any two variables."""
    names = draw(st.lists(st.sampled_from(VARIABLES), min_size=1, max_size=7))
    if draw(st.integers(0, 9)) > 0 and "status" not in names:
        names.insert(draw(st.integers(0, len(names))), "status")
    text = draw(LITERAL)
    for name in names:
        text += "${" + name + "}" if draw(st.booleans()) else "$" + name
        text += draw(SEPARATOR if separated else LITERAL)
    escape = draw(ESCAPE)
    return f"log_format f{'' if escape == 'default' else ' escape=' + escape} '{text}';", escape


def compiled(directive: str) -> LogFormat | None:
    """The format compiled, or None if refused (with a ConfigError: anything else fails the test)."""
    try:
        return compile_log_format(directive)
    except ConfigError:
        return None


def parse(data: bytes, fmts: tuple[LogFormat, ...]) -> list[Event]:
    """Every event of `data`, 2xx/3xx included, as the drivers feed it."""
    parser = make_parser("access", ParseContext("access.log", HOST, UTC, emit_all=True), fmts)
    buf = LineBuffer()
    events: list[Event] = []
    for chunk in [*buf.push(data), *buf.finish()]:
        events.extend(parser.feed(chunk))
    events.extend(parser.finish())
    return events


def one_event_per_line(lines: list[bytes], fmts: tuple[LogFormat, ...]) -> list[Event]:
    events = parse(b"".join(line + b"\n" for line in lines), fmts)
    assert all(isinstance(e, Http | ParseError) for e in events), events
    # Blank lines give nothing (a line's leading NULs, a hole left by copytruncate, and its `\r` are dropped).
    assert len(events) == sum(1 for line in lines if line.lstrip(b"\0").rstrip(b"\r").strip()), events
    return events


# --------------------------------------------------------------------------- values as nginx writes them


def escaped(raw: str, escape: str) -> str:
    """`raw` as nginx writes a variable's value with `escape=`."""
    if escape == "none":
        return raw
    if escape == "json":
        return json.dumps(raw)[1:-1]
    return "".join(f"\\x{ord(c):02X}" if c in '"\\' or ord(c) < 0x20 or ord(c) >= 0x7F else c for c in raw)


# A value's text (with escape=none, nginx would write a newline in it as is: no such line can be read whole).
RAW_TEXT = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=126, exclude_characters="\n\r"), max_size=12)
HOSTILE = st.sampled_from(['" "', " ", '"', "[", "]", "=", "5", "\\", '\\"', " [", '" ', "x"]).flatmap(
    lambda unit: st.integers(1, 500).map(lambda n: unit * n)
)


def render(source: str, values: dict[str, str]) -> bytes:
    return _VAR.sub(lambda m: values[m.group(1) or m.group(2)], source).encode()


def variables_of(source: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in _VAR.finditer(source)]


# --------------------------------------------------------------------------- the properties


@SETTINGS
@given(directive=formats(), lines=st.lists(st.binary(max_size=80), max_size=4))
def test_compiling_raises_only_config_errors_and_random_lines_parse(
    directive: tuple[str, str], lines: list[bytes]
) -> None:
    fmt = compiled(directive[0])
    assume(fmt is not None)
    assert fmt is not None
    lines = [line.replace(b"\n", b"") for line in lines]
    one_event_per_line(lines, (fmt,))
    one_event_per_line(lines, (fmt, *BUILTIN))


@SETTINGS
@given(directive=formats(), data=st.data())
def test_lines_rendered_with_hostile_values_parse(directive: tuple[str, str], data: st.DataObject) -> None:
    fmt = compiled(directive[0])
    assume(fmt is not None)
    assert fmt is not None
    values: dict[str, str] = {}
    for name in variables_of(fmt.source):
        if name not in values:  # hostile text, a value of the variable's shape, or hostile text ending well
            strategy = st.one_of(HOSTILE, SHAPED.get(name, RAW_TEXT), HOSTILE.map(("{}" + name).format))
            values[name] = data.draw(strategy)
    line = render(fmt.source, values).replace(b"\n", b"")
    cut = data.draw(st.integers(0, len(line)))
    lines = [line, line[:cut], line[cut:], line[:cut] + line, line + line[cut:]]
    one_event_per_line(lines, (fmt,))
    one_event_per_line(lines, (*BUILTIN, fmt))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(directive=formats(separated=True), data=st.data())
def test_a_line_rendered_with_distinct_values_parses_back_to_them(
    directive: tuple[str, str], data: st.DataObject
) -> None:
    source_directive, escape = directive
    fmt = compiled(source_directive)
    assume(fmt is not None)
    assert fmt is not None
    source = fmt.source
    pieces = _VAR.split(source)  # literal, braced name, bare name, literal, ...
    literals = pieces[::3]
    assume(all(literals[1:-1]))  # no two variables side by side
    literal_chars = set("".join(literals))
    raw: dict[str, str] = {}
    values: dict[str, str] = {}
    for name in variables_of(source):
        if name in values:
            continue
        if name in SHAPED:
            value = data.draw(SHAPED[name])
            raw[name] = value
        else:
            raw[name] = data.draw(RAW_TEXT)
            value = escaped(raw[name], escape)
        # Told apart from the literal text: no character in common (a fixed-length value needs none).
        assume(name in FIXED_LENGTH or not (set(value) & literal_chars))
        values[name] = value
    line = render(source, values)

    m = fmt.regex.match(line)
    assert m is not None, (source, line, fmt.regex.pattern)
    assert m.groupdict() == {name: value.encode() for name, value in values.items()}

    (event,) = one_event_per_line([line], (fmt,))
    assert isinstance(event, Http), event
    assert event.status == int(values["status"])

    def expected(field: str) -> str | None:
        name = fmt.fields[field]
        if name is None:
            return None
        return None if values[name] in ("", "-") else raw[name]

    got = {f: getattr(event, f) for f in ("client", "user_agent", "referer", "request_id")}
    assert got == {f: expected(f) for f in got}
