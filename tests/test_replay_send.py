"""`kong-tailer replay --send` in a real process, posting to a real HTTP server standing in for Slack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.receiver import Receiver, Reply

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "tests" / "fixtures" / "contract"
SAMPLES = [str(ROOT / "samples" / "error.log"), str(ROOT / "samples" / "access.log")]
SECRET = "B0SECRETTOKEN42"


def replay(*args: str, url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SLACK_WEBHOOK_URL"}
    env["PYTHONPATH"] = str(ROOT)
    if url is not None:
        env["SLACK_WEBHOOK_URL"] = url
    cmd = [sys.executable, "-m", "tailer", "replay", "--tz", "UTC", "--host", "gw-1", "--rules", str(CONTRACT)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def dry_run() -> list[dict[str, object]]:
    done = replay("--json", *SAMPLES, url=None)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_dry_run_lists_what_the_contract_rules_would_send(dry_run: list[dict[str, object]]) -> None:
    texts = [m["payload"]["text"] for m in dry_run]  # type: ignore[index]
    assert texts == [
        "Rate limit exceeded by username 'mobile-app' on service 'orders'",
        "502 on GET /orders",
        "504 on GET /orders",
        "500 on GET /orders",
    ]


def test_send_posts_each_message_as_json_with_text_and_blocks(dry_run: list[dict[str, object]]) -> None:
    with Receiver() as slack:
        done = replay("--send", *SAMPLES, url=f"{slack.url}/services/T000/B000/{SECRET}")
        assert done.returncode == 0, done.stderr
        posts = slack.wait_for(len(dry_run))
    assert [p.path for p in posts] == [f"/services/T000/B000/{SECRET}"] * len(dry_run)
    assert all(p.headers["content-type"].startswith("application/json") for p in posts)
    bodies = [p.json() for p in posts]
    assert bodies == [m["payload"] for m in dry_run]  # what the dry run showed is what was sent, byte for byte
    assert all(isinstance(b["text"], str) and b["blocks"] for b in bodies)
    # 1 message per second per webhook, by the wall clock too
    gaps = [b.time - a.time for a, b in zip(posts, posts[1:], strict=False)]
    assert min(gaps) >= 0.9
    assert SECRET not in done.stdout + done.stderr
    assert "slack: 4 sent, 0 failed" in done.stderr


def test_429_pauses_the_webhook_for_retry_after_then_delivers() -> None:
    replies = [Reply(429, '{"ok":false,"error":"rate_limited"}', {"Retry-After": "2"})]
    with Receiver(replies) as slack:
        started = time.monotonic()
        done = replay("--send", "--rule", "rate-limit-exceeded", *SAMPLES, url=f"{slack.url}/services/T/B/{SECRET}")
        posts = slack.requests
    assert done.returncode == 0, done.stderr
    assert len(posts) == 2 and posts[0].json() == posts[1].json()
    assert posts[1].time - posts[0].time >= 1.9
    assert posts[0].time >= started
    assert SECRET not in done.stderr


def test_a_permanent_error_is_reported_with_slacks_reason_and_not_retried() -> None:
    with Receiver(default=Reply(404, "no_service")) as slack:
        done = replay("--send", "--rule", "rate-limit-exceeded", *SAMPLES, url=f"{slack.url}/services/T/B/{SECRET}")
        posts = slack.requests
    assert done.returncode == 1
    assert len(posts) == 1
    assert "404 no_service" in done.stderr and "not delivered" in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_invalid_payload_is_dead_but_the_next_message_still_goes() -> None:
    with Receiver([Reply(400, "invalid_payload")]) as slack:
        done = replay("--send", "--rule", "upstream-5xx", *SAMPLES, url=f"{slack.url}/services/T/B/{SECRET}")
        posts = slack.requests
    assert done.returncode == 1
    assert len(posts) == 3  # the first refused, the two others delivered
    assert "400 invalid_payload" in done.stderr and "slack: 2 sent, 1 failed" in done.stderr


def test_without_a_webhook_url_send_is_an_error_before_any_log_is_read() -> None:
    done = replay("--send", "--rule", "upstream-5xx", *SAMPLES, url=None)  # (issue 14: it went to the console)
    assert (done.returncode, done.stdout) == (2, "")
    assert "kong-tailer: error: --send has nowhere to send: notifier 'slack': no webhook URL" in done.stderr
    assert "SLACK_WEBHOOK_URL" in done.stderr and "lines" not in done.stderr  # no log was read
