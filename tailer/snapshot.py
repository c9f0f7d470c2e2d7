"""The rules' state as bytes, so that a restarted daemon goes on where it stopped: windows, snooze digests,
open groups, budgets' backlogs and the error entries waiting for their request.

The pipeline hands out its state as a plain value (`Pipeline.state()`, a `PipelineState`) and takes one back
(`Pipeline.restore`); this module only turns that value into bytes and back, so the rules know nothing of
persistence. A snapshot holds no rule: a `Rule` is pickled as its name (through this pickler's dispatch table)
and read back as the rule of that name in the rule set being restored (so compiled conditions are never
stored, and alerts of a rule that was removed are dropped); `MISSING` stays the one instance. Pickling runs at
C speed, with no callback per object. Reading accepts only the classes a snapshot can hold: the database is
ours, but a snapshot is never a way to run code.
"""

from __future__ import annotations

import contextvars
import copyreg
import io
import pickle
from typing import Any
from zoneinfo import ZoneInfo

from tailer.config import localtime_zone
from tailer.errors import SnapshotError
from tailer.pipeline import STATE_VERSION, Pipeline, PipelineState
from tailer.rules.model import Rule

VERSION = STATE_VERSION
_SAFE_MODULES = ("tailer.events", "tailer.alerts", "tailer.rules.engine", "tailer.budget")
_SAFE = {("builtins", n) for n in ("set", "frozenset", "dict", "list", "tuple", "bytearray", "complex")} | {
    ("collections", "deque"),
    ("collections", "Counter"),
    ("collections", "OrderedDict"),
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("zoneinfo", "ZoneInfo"),  # by its name (_reduce_zone)
    ("tailer.fields", "MISSING"),
    ("tailer.config", "localtime_zone"),
    ("tailer.snapshot", "rule_named"),
}
_RULES: contextvars.ContextVar[dict[str, Rule]] = contextvars.ContextVar("rules")


def _reduce_zone(zone: ZoneInfo) -> tuple[Any, tuple[Any, ...]]:
    """A zone read from /etc/localtime has no name to be saved by: it is read from there again."""
    if zone.key == "localtime":
        return (localtime_zone, ())
    return (ZoneInfo, (zone.key,))


def _reduce_rule(rule: Rule) -> tuple[Any, tuple[str]]:
    return (rule_named, (rule.name,))


def dump(pipeline: Pipeline) -> bytes:
    """The pipeline's state as bytes."""
    state = pipeline.state()
    value = {  # the layout of VERSION 1, as the first release wrote it
        "version": state.version,
        "engine": state.engine,
        "rules": state.rules,
        "correlator": state.correlator,
        "budgets": state.budgets,
    }
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, ZoneInfo: _reduce_zone, Rule: _reduce_rule}
    pickler.dump(value)
    return buf.getvalue()


def load(pipeline: Pipeline, data: bytes) -> None:
    """Put the state in `data` into `pipeline` (whose rules may differ from those that wrote it)."""
    pipeline.restore(read(data, pipeline.ruleset.rules))


def read(data: bytes, rules: tuple[Rule, ...]) -> PipelineState:
    """The state in `data`, its rules read back as those of `rules` of the same name (None if gone)."""
    token = _RULES.set({r.name: r for r in rules})
    try:
        value = _Unpickler(io.BytesIO(data)).load()
    except Exception as exc:  # anything a damaged pickle can raise
        raise SnapshotError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        _RULES.reset(token)
    if not isinstance(value, dict) or value.get("version") != VERSION:
        raise SnapshotError("written by another version of kong-tailer")
    try:
        return PipelineState(value["engine"], value["rules"], value["correlator"], value["budgets"], VERSION)
    except KeyError as exc:
        raise SnapshotError(f"damaged: no {exc}") from None


def rule_named(name: str) -> Rule | None:
    """The rule of that name among those being restored; None if it is gone (its alerts are dropped)."""
    return _RULES.get().get(name)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE or (module in _SAFE_MODULES and "." not in name and name.lstrip("_")[:1].isupper()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} has no place in a snapshot")
