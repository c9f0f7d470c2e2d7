"""Rule evaluation: events in, alerts out. Pure and deterministic: every window and timer runs on event time
(the log's own timestamps), so a replay decides exactly what the live daemon decided.

Per rule, an event goes through these steps; each may drop it, and the drop is counted by reason:

    select      kind, Kong source/event, `when`
    aggregate   the rule's aggregation (threshold / ratio / flatline / new_value, one module each in
                tailer.rules.aggregations) turns matches into a firing key (or not yet), on the event or as
                event time passes (a ratio is judged once per second of event time, when all of that
                second's requests, including those the parser only tallied, are counted)
    kong        Kong Event Hooks' filters, exactly as `event_hooks.lua` applies them:
                  snooze alone      the first event passes; every later one is dropped for `snooze` s
                  on_change+snooze  the same, per digest of the `unique` fields           ("unique")
                  on_change alone   passes only when the digest differs from the last one ("unique")
    realert     a key that keeps firing re-alerts after `realert` s, then twice that, ...  ("realert")
    group       `group_window`: alerts within the window are folded into one               ("grouped")

Time advances with the events (the latest time seen); `advance(t)` moves it when no event comes, which
closes windows, resolves keys and flushes groups. `finish()` flushes what is still open at the end.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import MethodType
from typing import Any

from tailer.alerts import Alert, folded_key
from tailer.events import Event, EventHook, Tally
from tailer.fields import MISSING
from tailer.rules.model import Rule

_VOLATILE = ("time", "offset", "raw", "file")  # left out of a digest of "every field"


def digest(values: Any) -> str:
    """Kong's `md5(normalize(data))`, in spirit: a hash of the values in a canonical JSON form."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _plain(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _stamp(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class RuleRunner:
    """One rule's state and steps: what every aggregation shares (windows, firing keys, Kong's filters, realert,
    grouping). A rule's aggregation (tailer.rules.aggregations) steps through this public interface:

        rule                    the rule
        windows, window(g, t)   the windows by group key; the key's window, opened at `t` if it has none
        firing, fires(g)        the keys whose condition holds; `fires`: the condition holds (False: it was
                                firing already and no `realert` lets it alert again, a drop)
        resolve(g), resolve_cleared(gs, now, holds)
                                the key stops firing; those of `gs` whose window no longer `holds` at `now`
        candidate(...)          an alert, to Kong's filters, realert and grouping
        touched, seen           what a ratio (keys with new hits) and new_value (values seen) keep in a snapshot
    """

    # What `state()` keeps: each part's key in a snapshot (the snapshot's layout, which a release keeps) → the
    # attribute that holds it
    STATE = {
        "_snoozed": "_snoozed",
        "_last_digest": "_last_digest",
        "_realert": "_realert",
        "_firing": "firing",
        "_windows": "windows",
        "_touched": "touched",
        "_seen": "seen",
        "_group": "_group",
        "_group_opened": "_group_opened",
        "_suppressed": "_suppressed",
    }

    def __init__(self, rule: Rule, origins: dict[str, str] | None = None) -> None:
        self.rule = rule
        self.origins = {} if origins is None else origins  # file → its generation's origin, for alert keys
        self.stats: Counter[str] = Counter()  # alerts, and drops by reason
        self.matched = 0
        self.select = _selector(rule)
        self._snoozed: dict[str, float] = {}  # Kong cache key → until
        self._last_digest: str | None = None
        self._realert: dict[tuple[Any, ...], tuple[float, float]] = {}  # key → (last alert, interval)
        self.firing: set[tuple[Any, ...]] = set()
        self.windows: dict[tuple[Any, ...], _Window] = {}
        self.touched: set[tuple[Any, ...]] = set()  # ratio keys with new hits since the last judgement
        self.seen: dict[tuple[Any, ...], None] = {}  # new_value: the values seen, oldest first
        self._group: list[Alert] = []
        self._group_opened = 0.0
        self._suppressed = 0  # drops since this rule's last alert
        agg = rule.aggregation
        self._within = agg.within(rule.settings) if agg is not None and agg.within is not None else None
        # The aggregation's step, bound to this runner: one call per matching event, as a method would be
        self._feed: Callable[[Event, float, list[Alert]], None] = (
            self._each if agg is None else MethodType(agg.step, self)
        )
        self._tick = agg.tick if agg is not None else None
        self.ticks = rule.group_window is not None or self._tick is not None

    # -- steps

    def feed(self, event: Event, t: float, out: list[Alert]) -> None:
        select = self.select
        if select is None or select(event):
            self.matched += 1
            self._feed(event, t, out)

    def tally(self, event: Tally, t: float) -> None:
        """Requests that were only counted: they fill the windows of a rule over every request."""
        window = self.window(self.rule.group_by.values(event), t)
        window.add(t, event.count, 0, event)

    def _each(self, event: Event, t: float, out: list[Alert]) -> None:
        group = self.rule.group_by.values(event)
        self.candidate(event, t, group, 1, t, {}, out)

    def state(self) -> dict[str, Any]:
        """This rule's state as a plain mapping (a snapshot, tailer.pipeline.PipelineState)."""
        return {key: getattr(self, name) for key, name in self.STATE.items()}

    def restore(self, state: dict[str, Any]) -> None:
        """Go on from `state`, saved by this rule as it was then (a restart, a reload)."""
        for key, name in self.STATE.items():
            if key in state:
                setattr(self, name, state[key])
        self._restored()

    def _restored(self) -> None:
        """After a state was put back: windows count over the rule's `within` as it is now, and a rule that
        no longer counts keeps none."""
        within = self._within
        if within is None:
            self.windows.clear()
            self.touched.clear()
            return
        for window in self.windows.values():
            window.within = within

    # -- what the aggregations share

    def window(self, group: tuple[Any, ...], t: float) -> _Window:
        """The key's window, opened at `t` over the aggregation's `within` if it has none."""
        window = self.windows.get(group)
        if window is None:
            assert self._within is not None, "an aggregation with windows declares its `within`"
            window = self.windows[group] = _Window(self._within, t)
        return window

    def fires(self, group: tuple[Any, ...]) -> bool:
        """The key's condition holds: it may alert, unless it was firing already (then only `realert` lets
        it alert again)."""
        if group in self.firing and self.rule.realert is None:
            return self._drop("realert")
        self.firing.add(group)
        return True

    def resolve(self, group: tuple[Any, ...]) -> None:
        """The key's condition no longer holds: it stops firing, and its realert interval starts afresh."""
        if group in self.firing:
            self.firing.discard(group)
            self._realert.pop(group, None)

    def resolve_cleared(self, groups: Iterable[tuple[Any, ...]], now: float, holds: Callable[[_Window], bool]) -> None:
        """Those of the (firing) keys `groups` whose window no longer `holds` at `now` resolve."""
        windows = self.windows
        for group in list(groups):
            window = windows[group]
            window.expire(now)
            if not holds(window):
                self.resolve(group)

    def candidate(
        self,
        event: Event,
        t: float,
        group: tuple[Any, ...],
        count: int,
        first: float,
        fields: dict[str, Any],
        out: list[Alert],
    ) -> None:
        """An alert of key `group` on `event` at `t`, `count` matches since `first`, with the aggregation's
        template `fields`: through Kong's filters and realert, then grouped or put in `out`."""
        rule = self.rule
        if (rule.snooze is not None or rule.on_change) and not self._kong_passes(event, t):
            return
        if rule.realert is not None and not self._realert_passes(group, t):
            return
        if self._suppressed:
            fields = {**fields, "suppressed": self._suppressed}
            self._suppressed = 0
        at = _stamp(t)
        alert = Alert(
            rule,
            _key(rule, group, event, self.origins.get(event.file, "")),
            event,
            at,
            _stamp(first),
            at,
            count,
            group,
            fields,
        )
        self.stats["alerts"] += 1
        if rule.group_window is None:
            out.append(alert)
            return
        if not self._group:
            self._group_opened = t
        else:
            self.stats["grouped"] += 1
        self._group.append(alert)

    def _kong_passes(self, event: Event, t: float) -> bool:
        rule = self.rule
        d = digest(_unique_values(rule, event))
        if rule.snooze is None:  # on_change alone: compare with the last digest seen
            if d == self._last_digest:
                return self._drop("unique")
            self._last_digest = d
            return True
        key = d if rule.on_change else ""
        until = self._snoozed.get(key)
        if until is not None and t < until:
            return self._drop("unique" if rule.on_change else "snooze")
        self._snoozed[key] = t + rule.snooze  # a drop does not extend it: the window runs from the pass
        return True

    def _realert_passes(self, group: tuple[Any, ...], t: float) -> bool:
        realert = self.rule.realert
        assert realert is not None
        state = self._realert.get(group)
        interval = realert
        if state is not None:
            last, interval = state
            if t < last + interval:
                return self._drop("realert")
            # still going within twice the interval: back off further
            interval = min(interval * 2, self.rule.realert_max) if t < last + 2 * interval else realert
        self._realert[group] = (t, interval)
        return True

    def _drop(self, reason: str) -> bool:
        self.stats[reason] += 1
        self._suppressed += 1
        return False

    # -- time passing

    def tick(self, now: float, out: list[Alert]) -> None:
        """Event time reached `now`: the aggregation's step (expire windows, resolve keys, judge ratios, check
        flatlines), then flush a due group."""
        rule = self.rule
        if self._tick is not None:
            self._tick(self, now, out)
        if self._snoozed and len(self._snoozed) > 10_000:
            self._snoozed = {k: until for k, until in self._snoozed.items() if until > now}
        if self._group and now >= self._group_opened + (rule.group_window or 0):
            self.flush(out)

    def flush(self, out: list[Alert]) -> None:
        """Send the open group now (the window closed, or the input ended)."""
        group, self._group = self._group, []
        if len(group) == 1:
            out.append(group[0])
        elif group:
            head = group[0]
            first = min(a.first for a in group)
            last = max(a.last for a in group)
            count = sum(a.count for a in group)
            key = folded_key(group)
            out.append(Alert(self.rule, key, head.event, last, first, last, count, (), head.fields, group))


