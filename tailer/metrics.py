"""The optional Prometheus endpoint: `metrics = "127.0.0.1:9464"` (or `--metrics`), off by default; it needs
`pip install 'kong-tailer[metrics]'` (prometheus-client).

The reader publishes its numbers (`Numbers`, plain data) once a second; a scrape renders the last ones, and
counts the outbox through a connection of its own. A scrape never touches the reader's live structures,
and costs the reader nothing. Counters survive reloads (the daemon adds the old pipeline's counts in).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tailer.errors import ConfigError
from tailer.state import DATABASE, Outbox, connect

log = logging.getLogger("tailer.metrics")

PREFIX = "kong_tailer_"
_NOT_DROPS = ("matched", "alerts")  # the other keys of a rule's counts are reasons matches were dropped


@dataclass
class Numbers:
    """What the reader knows, as of one moment. Counters are totals since the daemon started."""

    lines: dict[str, int] = field(default_factory=dict)  # source → lines read
    bytes: dict[str, int] = field(default_factory=dict)  # source → bytes read
    behind: dict[str, int] = field(default_factory=dict)  # source → bytes written, not yet read
    read_at: dict[str, float] = field(default_factory=dict)  # source → last read (wall clock)
    events: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, kind) → events
    rules: dict[str, dict[str, int]] = field(default_factory=dict)  # rule → matched, alerts, drops by reason
    silenced: dict[str, int] = field(default_factory=dict)  # rule → alerts silences held back
    notifiers: dict[str, dict[str, int]] = field(default_factory=dict)  # sent, dead, retried, rate_limited
    problems: list[tuple[str, str]] = field(default_factory=list)  # self-alerts open: (check, subject)
    reloads: dict[str, int] = field(default_factory=dict)  # done | refused → count


class Endpoint:
    """The HTTP server (a thread of prometheus-client's) and the numbers it serves."""

    def __init__(self, address: tuple[str, int], state_dir: str) -> None:
        try:
            from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
        except ImportError:
            raise ConfigError(
                "metrics: prometheus-client is not installed: pip install 'kong-tailer[metrics]' "
                "(or remove the metrics setting)"
            ) from None
        self.numbers = Numbers()
        self.state_dir = state_dir
        self._outbox: Outbox | None = None  # the scrapes' own connection (each scrape runs in a new thread)
        self._db_lock = threading.Lock()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        ProcessCollector(registry=registry)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        host, port = address
        try:
            self.server, _ = start_http_server(port, host, registry)
        except OSError as exc:
            raise ConfigError(f"metrics: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        log.info("metrics on http://%s:%d/metrics", host, self.server.server_port)

    def publish(self, numbers: Numbers) -> None:
        self.numbers = numbers  # one assignment: a scrape sees the old numbers or the new ones

    def outbox(self) -> dict[tuple[str, str], int]:
        with self._db_lock:
            if self._outbox is None:
                db = connect(self.state_dir)
                db.execute("PRAGMA query_only = 1")
                self._outbox = Outbox(db, os.path.join(self.state_dir, DATABASE))
            return self._outbox.counts()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self._db_lock:
            if self._outbox is not None:
                self._outbox.close()


class _Collector:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        n = self.endpoint.numbers
        now = time.time()

        def family(kind: Any, name: str, doc: str, labels: list[str], values: Any) -> Any:
            metric = kind(PREFIX + name, doc, labels=labels)
            for key, value in values:
                metric.add_metric(list(key) if isinstance(key, tuple) else [key], value)
            return metric

        yield family(CounterMetricFamily, "lines_read", "Lines read, per followed file.", ["file"], n.lines.items())
        yield family(CounterMetricFamily, "bytes_read", "Bytes read, per followed file.", ["file"], n.bytes.items())
        yield family(
            GaugeMetricFamily, "bytes_behind", "Bytes written and not yet read, per file.", ["file"], n.behind.items()
        )
        yield family(
            GaugeMetricFamily,
            "seconds_since_last_read",
            "Seconds since anything was last read from the file.",
            ["file"],
            ((f, max(0.0, now - t)) for f, t in n.read_at.items()),
        )
        yield family(
            CounterMetricFamily, "events", "Events parsed, per file and kind.", ["file", "kind"], n.events.items()
        )
        parse_errors: dict[str, int] = {}
        for (source, kind), count in n.events.items():
            if kind == "parse_error":
                parse_errors[source] = parse_errors.get(source, 0) + count
        for source in n.lines:
            parse_errors.setdefault(source, 0)
        yield family(
            CounterMetricFamily,
            "parse_errors",
            "Text that could not be read as any known shape, per file.",
            ["file"],
            parse_errors.items(),
        )
        yield family(
            CounterMetricFamily,
            "rule_matched_events",
            "Events a rule selected.",
            ["rule"],
            ((r, c.get("matched", 0)) for r, c in n.rules.items()),
        )
        yield family(
            CounterMetricFamily,
            "alerts",
            "Alerts a rule raised.",
            ["rule"],
            ((r, c.get("alerts", 0)) for r, c in n.rules.items()),
        )
        yield family(
            CounterMetricFamily,
            "alerts_suppressed",
            "Matches a rule's filters dropped (snooze, unique, realert, grouped, ...) or silences held back.",
            ["rule", "reason"],
            (
                *(
                    ((r, why), c)
                    for r, cs in n.rules.items()
                    for why, c in cs.items()
                    if why not in ("matched", "alerts")
                ),
                *(((r, "silenced"), c) for r, c in n.silenced.items()),
            ),
        )
        for what, doc in (
            ("sent", "Messages delivered, per notifier."),
            ("dead", "Messages given up on (dead letters), per notifier."),
            ("retried", "Failed delivery attempts that will be retried, per notifier."),
            ("rate_limited", "Attempts answered 429 Too Many Requests, per notifier."),
        ):
            name = "messages_" + what if what in ("sent", "dead") else "deliveries_" + what
            yield family(
                CounterMetricFamily, name, doc, ["notifier"], ((k, c.get(what, 0)) for k, c in n.notifiers.items())
            )
        try:
            outbox = self.endpoint.outbox()
        except Exception as exc:  # a scrape must answer; the gauge is left out
            log.warning("metrics: cannot count the outbox: %s", exc)
        else:
            names = set(n.notifiers) | {k[0] for k in outbox}
            yield family(
                GaugeMetricFamily,
                "outbox_messages",
                "Messages in the outbox, per notifier and state (pending, sending, sent, dead).",
                ["notifier", "state"],
                (
                    ((name, state), outbox.get((name, state), 0))
                    for name in sorted(names)
                    for state in ("pending", "sending", "sent", "dead")
                ),
            )
        yield family(
            GaugeMetricFamily,
            "problem",
            "1 while a self-check fails: stalled (a file written, not read), failing (a notifier not delivering).",
            ["check", "subject"],
            ((p, 1) for p in n.problems),
        )
        yield family(CounterMetricFamily, "reloads", "Reloads (SIGHUP), by result.", ["result"], n.reloads.items())
