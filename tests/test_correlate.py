"""The join of an access line to the error entries of the same request (tailer.correlate): by request id when
both logs carry one, else by client, request line, Host, connection and time; the most telling entry explains
the request."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tailer.correlate import Correlator, telling
from tailer.events import Error, Event, Http
from tests.test_engine import error, http


def joined(*events: Event, correlator: Correlator | None = None) -> list[Any]:
    """For each access line among `events`, the offset of the entry it was joined to (None: not joined)."""
    out = (correlator or Correlator()).join(list(events))
    return [e.extra.get("error", {}).get("offset") for e in out if isinstance(e, Http)]


def entry(
    t: float, off: int, conn: int = 5104, level: str = "error", cause: str = "upstream_refused", **kw: Any
) -> Error:
    return replace(error(t, off), conn=conn, level=level, cause=cause, **kw)


def test_without_a_request_id_the_client_and_request_line_join() -> None:
    assert joined(entry(0, 1), http(0, 2, 502)) == [1]
    assert joined(entry(0, 1), http(0, 2, 502, client="10.0.0.6")) == [None]  # another client
    assert joined(entry(0, 1), http(0, 2, 502, path="/other")) == [None]  # another request


def test_the_request_id_wins() -> None:
    by_line = entry(0, 1)
    by_id = entry(0, 2, conn=7, request_id="abc")
    assert joined(by_line, by_id, http(0, 3, 502, request_id="abc")) == [2]
    assert joined(by_line, by_id, http(0, 3, 502, request_id="zzz")) == [1]  # no entry with its id: the line


def test_an_entry_logged_after_the_access_lines_second_is_another_requests() -> None:
    assert joined(entry(5, 1), http(4, 2, 502)) == [None]
    assert joined(entry(4.9, 1), http(4.1, 2, 502)) == [1]  # the same second: logged first, written when it ended


def test_repeated_requests_take_their_entries_oldest_first() -> None:
    events = [entry(0, 1, conn=10), entry(0, 2, conn=11), http(0, 3, 502), http(0, 4, 502), http(0, 5, 502)]
    assert joined(*events) == [1, 2, None]


def test_the_connection_and_host_must_agree_when_both_lines_carry_them() -> None:
    first, second = entry(0, 1, conn=10), entry(0, 2, conn=11)
    assert joined(first, second, replace(http(0, 3, 502), extra={"connection": "11"})) == [2]
    assert joined(first, replace(http(0, 3, 502), extra={"host": "other.example.test"})) == [None]
    assert joined(first, replace(http(0, 3, 502), extra={"host": "api.example.test:8000"})) == [1]


def test_the_most_telling_entry_of_a_request_explains_it() -> None:
    tries = [
        entry(0, 1, message="connect() failed (111: Connection refused) while connecting to upstream"),
        entry(0, 2, cause="upstream_timeout", message="upstream timed out (110: Connection timed out)"),
        entry(0, 3, level="warn", cause="other", message="upstream server temporarily disabled"),
    ]
    assert telling(tries).offset == 2  # error over warn; the latest of equals
    assert telling([entry(0, 1, cause="other"), entry(0, 2, level="error"), entry(0, 3, cause="other")]).offset == 2
    assert telling([entry(0, 1, level="warn"), entry(0, 2, level="crit", cause="other")]).offset == 2
    assert joined(*tries, http(0, 4, 504)) == [2]
    with_ids = [replace(e, request_id="abc") for e in tries]
    assert joined(*with_ids, http(0, 4, 504, request_id="abc")) == [2]


def test_entries_without_a_request_wait_for_none() -> None:
    timer = replace(entry(0, 1), client=None, request=None, conn=None)
    c = Correlator()
    c.join([timer])
    assert c.state()["_errors"] == {}


def test_entries_are_forgotten_after_keep_for_and_beyond_keep() -> None:
    c = Correlator(keep=2)
    c.join([entry(0, 1, conn=1), entry(0, 2, conn=2), entry(0, 3, conn=3)])  # the oldest request is dropped
    assert joined(http(0, 4, 502), http(0, 5, 502), http(0, 6, 502), correlator=c) == [2, 3, None]
    c = Correlator()
    c.join([entry(0, 1, conn=1), entry(400, 2, conn=2, client="10.9.9.9")])  # 400 s later: the first is gone
    assert joined(http(400, 3, 502), correlator=c) == [None]


def test_state_round_trips_and_the_previous_layout_is_read() -> None:
    c = Correlator()
    c.join([entry(0, 1, conn=10), entry(0, 2, conn=11, request_id="abc")])
    restored = Correlator()
    restored.restore(c.state())
    assert joined(http(0, 3, 502, request_id="abc"), http(0, 4, 502), correlator=restored) == [2, 1]
    before = Correlator()  # a snapshot of the release before: one entry per request id
    before.restore({"_errors": {"abc": entry(0, 5, request_id="abc")}})
    assert joined(http(0, 6, 502, request_id="abc"), correlator=before) == [5]


def test_nothing_is_kept_when_no_access_log_is_read() -> None:
    c = Correlator()
    c.joining = False
    c.join([entry(0, 1)])
    assert joined(http(0, 2, 502), correlator=c) == [None]


def test_a_keep_alive_connections_entries_go_to_the_request_of_their_second() -> None:
    """The same request line twice on one connection, the second failing 2 s later: read before either access
    line (a daemon reading a backlog, the error log first), each access line takes its own second's entries."""
    first, again = entry(0, 1), entry(2, 2, cause="no_live_upstreams")
    assert joined(first, again, http(0, 3, 502), http(2, 4, 502)) == [1, 2]
    assert joined(first, again, http(2, 4, 502)) == [2]  # the latest of the whole slot, once both seconds are past
