"""Notifiers: turn a `Message` into what a destination accepts, and say how its delivery went.

A notifier type is one module: its destination and its declaration (`TYPE`, a `kind.NotifierType`: options,
checks, building, `check`'s description, `replay`'s preview, secrets), named once in `registry.py`.

slack.py      Slack incoming webhook: mrkdwn escaping, Block Kit, size limits; reading Slack's answers; folding
webhook.py    Kong Event Hooks `webhook` body (HMAC-signed) or a `webhook-custom` request
command.py    run a program with the alert as JSON on stdin (Kong's `lambda`, in spirit)
console.py    readable lines on stdout (Kong's `log` handler, in spirit): the default
registry.py   every type by name; the built-in notifiers; `destination_for`
kind.py       what a type declares
build.py      what building any type's destination takes: delivery policy, secrets, a URL's description
transport.py  the only HTTP code; webhook URLs are secrets and are redacted everywhere
deliver.py    delivery rules: rate per webhook, 429 pauses, retries with backoff up to a deadline
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went: `sent`; `retry` (after `after` seconds if the destination said so); `dead`
    (permanent: retrying cannot help). `reason` is for humans and never holds a secret."""

    status: Literal["sent", "retry", "dead"]
    reason: str = ""
    after: float | None = None
    code: int | None = field(default=None, compare=False)  # the HTTP status of the answer, if any (metrics)


SENT = Outcome("sent", "ok")
