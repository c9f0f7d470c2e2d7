"""Delivery: reading answers (`classify`), the rules (`decide`, backoff, token bucket), and real deliveries to
a real HTTP server (`tests/receiver.py`): Slack and Kong-style webhooks, 429 pauses, retries, dead letters,
timeouts, refused connections, rate, concurrency, and the webhook URL kept out of every reason and log."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import logging
import random
import socket
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from tailer.alerts import Alert, Message
from tailer.budget import TokenBucket
from tailer.events import Http
from tailer.notify import SENT, Outcome
from tailer.notify.console import ConsoleDestination
from tailer.notify.deliver import Deliverer, DeliveryPolicy, backoff, decide
from tailer.notify.payload import kong_webhook_body
from tailer.notify.slack import SlackDestination, classify
from tailer.notify.transport import Transport, TransportError, classify_http, failure_reason, retry_after
from tailer.notify.webhook import WebhookDestination, build_request
from tailer.rules.model import Rule
from tailer.secrets import redact, register
from tailer.template import compile_template
from tests.receiver import Receiver, Reply

TOKEN = "SECRETTOKEN123"
SECRET_PATH = f"/services/T000/B000/{TOKEN}"
T0 = datetime(2025, 1, 15, 10, 0, 6, tzinfo=UTC)
FAST = DeliveryPolicy(rate=None, retry_for=5.0, backoff_base=0.01, backoff_cap=0.05)


def make_alert(key: str = "k1", text: str = "{{ status }} on {{ path }}", **event: Any) -> Alert:
    rule = Rule("upstream-errors", "rules.toml", 3, text=compile_template(text), notify=("slack",))
    http = Http(T0, "h", "f", 0, "raw", 502, "GET", "/x", "HTTP/1.1", "10.0.0.1", 1, None, None, None, {})
    http = dataclasses.replace(http, **event)
    return Alert(rule, key, http, T0, T0, T0, 1)


def make_message(key: str = "k1", notifier: str = "slack", **event: Any) -> Message:
    return Message(notifier, [make_alert(key, **event)], T0)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver is on 127.0.0.1: a proxy from the environment must not stand in between."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def transport() -> Iterator[Transport]:
    """One client for the module, as the daemon has (building one costs a TLS context)."""
    with Transport(timeout=2.0) as t:
        yield t


@pytest.fixture
def deliverer() -> Deliverer:
    return Deliverer(rng=random.Random(7))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- classify: every row of slack-webhooks.md §2, and the rest of the rule ---------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (200, "ok", {}, SENT),
        (400, "invalid_payload", {}, Outcome("dead", "400 invalid_payload")),
        (400, "user_not_found", {}, Outcome("dead", "400 user_not_found")),
        (403, "action_prohibited", {}, Outcome("dead", "403 action_prohibited")),
        (403, "invalid_token", {}, Outcome("dead", "403 invalid_token")),
        (404, "channel_not_found", {}, Outcome("dead", "404 channel_not_found")),
        (404, "no_service", {}, Outcome("dead", "404 no_service")),
        (410, "channel_is_archived", {}, Outcome("dead", "410 channel_is_archived")),
        (500, "rollup_error", {}, Outcome("retry", "500 rollup_error")),
        (503, "", {}, Outcome("retry", "503 Service Unavailable")),
        (
            429,
            '{"retry_after":1,"ok":false,"error":"rate_limited"}',
            {"Retry-After": "1"},
            Outcome("retry", '429 {"retry_after":1,"ok":false,"error":"rate_limited"}', 1.0),
        ),
        (429, "rate_limited", {}, Outcome("retry", "429 rate_limited")),
        (429, "rate_limited", {"retry-after": "soon"}, Outcome("retry", "429 rate_limited")),
        (429, "rate_limited", {"retry-after": "-5"}, Outcome("retry", "429 rate_limited")),
        (301, "", {"location": "https://example.com/"}, Outcome("dead", "301 Moved Permanently")),
        (400, "no_text\n  more\ttext", {}, Outcome("dead", "400 no_text more text")),
        (418, "", {}, Outcome("dead", "418 I'm a Teapot")),
    ],
)
def test_slack_classify(status: int, body: str, headers: dict[str, str], expected: Outcome) -> None:
    assert classify(status, headers, body) == expected


def test_slack_classify_unexpected_2xx_body_is_sent_with_the_body_as_reason() -> None:
    assert classify(200, {}, "<html>proxy page</html>") == Outcome("sent", "200 <html>proxy page</html>")
    assert classify(204, {}, "") == Outcome("sent", "204 No Content")


def test_retry_after_http_date() -> None:
    now = datetime(2025, 1, 15, 10, 0, 0, tzinfo=UTC)
    assert retry_after("Wed, 15 Jan 2025 10:02:00 GMT", now) == 120.0
    assert retry_after("Wed, 15 Jan 2025 09:00:00 GMT", now) == 0.0  # in the past: at once
    assert retry_after("120", now) == 120.0
    for garbage in ("", "soon", "1.5", "-1", "Wed, 99 Foo 2025"):
        assert retry_after(garbage, now) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    after = classify(429, {"Retry-After": later}, "").after
    assert after is not None and 115 <= after <= 121


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(200, "sent"), (202, "sent"), (204, "sent"), (301, "dead"), (400, "dead"), (404, "dead"), (408, "retry")]
    + [(429, "retry"), (500, "retry"), (502, "retry"), (504, "retry")],
)
def test_classify_http(status: int, verdict: str) -> None:
    assert classify_http(status, {}, "whatever").status == verdict


def test_reason_body_is_one_short_line() -> None:
    reason = classify_http(400, {}, "x" * 5000).reason
    assert reason.startswith("400 xxx") and len(reason) <= 310 and "\n" not in reason


# --- the rules, on a fake clock ---------------------------------------------------------------------------


def test_backoff_bounds() -> None:
    rng = random.Random(42)
    for attempt in range(15):
        ceiling = min(30.0, 0.5 * 2**attempt)
        for _ in range(50):
            assert ceiling / 2 <= backoff(attempt, 0.5, 30.0, rng) <= ceiling
    assert 150 <= backoff(100_000, 1.0, 300.0, rng) <= 300  # no overflow for a very long outage


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    for _ in range(3):
        assert bucket.wait(0.0) == 0.0
        bucket.take(0.0)
    assert bucket.wait(0.0) == pytest.approx(0.5)
    assert bucket.wait(0.25) == pytest.approx(0.25)
    assert bucket.wait(0.5) == 0.0
    bucket.take(0.5)
    for _ in range(3):  # a long quiet spell saves up no more than `burst`
        bucket.take(100.0)
    assert bucket.wait(100.0) == pytest.approx(0.5)
    assert bucket.wait(99.0) == pytest.approx(0.5)  # time going back adds nothing


def test_decide() -> None:
    policy = DeliveryPolicy(max_retry_after=60, retry_for=100, backoff_base=1, backoff_cap=8)
    rng = random.Random(1)

    def step(outcome: Outcome, attempts: int = 1, elapsed: float = 0.0) -> tuple[str, float, str]:
        d = decide(outcome, attempts=attempts, elapsed=elapsed, policy=policy, rng=rng)
        return d.action, d.delay, d.outcome.reason

    assert step(SENT) == ("done", 0.0, "ok")
    assert step(Outcome("dead", "404 no_service")) == ("dead", 0.0, "404 no_service")
    assert step(Outcome("retry", "429", 5.0))[:2] == ("wait", 5.0)
    assert step(Outcome("retry", "429", 0.0))[:2] == ("wait", 1.0)  # never hammer a limited webhook
    assert step(Outcome("retry", "429", 3600.0))[:2] == ("wait", 60.0)  # capped at max_retry_after
    action, delay, _ = step(Outcome("retry", "500"), attempts=3)
    assert action == "wait" and 2.0 <= delay <= 4.0
    assert step(Outcome("retry", "429", 30.0), attempts=4, elapsed=80.0) == (
        "dead",
        0.0,
        "gave up after 4 attempts over 80.0 s: 429",
    )


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Scripted:
    """A destination answering from a script of outcomes (then sent), or raising an exception from it."""

    def __init__(self, *script: Outcome | Exception, name: str = "scripted") -> None:
        self.script = list(script)
        self.name = name
        self.keys: list[str] = []

    def render(self, message: Message) -> str:
        return message.key

    def send(self, payload: str) -> Outcome:
        self.keys.append(payload)
        step = self.script.pop(0) if self.script else SENT
        if isinstance(step, Exception):
            raise step
        return step


def test_rules_on_a_fake_clock() -> None:
    t = FakeTime()
    deliverer = Deliverer(clock=t.clock, sleep=t.sleep, rng=random.Random(3))
    policy = DeliveryPolicy(rate=2.0, burst=1, retry_for=10.0, backoff_base=1.0, backoff_cap=4.0)
    destination = Scripted(Outcome("retry", "429 rate_limited", 2.0), Outcome("retry", "500 rollup_error"))
    results = deliverer.deliver(destination, [make_message("a"), make_message("b")], policy)
    assert [(r.key, r.outcome, r.attempts) for r in results] == [("a", SENT, 3), ("b", SENT, 1)]
    assert destination.keys == ["a", "a", "a", "b"]
    assert t.sleeps[0] == 2.0  # the 429 pause; the bucket refilled meanwhile
    assert 1.0 <= t.sleeps[1] <= 2.0  # backoff after the 500: the second attempt, so base * 2, jittered
    assert t.sleeps[2:] == [pytest.approx(0.5)]  # the rate, before "b"


def test_gives_up_at_the_deadline(caplog: pytest.LogCaptureFixture) -> None:
    t = FakeTime()
    deliverer = Deliverer(clock=t.clock, sleep=t.sleep, rng=random.Random(3))
    policy = DeliveryPolicy(rate=None, retry_for=30.0, backoff_base=1.0, backoff_cap=8.0)
    destination = Scripted(*[Outcome("retry", "500 rollup_error")] * 100)
    [result] = deliverer.deliver(destination, [make_message("a")], policy)
    assert result.outcome.status == "dead"
    assert result.outcome.reason.startswith(f"gave up after {result.attempts} attempts over ")
    assert result.outcome.reason.endswith(": 500 rollup_error")
    assert result.attempts == len(t.sleeps) + 1 and sum(t.sleeps) <= 30.0
    assert [r.levelname for r in caplog.records].count("ERROR") == 1


def test_a_destination_that_raises_dead_letters_the_message_only() -> None:
    deliverer = Deliverer(sleep=lambda s: None)
    destination = Scripted(RuntimeError("boom"))
    results = deliverer.deliver(destination, [make_message("a"), make_message("b")], FAST)
    assert results[0].outcome == Outcome("dead", "internal error: RuntimeError: boom")
    assert results[1].outcome == SENT


def test_console_destination(deliverer: Deliverer) -> None:
    stream = io.StringIO()
    [result] = deliverer.deliver(ConsoleDestination(stream), [make_message()], FAST)
    assert result.outcome == SENT
    assert "[upstream-errors] 502 on /x" in stream.getvalue() and stream.getvalue().endswith("\n")


# --- Slack, for real over HTTP ----------------------------------------------------------------------------


def slack(rx: Receiver, transport: Transport, name: str = "slack") -> SlackDestination:
    return SlackDestination(rx.url + SECRET_PATH, transport, name=name)


def test_slack_ok(transport: Transport, deliverer: Deliverer) -> None:
    with Receiver() as rx:
        [result] = deliverer.deliver(slack(rx, transport), [make_message()], FAST)
        [request] = rx.requests
    assert (result.key, result.outcome, result.attempts) == ("k1", SENT, 1)
    assert (request.method, request.path) == ("POST", SECRET_PATH)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("kong-tailer/")
    assert "502 on /x" in request.json()["text"]


def test_429_pauses_the_webhook_then_resends(transport: Transport, deliverer: Deliverer) -> None:
    limited = Reply(429, '{"retry_after":1,"ok":false,"error":"rate_limited"}', {"Retry-After": "1"})
    with Receiver([limited]) as rx:
        results = deliverer.deliver(slack(rx, transport), [make_message("a"), make_message("b")], FAST)
        first, retried, second = rx.wait_for(3)
    assert [(r.outcome, r.attempts) for r in results] == [(SENT, 2), (SENT, 1)]
    assert retried.body == first.body  # the same message again, nothing else in between
    assert retried.time - first.time >= 0.95
    assert "502" in second.json()["text"] and len(rx.requests) == 3


def test_5xx_is_retried_with_backoff(transport: Transport, deliverer: Deliverer) -> None:
    with Receiver([Reply(500, "rollup_error"), Reply(500, "rollup_error")]) as rx:
        [result] = deliverer.deliver(slack(rx, transport), [make_message()], FAST)
        assert len(rx.requests) == 3
    assert (result.outcome, result.attempts) == (SENT, 3)


def test_invalid_payload_is_dead_and_the_next_message_goes(
    transport: Transport, deliverer: Deliverer, caplog: pytest.LogCaptureFixture
) -> None:
    with Receiver([Reply(400, "invalid_payload")]) as rx:
        results = deliverer.deliver(slack(rx, transport), [make_message("a"), make_message("b")], FAST)
        assert len(rx.requests) == 2
    assert [(r.key, r.outcome, r.attempts) for r in results] == [
        ("a", Outcome("dead", "400 invalid_payload"), 1),
        ("b", SENT, 1),
    ]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "tailer.deliver"
    assert record.getMessage() == "slack: message a not delivered: 400 invalid_payload"


@pytest.mark.parametrize(
    ("status", "body"), [(404, "no_service"), (410, "channel_is_archived"), (403, "invalid_token")]
)
def test_permanent_errors_are_dead(transport: Transport, deliverer: Deliverer, status: int, body: str) -> None:
    with Receiver([Reply(status, body)]) as rx:
        [result] = deliverer.deliver(slack(rx, transport), [make_message()], FAST)
        assert len(rx.requests) == 1
    assert result.outcome == Outcome("dead", f"{status} {body}")


def test_slow_answer_times_out_then_gives_up(deliverer: Deliverer) -> None:
    policy = dataclasses.replace(FAST, retry_for=1.0, backoff_base=0.05, backoff_cap=0.2)
    with Transport(timeout=0.2) as transport, Receiver(default=Reply(delay=2.0)) as rx:
        [result] = deliverer.deliver(slack(rx, transport), [make_message()], policy)
        assert len(rx.requests) == result.attempts
    assert result.outcome.status == "dead"
    assert result.attempts >= 2
    assert result.outcome.reason.startswith(f"gave up after {result.attempts} attempts over ")
    assert result.outcome.reason.endswith("ReadTimeout: timed out")


def test_refused_connection_is_retried_then_dead(transport: Transport) -> None:
    deliverer = Deliverer(rng=random.Random(7))
    destination = SlackDestination(f"http://127.0.0.1:{closed_port()}{SECRET_PATH}", transport)
    policy = dataclasses.replace(FAST, retry_for=0.3)
    [result] = deliverer.deliver(destination, [make_message()], policy)
    assert result.outcome.status == "dead" and result.attempts >= 2
    assert "ConnectError" in result.outcome.reason and TOKEN not in result.outcome.reason


def test_rate_spaces_the_posts(transport: Transport, deliverer: Deliverer) -> None:
    policy = dataclasses.replace(FAST, rate=5.0, burst=1)
    with Receiver() as rx:
        deliverer.deliver(slack(rx, transport), [make_message(str(i)) for i in range(5)], policy)
        times = [r.time for r in rx.wait_for(5)]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.18, gaps


def test_a_paused_webhook_does_not_hold_up_another(transport: Transport, deliverer: Deliverer) -> None:
    limited = Reply(429, "rate_limited", {"Retry-After": "2"})
    with Receiver([limited]) as paused, Receiver() as free:
        results = deliverer.deliver_all(
            [
                (slack(paused, transport, "paused"), [make_message("p")], FAST),
                (slack(free, transport, "free"), [make_message(str(i)) for i in range(3)], FAST),
            ]
        )
        first, retried = paused.wait_for(2)
        others = free.wait_for(3)
    assert retried.time - first.time >= 1.9
    assert max(r.time for r in others) < retried.time
    assert [r.outcome for r in results["paused"]] == [SENT]
    assert [r.outcome for r in results["free"]] == [SENT] * 3


def test_destination_names_must_be_distinct(transport: Transport, deliverer: Deliverer) -> None:
    with pytest.raises(ValueError, match="distinct"):
        deliverer.deliver_all([(Scripted(name="x"), [], FAST), (Scripted(name="x"), [], FAST)])


# --- the webhook URL is a secret ---------------------------------------------------------------------------


def redaction_cases() -> list[tuple[str, list[Reply], Reply | None, float]]:
    """(name, scripted replies, default reply, transport timeout)."""
    echo = f"error for {SECRET_PATH}"
    return [
        ("dead", [Reply(404, echo)], None, 2.0),
        ("redirect", [Reply(301, echo, {"Location": f"http://127.0.0.1{SECRET_PATH}"})], None, 2.0),
        ("5xx", [], Reply(500, echo), 2.0),
        ("429", [], Reply(429, echo, {"Retry-After": "0"}), 2.0),
        ("timeout", [], Reply(delay=2.0), 0.1),
    ]


@pytest.mark.parametrize(
    ("replies", "default", "timeout"), [c[1:] for c in redaction_cases()], ids=[c[0] for c in redaction_cases()]
)
def test_no_reason_or_log_holds_the_url(
    caplog: pytest.LogCaptureFixture, replies: list[Reply], default: Reply | None, timeout: float
) -> None:
    caplog.set_level(logging.DEBUG)
    policy = dataclasses.replace(FAST, retry_for=0.15, max_retry_after=0.05)
    deliverer = Deliverer(rng=random.Random(7))
    with Transport(timeout=timeout) as transport, Receiver(replies, default) as rx:
        results = deliverer.deliver(slack(rx, transport), [make_message()], policy)
    assert_clean([r.outcome.reason for r in results], caplog)


def test_refused_and_invalid_urls_leave_no_trace(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    policy = dataclasses.replace(FAST, retry_for=0.1)
    urls = [
        f"http://127.0.0.1:{closed_port()}{SECRET_PATH}",
        f"http://127.0.0.1:99999{SECRET_PATH}",
        f"ftp://x{SECRET_PATH}",
    ]
    texts = []
    with Transport(timeout=1.0) as transport:
        for url in urls:
            [result] = Deliverer().deliver(SlackDestination(url, transport), [make_message()], policy)
            texts.append(result.outcome.reason)
            with pytest.raises(TransportError) as info:
                transport.send("POST", url, headers={}, content=b"{}")
            texts += [str(info.value), "".join(traceback.format_exception(info.value))]
    assert_clean(texts, caplog)


def assert_clean(texts: list[str], caplog: pytest.LogCaptureFixture) -> None:
    logged = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    for text in texts + logged:
        assert TOKEN not in text, text


def test_failure_reason_redacts_a_message_that_names_the_url() -> None:
    url = f"https://hooks.example.com/services/T000/B000/{TOKEN}-2"
    register(url)
    reason = failure_reason(OSError(f"cannot reach {url}"))
    assert reason == "OSError: cannot reach [redacted]"
    assert redact(f"POST /services/T000/B000/{TOKEN}-2 failed") == "POST [redacted] failed"


# --- Kong-style webhooks -----------------------------------------------------------------------------------


def verify(request_body: bytes, signature: str, secret: str) -> bool:
    expected = "sha1=" + hmac.new(secret.encode(), request_body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(signature, expected)


def test_webhook_default_body_is_kongs_and_signed(transport: Transport, deliverer: Deliverer) -> None:
    message = make_message(notifier="hook")
    with Receiver() as rx:
        options = {"url": rx.url + "/hook", "secret": "s3cret-key"}
        [result] = deliverer.deliver(WebhookDestination(options, transport), [message], FAST)
        [request] = rx.requests
    assert result.outcome == SENT
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-kong-tailer-key"] == "k1"
    assert verify(request.body, request.headers["x-kong-signature"], "s3cret-key")
    assert not verify(request.body, request.headers["x-kong-signature"], "other-key")
    assert request.json() == kong_webhook_body(message.alerts[0])


def test_webhook_custom_get_sends_the_payload_as_query_string(transport: Transport, deliverer: Deliverer) -> None:
    with Receiver() as rx:
        options = {
            "url": rx.url + "/alert",
            "method": "GET",
            "secret": "k3y-k3y",
            "headers": {"X-Team": "ops"},
            "payload": {"text": "{{ status }} {{ method }} {{ path }}", "who": "{{ consumer.username }}"},
        }
        deliverer.deliver(WebhookDestination(options, transport), [make_message(path="/a b&c")], FAST)
        [request] = rx.requests
    assert request.method == "GET" and request.body == b""
    assert request.query == [("text", "502 GET /a b&c"), ("who", "-")]
    assert request.headers["x-team"] == "ops"
    assert verify(b"", request.headers["x-kong-signature"], "k3y-k3y")


def test_webhook_custom_post_sends_the_payload_as_json(transport: Transport, deliverer: Deliverer) -> None:
    with Receiver() as rx:
        options = {"url": rx.url + "/alert", "payload": {"text": 'said "{{ user_agent }}"', "rule": "{{ alert.rule }}"}}
        message = make_message(user_agent='curl "8" \\ <x>')
        deliverer.deliver(WebhookDestination(options, transport), [message], FAST)
        [request] = rx.requests
    assert request.json() == {"text": 'said "curl "8" \\ <x>"', "rule": "upstream-errors"}


def test_webhook_body_template_escapes_values_as_json(transport: Transport, deliverer: Deliverer) -> None:
    value = 'say "hi"\\ \n <!here>'
    with Receiver() as rx:
        options = {"url": rx.url + "/alert", "body": '{"ua": "{{ user_agent }}", "status": {{ status }}}'}
        deliverer.deliver(WebhookDestination(options, transport), [make_message(user_agent=value)], FAST)
        [request] = rx.requests
    assert request.json() == {"ua": value, "status": 502}


def test_webhook_body_template_is_raw_for_other_content_types() -> None:
    message = make_message(user_agent='say "hi"')
    options = {"url": "http://h/x", "body": "UA: {{ user_agent }}", "headers": {"Content-Type": "text/plain"}}
    request = build_request(message, options)
    assert (request.content, request.headers["content-type"]) == (b'UA: say "hi"', "text/plain")


def test_webhook_digest() -> None:
    message = Message("hook", [make_alert("a"), make_alert("b", path="/y")], T0)
    body = json.loads(build_request(message, {"url": "http://h/x"}).content)
    assert (body["source"], body["event"], body["count"], body["key"]) == ("kong-tailer", "digest", 2, message.key)
    assert body["alerts"] == [kong_webhook_body(a) for a in message.alerts]
    get = build_request(message, {"url": "http://h/x", "method": "get", "payload": {"p": "{{ path }}"}})
    assert (get.method, get.params, get.content) == ("GET", [("p", "/x"), ("p", "/y")], b"")
    form = {
        "url": "http://h/x",
        "payload": {"p": "{{ path }}"},
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    }
    assert build_request(message, form).content == b"p=%2Fx&p=%2Fy"
    lines = build_request(message, {"url": "http://h/x", "body": '{"p": "{{ path }}"}'}).content.splitlines()
    assert [json.loads(line) for line in lines] == [{"p": "/x"}, {"p": "/y"}]