class _Window:  # pickled in snapshots by this module and name: both stay
    """Counts over the last `within` seconds of event time, in per-second buckets."""

    __slots__ = ("within", "since", "buckets", "total", "hits", "last_event", "last_hit")

    def __init__(self, within: float, since: float) -> None:
        self.within = within
        self.since = since  # when the key was first seen
        self.buckets: deque[list[Any]] = deque()  # [second, total, hits]
        self.total = 0
        self.hits = 0
        self.last_event: Event | None = None
        self.last_hit: tuple[float, Event] | None = None  # ratio: the latest event for which `when` held

    @property
    def first(self) -> float:
        return float(self.buckets[0][0]) if self.buckets else self.since

    def add(self, t: float, n: int, hits: int, event: Event) -> None:
        second = int(t)
        buckets = self.buckets
        self.total += n
        self.hits += hits
        if type(event) is not Tally or self.last_event is None:  # a request's fields say more than a count
            self.last_event = event
        if buckets and buckets[-1][0] >= second:  # same second (or a little back in time): the latest bucket
            bucket = buckets[-1]
            bucket[1] += n
            bucket[2] += hits
        else:  # a new second: older ones may have left the window
            buckets.append([second, n, hits])
            self.expire(t)

    def expire(self, now: float) -> None:
        horizon = now - self.within
        buckets = self.buckets
        while buckets and buckets[0][0] <= horizon:
            _, n, hits = buckets.popleft()
            self.total -= n
            self.hits -= hits


