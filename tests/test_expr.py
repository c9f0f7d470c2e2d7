"""Rule conditions (`when`): what each expression means on real events, and how bad ones are reported."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tailer.errors import ConfigError
from tailer.events import Error, Event, EventHook, Http
from tailer.rules.expr import compile_when

T = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

HTTP = Http(
    T, "h", "f", 0, "raw", 502, "GET", "/orders", "HTTP/1.1", "10.0.0.1", 12, None, None, "rid",
    {
        "upstream_status": "502",
        "service": {"name": "orders"},
        "hosts": ["api.example.com", "b.example.com"],
        "rate-limit": "5",
        "latency": "0.25",
        "dash": "-",
        "flag": True,
        "zero": 0,
        "empty": "",
        "quote": 'say "hi" \\ now',
        "table": {"a": 1},
        "nil": None,
        "sparse": {2: "second"},
    },
)  # fmt: skip
HOOK = EventHook(
    T, "h", "f", 0, "raw",
    source="rate-limiting-advanced",
    event="rate-limit-exceeded",
    data={"consumer": {"username": "alice"}, "ip": "1.2.3.4", "service": {"name": "orders"}},
    pid=1,
    worker=1,
)  # fmt: skip
ERROR = Error(
    T, "h", "f", 0, "raw",
    level="error", pid=7, conn=42,
    message="connect() failed (111: Connection refused) while connecting to upstream",
    cause="upstream_refused", status=502, action="connecting to upstream", context=None,
    client="10.0.0.1", server="kong", request="GET /orders HTTP/1.1", upstream="http://10.0.0.2:8080/orders",
    http_host="api.example.com", request_id=None, truncated=False,
)  # fmt: skip

CASES: list[tuple[Event, str, bool]] = [
    # every comparison operator, int literal, int field
    (HTTP, "status == 502", True),
    (HTTP, "status != 502", False),
    (HTTP, "status != 500", True),
    (HTTP, "status < 503", True),
    (HTTP, "status < 502", False),
    (HTTP, "status <= 502", True),
    (HTTP, "status > 501", True),
    (HTTP, "status > 502", False),
    (HTTP, "status >= 500", True),
    (HTTP, "status>=500", True),
    (HTTP, "status >= 502.5", False),
    (HTTP, "status == 502.0", True),
    (HTTP, "status > -1", True),
    (HTTP, "status>-1", True),
    (HTTP, "zero == -0", True),
    (HTTP, "zero > -1.5", True),
    (HTTP, "zero < 1e3", True),
    # strings, both quotes, escapes
    (HTTP, 'method == "GET"', True),
    (HTTP, "method == 'GET'", True),
    (HTTP, "method != 'POST'", True),
    (HTTP, "method == 'get'", False),
    (HTTP, "method < 'POST'", True),
    (HTTP, "method >= 'H'", False),
    (HTTP, r'quote == "say \"hi\" \\ now"', True),
    (HTTP, r"quote == 'say \"hi\" \\ now'", True),
    (HTTP, r"quote == 'say \'hi\' \\ now'", False),
    (HTTP, 'empty == ""', True),
    (HTTP, r'message == "a\nb"', False),
    # numeric strings: a number literal compares numerically, a string literal as text
    (HTTP, "upstream_status == 502", True),
    (HTTP, "upstream_status >= 500", True),
    (HTTP, "upstream_status < 500", False),
    (HTTP, "upstream_status != 502", False),
    (HTTP, "upstream_status != 504", True),
    (HTTP, 'upstream_status == "502"', True),
    (HTTP, 'upstream_status == "502.0"', False),
    (HTTP, "upstream_status == 502.0", True),
    (HTTP, "latency > 0.2", True),
    (HTTP, "latency < 0.2", False),
    (HTTP, 'status == "502"', True),  # a string literal holding a number against a number
    (HTTP, 'status == "abc"', False),
    (HTTP, 'status != "abc"', False),  # not comparable: false even for !=
    # incompatible types are false, never an exception
    (HTTP, "dash == 502", False),
    (HTTP, "dash != 502", False),
    (HTTP, "dash > 1", False),
    (HTTP, 'service == "orders"', False),
    (HTTP, 'service != "orders"', False),
    (HTTP, "table < 5", False),
    (HTTP, "hosts == 'x'", False),
    (HTTP, "method > 5", False),
    # booleans are not numbers
    (HTTP, "flag == true", True),
    (HTTP, "flag != false", True),
    (HTTP, "flag == 1", False),
    (HTTP, "flag != 1", False),
    (HTTP, "zero == false", False),
    (HTTP, "zero != false", False),
    (HTTP, "flag in [1, 2]", False),
    (ERROR, "truncated == false", True),
    (ERROR, "truncated != true", True),
    # null
    (HTTP, "nil == null", True),
    (HTTP, "nothing == null", True),
    (HTTP, "status == null", False),
    (HTTP, "status != null", True),
    (HTTP, "nil != null", False),
    (HTTP, "request_id == null", False),
    (HTTP, "user_agent == null", True),
    # missing and None values: every comparison is false, `not` of one is true
    (HTTP, "nothing == 1", False),
    (HTTP, "nothing != 1", False),
    (HTTP, "nothing < 1", False),
    (HTTP, "nothing >= 1", False),
    (HTTP, "nothing != 'x'", False),
    (HTTP, "nothing in [1, 2]", False),
    (HTTP, "nothing not in [1, 2]", False),
    (HTTP, "nothing =~ 'x'", False),
    (HTTP, "nothing !~ 'x'", False),
    (HTTP, "not (nothing == 1)", True),
    (HTTP, "not nothing == 1", True),
    (HTTP, "not (nothing != 1)", True),
    (HTTP, "user_agent != 'curl'", False),
    (HTTP, "referer !~ 'x'", False),
    (HTTP, "service.nope == 'x'", False),
    (HTTP, "method.deeper == 'x'", False),
    (ERROR, "context != 'ngx.timer'", False),
    # in / not in
    (HTTP, "status in [401, 403, 502]", True),
    (HTTP, "status in [401, 403]", False),
    (HTTP, "status not in [401, 403]", True),
    (HTTP, "status not in [502]", False),
    (HTTP, "status in [502.0]", True),
    (HTTP, "upstream_status in [502, 504]", True),
    (HTTP, "upstream_status not in [502, 504]", False),
    (HTTP, "upstream_status not in [500, 504]", True),
    (HTTP, "dash in [502, 504]", False),
    (HTTP, "dash not in [502, 504]", False),
    (HTTP, "method in ['GET', 'HEAD']", True),
    (HTTP, "method in ['POST', \"PUT\"]", False),
    (HTTP, "method not in ['POST', 'PUT']", True),
    (HTTP, "method not in ['GET']", False),
    (HTTP, "status in ['502', 'x']", True),
    (HTTP, "status not in ['500', 'x']", True),
    (HTTP, "status not in ['x', 'y']", False),
    (HTTP, "status in [1, 'x', 502]", True),
    (HTTP, "status in [1, 'x', true]", False),
    (HTTP, "status not in [1, 'x', true]", True),
    (HTTP, "status not in [502, 'x']", False),
    (HTTP, "flag in [true, 'x']", True),
    (HTTP, "flag not in [false]", True),
    (HTTP, "nothing in [1, null]", True),
    (HTTP, "nothing not in [1, null]", False),
    (HTTP, "status not in [null]", True),
    (HTTP, "status in [ 502 ]", True),
    (HTTP, "status not   in [500]", True),
    # regex
    (HTTP, 'path =~ "^/ord"', True),
    (HTTP, 'path =~ "^ord"', False),
    (HTTP, 'path !~ "^ord"', True),
    (HTTP, 'path !~ "ders$"', False),
    (HTTP, 'method =~ "(?i)^get$"', True),
    (HTTP, r'client =~ "^10\.0\.\d+\.1$"', True),
    (HTTP, r'client =~ "^10\\.0\\.\\d+\\.1$"', True),
    (HTTP, 'status =~ "^5"', True),
    (HTTP, 'status !~ "^4"', True),
    (HTTP, 'flag =~ "^true$"', True),
    (HTTP, 'table =~ "a"', False),
    (HTTP, 'table !~ "a"', False),
    (HTTP, 'hosts !~ "zzz"', False),
    (ERROR, "message =~ 'Connection refused'", True),
    (ERROR, 'upstream =~ ":8080/"', True),
    # exists and bare paths
    (HTTP, "exists(status)", True),
    (HTTP, "exists(nothing)", False),
    (HTTP, "exists(nil)", False),
    (HTTP, "exists(zero)", True),
    (HTTP, "exists(empty)", True),
    (HTTP, "exists( service.name )", True),
    (HTTP, "exists(user_agent)", False),
    (HTTP, "not exists(user_agent)", True),
    (HTTP, "flag", True),
    (HTTP, "zero", False),
    (HTTP, "empty", False),
    (HTTP, "nothing", False),
    (HTTP, "nil", False),
    (HTTP, "not nothing", True),
    (HTTP, "service", True),
    (ERROR, "truncated", False),
    (ERROR, "not truncated", True),
    # paths: nested, indexed, names with `-`, keywords inside names
    (HTTP, "service.name == 'orders'", True),
    (HTTP, "hosts[1] == 'api.example.com'", True),
    (HTTP, "hosts[2] =~ '^b'", True),
    (HTTP, "hosts[3] == 'x'", False),
    (HTTP, "sparse[2] == 'second'", True),
    (HTTP, "rate-limit == 5", True),
    (HTTP, "rate-limit >= 5 and rate-limit<6", True),
    (HTTP, "kind == 'http'", True),
    (HTTP, "host == 'h'", True),
    (HTTP, "not-here == 1", False),
    (HTTP, "android or orders or nothing_in", False),
    (HOOK, "consumer.username == 'alice'", True),
    (HOOK, "source == 'rate-limiting-advanced' and event == 'rate-limit-exceeded'", True),
    (HOOK, "ip =~ '^1\\.2\\.'", True),
    (HOOK, "service.name in ['orders', 'billing']", True),
    (HOOK, "consumer.username != 'alice'", False),
    (HOOK, "worker == 1 and pid == 1", True),
    (HOOK, "status >= 500", False),
    (ERROR, "level == 'error' and cause == 'upstream_refused'", True),
    (ERROR, "status in [502, 503, 504]", True),
    (ERROR, "conn > 40", True),
    # and / or / not: precedence not > and > or, parentheses
    (HTTP, "status == 502 and method == 'GET'", True),
    (HTTP, "status == 502 and method == 'POST'", False),
    (HTTP, "status == 500 or method == 'GET'", True),
    (HTTP, "status == 500 or method == 'POST'", False),
    (HTTP, "status == 502 or nothing == 1 and zero == 1", True),  # or binds last
    (HTTP, "(status == 502 or nothing == 1) and zero == 1", False),
    (HTTP, "zero == 1 and nothing == 1 or status == 502", True),
    (HTTP, "zero == 1 and (nothing == 1 or status == 502)", False),
    (HTTP, "not status == 500 and method == 'GET'", True),  # not binds tightest
    (HTTP, "not (status == 502 and method == 'POST')", True),
    (HTTP, "not not flag", True),
    (HTTP, "not not not flag", False),
    (HTTP, "((status == 502))", True),
    (HTTP, "( status == 502 )and( method == 'GET' )", True),
    (HTTP, "flag and zero == 0 and empty == '' and exists(hosts)", True),
    (HTTP, "zero == 1 or empty == 'x' or nothing or flag", True),
    (HTTP, "zero == 1 or empty == 'x' or nothing", False),
    (HTTP, "status == 502\n  and method == 'GET'", True),
]


@pytest.mark.parametrize(("event", "text", "expected"), CASES, ids=[f"{e.kind}: {t}" for e, t, _ in CASES])
def test_condition(event: Event, text: str, expected: bool) -> None:
    result = compile_when(text)(event)
    assert result is expected


BAD: list[tuple[str, list[str]]] = [
    ("", ["empty"]),
    ("   ", ["empty"]),
    ("status >= ", ["expected a value", "column 11"]),
    ("status >=", ["expected a value", "column 10"]),
    ("status => 5", ["unknown operator '=>'", "column 8"]),
    ("status = 5", ["unknown operator '='", "column 8"]),
    ("status <> 5", ["unknown operator '<>'"]),
    ("status == 502 )", ["unexpected ')'", "column 15"]),
    ("status == 502 foo", ["unexpected 'foo'", "column 15"]),
    ("status == 'a' 'b'", ["unexpected", "column 15"]),
    ("status == 502 and", ["expected a condition", "column 18"]),
    ("status == 502 or", ["expected a condition", "column 17"]),
    ("not", ["expected a condition", "column 4"]),
    ("(status == 502", ["expected ')'", "column 15"]),
    (")", ["column 1"]),
    ("502 == status", ["found '502'", "column 1"]),
    ("status == other", ["expected a value", "found 'other'", "column 11"]),
    ('message == "abc', ["unclosed string", "column 12"]),
    ("message == 'abc\\'", ["unclosed string"]),
    ('path =~ "("', ["bad regex '('", "column 9"]),
    ('path =~ "a{2,1}"', ["bad regex"]),
    ("path =~ 5", ["=~ needs a quoted regex"]),
    ("path !~ true", ["!~ needs a quoted regex"]),
    ("status < true", ["< needs a number or a string", "column 10"]),
    ("status >= null", [">= needs a number or a string"]),
    ("status in 502", ["expected a list", "column 11"]),
    ("status in [502,", ["expected a value", "column 16"]),
    ("status in [502 504]", ["expected ']'", "found '504'", "column 16"]),
    ("status in []", ["expected a value", "column 12"]),
    ("status in [other]", ["expected a value"]),
    ("hosts[0] == 'x'", ["indexes start at 1", "column 1"]),
    ("exists(", ["expected a field name", "column 8"]),
    ("exists(status", ["expected ')'", "column 14"]),
    ("exists('x')", ["expected a field name"]),
    ("status and and", ["expected a condition", "column 12"]),
    ("status not 5", ["unexpected 'not'"]),
    ("Status == 1 AND method == 'GET'", ["unexpected 'AND'"]),
    ("status == 1\nand", ["line 2, column 4"]),
    ("status == 5abc", ["unexpected 'abc'"]),
    ("status == " + "9" * 5000, ["number too long"]),
    ("(" * 500 + "status" + ")" * 500, ["nested too deeply"]),
    ("not " * 500 + "status", ["nested too deeply"]),
]


@pytest.mark.parametrize(("text", "pieces"), BAD, ids=[t[:40] for t, _ in BAD])
def test_bad_condition(text: str, pieces: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        compile_when(text)
    message = str(info.value)
    assert message.startswith("condition")
    for piece in pieces:
        assert piece in message
    assert len(message) < 400


def test_long_chains_compile_and_run() -> None:
    many_and = " and ".join(["status == 502"] * 300)
    many_or = " or ".join(["status == 1"] * 300 + ["flag"])
    assert compile_when(many_and)(HTTP) is True
    assert compile_when(many_or)(HTTP) is True
    assert compile_when("(" * 30 + "flag" + ")" * 30)(HTTP) is True


TOKENS = [
    *"abs._-[]()\"'\\=!<>~ ,0123456789\n",
    "and ", " or ", "not ", " in ", "exists(", "true", "false", "null", "status", "hosts[1]",
    "==", "!=", ">=", "=~", "!~", "'x'", '"(?i)a"', "[1, 'b']", "-1", "0.5", "(",
]  # fmt: skip


@given(st.one_of(st.text(), st.lists(st.sampled_from(TOKENS), max_size=30).map("".join)))
def test_random_text_raises_only_config_error(text: str) -> None:
    try:
        predicate = compile_when(text)
    except ConfigError:
        return
    for event in (HTTP, HOOK, ERROR):
        assert type(predicate(event)) is bool


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


FIELDS = st.sampled_from(
    ["status", "upstream_status", "method", "flag", "zero", "nil", "nothing", "service.name", "hosts[2]", "table"]
    + ["rate-limit", "consumer.username", "truncated", "message", "latency", "dash"]
)
NUMBERS = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False)).map(repr)
WORDS = st.sampled_from(["GET", "502", "orders", "alice", "", "-", "0.25"])
STRINGS = st.one_of(WORDS, st.text(max_size=5)).map(_quoted)
REGEXES = st.sampled_from(['"^5"', '"e"', r'"\d"', '"(?i)get"'])
LITERALS = st.one_of(NUMBERS, STRINGS, st.sampled_from(["true", "false", "null"]))
COMPARISONS = st.one_of(
    st.tuples(FIELDS, st.sampled_from(["==", "!="]), LITERALS).map(" ".join),
    st.tuples(FIELDS, st.sampled_from(["<", "<=", ">", ">="]), st.one_of(NUMBERS, STRINGS)).map(" ".join),
    st.tuples(FIELDS, st.sampled_from(["=~", "!~"]), REGEXES).map(" ".join),
    st.tuples(FIELDS, st.sampled_from(["in", "not in"]), st.lists(LITERALS, min_size=1, max_size=4)).map(
        lambda t: f"{t[0]} {t[1]} [{', '.join(t[2])}]"
    ),
    FIELDS.map(lambda f: f"exists({f})"),
    FIELDS,
)
CONDITIONS = st.recursive(
    COMPARISONS,
    lambda inner: st.one_of(
        inner.map(lambda c: f"not ({c})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
    ),
    max_leaves=8,
)


@given(CONDITIONS, CONDITIONS)
def test_generated_conditions_compose(a: str, b: str) -> None:
    pa, pb = compile_when(a), compile_when(b)
    negated, both, either = compile_when(f"not ({a})"), compile_when(f"({a}) and ({b})"), compile_when(f"{a} or {b}")
    for event in (HTTP, HOOK, ERROR):
        x, y = pa(event), pb(event)
        assert type(x) is bool
        assert negated(event) is (not x)
        assert both(event) is (x and y)
        assert either(event) is (x or y)


@given(FIELDS, LITERALS)
def test_not_equal_is_equal_negated_when_comparable(field: str, literal: str) -> None:
    eq, ne = compile_when(f"{field} == {literal}"), compile_when(f"{field} != {literal}")
    inside, outside = compile_when(f"{field} in [{literal}]"), compile_when(f"{field} not in [{literal}]")
    for event in (HTTP, HOOK, ERROR):
        assert not (eq(event) and ne(event))
        assert inside(event) is eq(event)
        assert outside(event) is ne(event)


@given(st.text(max_size=30))
def test_string_literals_round_trip(text: str) -> None:
    event = Http(T, "h", "f", 0, "raw", 500, None, None, None, None, None, None, None, None, {"v": text})
    assert compile_when(f"v == {_quoted(text)}")(event) is True
    assert compile_when(f"v in [{_quoted(text)}, 'other']")(event) is True
    single = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    assert compile_when(f"v == {single}")(event) is True