Window = _Window  # the name aggregations type it by


class Engine:
    """All rules over one stream of events."""

    STATE = ("now", "_second")  # what `state()` keeps of the engine itself, beside each rule's

    def __init__(self, rules: Sequence[Rule]) -> None:
        # Which generation of each file the events come from (`lines.origin`), set by the driver: alert
        # keys hold it, so the same line at the same offset of another file is another alert.
        self.origins: dict[str, str] = {}
        self.runners = [RuleRunner(r, self.origins) for r in rules]
        self._by_kind: dict[str, list[RuleRunner]] = {}
        self.counting: list[RuleRunner] = [r for r in self.runners if r.rule.counts_all_requests]
        self._ticking = [r for r in self.runners if r.ticks]
        self.now: float | None = None  # the latest event time seen
        self._second = -1
        # A rule that raised on an event (a bug, or a value no one foresaw): (rule, event, error). The event
        # is lost to that rule only; the driver reports these and keeps them (`take_failures`).
        self.failures: list[tuple[str, Event, Exception]] = []

    def _runners(self, kind: str) -> list[RuleRunner]:
        runners = self._by_kind.get(kind)
        if runners is None:
            runners = self._by_kind[kind] = [r for r in self.runners if r.rule.kind in (None, kind)]
        return runners

    def feed(self, events: Iterable[Event]) -> list[Alert]:
        out: list[Alert] = []
        by_kind = self._by_kind
        last_time, t = None, self.now or 0.0
        for event in events:
            time = event.time
            if time is not last_time:  # events of one second usually share one datetime: convert it once
                last_time = time
                t = time.timestamp() if time is not None else (self.now or 0.0)
            if self.now is None or t > self.now:
                self.now = t
                if int(t) != self._second:
                    self._second = int(t)
                    for runner in self._ticking:
                        runner.tick(t, out)
            if type(event) is Tally:
                for runner in self.counting:
                    runner.tally(event, t)
                continue
            runners = by_kind.get(event.kind)
            if runners is None:
                runners = self._runners(event.kind)
            for runner in runners:
                try:
                    runner.feed(event, t, out)
                except Exception as exc:  # one rule's failure must not stop the others, nor the reading
                    self.failures.append((runner.rule.name, event, exc))
        return out

    def note_origins(self, origins: Mapping[str, str]) -> None:
        """Which generation of each file the next events come from (alert keys hold it)."""
        self.origins.update(origins)

    def state(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The engine's own state, and each rule's by name."""
        return {name: getattr(self, name) for name in self.STATE}, {r.rule.name: r.state() for r in self.runners}

    def restore(self, state: dict[str, Any], rules: dict[str, dict[str, Any]]) -> None:
        """Go on from a state saved by an engine whose rules may differ: a rule's state goes to the rule of
        the same name, if there is one."""
        for name in self.STATE:
            if name in state:
                setattr(self, name, state[name])
        for runner in self.runners:
            saved = rules.get(runner.rule.name)
            if saved is not None:
                runner.restore(saved)

    def wrap_rules(self, wrap: Callable[[str, Callable[..., None]], Callable[..., None]]) -> None:
        """Replace each rule's step by `wrap(rule name, step)` (fault injection)."""
        for runner in self.runners:
            runner.feed = wrap(runner.rule.name, runner.feed)  # type: ignore[method-assign]

    def take_failures(self) -> list[tuple[str, Event, Exception]]:
        failures, self.failures = self.failures, []
        return failures

    def advance(self, now: float) -> list[Alert]:
        """Event time moved to `now` without an event (the daemon's idle timer)."""
        out: list[Alert] = []
        if self.now is None or now > self.now:
            self.now = now
            for runner in self._ticking:
                runner.tick(now, out)
        return out

    def finish(self) -> list[Alert]:
        """The input ended: flush open groups."""
        out: list[Alert] = []
        if self.now is not None:  # judge the last second
            for runner in self._ticking:
                runner.tick(self.now, out)
        for runner in self.runners:
            runner.flush(out)
        return out

    def stats(self) -> dict[str, Counter[str]]:
        """Per rule: `matched`, `alerts`, and drops by reason."""
        return {r.rule.name: Counter(matched=r.matched) + r.stats for r in self.runners}


def _selector(rule: Rule) -> Callable[[Event], bool] | None:
    """The test of an event beyond its kind; None when every event of the kind matches."""
    source, event_name, when = rule.source, rule.event, rule.when
    if source is None and event_name is None:
        return when

    def select(e: Event) -> bool:
        if type(e) is not EventHook:
            return False
        if source is not None and e.source != source:
            return False
        if event_name is not None and e.event != event_name:
            return False
        return when is None or when(e)

    return select


def _unique_values(rule: Rule, event: Event) -> Any:
    if rule.unique is not None:
        return [v if v is not MISSING else None for v in rule.unique.values(event)]
    if type(event) is EventHook:
        return event.data
    data = event.to_dict()
    for name in _VOLATILE:
        data.pop(name, None)
    return data


def _key(rule: Rule, group: tuple[Any, ...], event: Event, origin: str) -> str:
    """An alert's idempotency key: the rule and key, and where its event is (file generation and offset)
    and what it says; reading the same bytes again gives the same key, however they are read."""
    head = f"{rule.name}\0{group!r}\0{event.host}\0{origin}\0{event.offset}\0"
    return hashlib.sha256(head.encode() + event.raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]
