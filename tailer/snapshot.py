"""The rules' state as bytes, so that a restarted daemon goes on where it stopped: windows, snooze digests,
open groups, budgets' backlogs and the error entries waiting for their request.

Each stateful class names its state attributes in `STATE`. A snapshot holds no rule: a `Rule` pickles as
its name (`Rule.__reduce__`) and is read back as the rule of that name in the rule set being restored (so
compiled conditions are never stored, and alerts of a rule that was removed are dropped); `MISSING` stays the
one instance. Pickling runs at C speed, with no callback per object. Reading accepts only the classes a
snapshot can hold: the database is ours, but a snapshot is never a way to run code.
"""

from __future__ import annotations

import contextvars
import copyreg
import io
import pickle
from typing import Any
from zoneinfo import ZoneInfo

from tailer.config import localtime_zone
from tailer.pipeline import Pipeline
from tailer.rules.model import Rule

VERSION = 1
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


class SnapshotError(Exception):
    """A snapshot that cannot be read back (another version, or damaged)."""


def _state(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in type(obj).STATE}


def _restore(obj: Any, state: dict[str, Any]) -> None:
    for name in type(obj).STATE:
        if name in state:
            setattr(obj, name, state[name])


def _reduce_zone(zone: ZoneInfo) -> tuple[Any, tuple[Any, ...]]:
    """A zone read from /etc/localtime has no name to be saved by: it is read from there again."""
    if zone.key == "localtime":
        return (localtime_zone, ())
    return (ZoneInfo, (zone.key,))


def dump(pipeline: Pipeline) -> bytes:
    engine = pipeline.engine
    state = {
        "version": VERSION,
        "engine": _state(engine),
        "rules": {r.rule.name: _state(r) for r in engine.runners},
        "correlator": _state(pipeline.correlator),
        "budgets": {name: _state(b) for name, b in pipeline.budgets.items()},
    }
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, ZoneInfo: _reduce_zone}
    pickler.dump(state)
    return buf.getvalue()


def load(pipeline: Pipeline, data: bytes) -> None:
    """Put the state in `data` into `pipeline` (whose rules may differ from those that wrote it)."""
    token = _RULES.set({r.name: r for r in pipeline.ruleset.rules})
    try:
        state = _Unpickler(io.BytesIO(data)).load()
    except Exception as exc:  # anything a damaged pickle can raise
        raise SnapshotError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        _RULES.reset(token)
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise SnapshotError("written by another version of kong-tailer")
    _restore(pipeline.engine, state["engine"])
    for runner in pipeline.engine.runners:
        if runner.rule.name in state["rules"]:
            _restore(runner, state["rules"][runner.rule.name])
            runner.restored()  # the rule may have changed since: its windows take its `within` now
    _restore(pipeline.correlator, state["correlator"])
    for name, budget in pipeline.budgets.items():
        if name in state["budgets"]:
            saved = state["budgets"][name]
            saved["_backlog"] = [a for a in saved.get("_backlog", []) if a.rule is not None]
            configured = budget._bucket
            _restore(budget, saved)
            budget.restored(configured)  # the notifier's rate may have changed since


def rule_named(name: str) -> Rule | None:
    """The rule of that name among those being restored; None if it is gone (its alerts are dropped)."""
    return _RULES.get().get(name)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE or (module in _SAFE_MODULES and "." not in name and name.lstrip("_")[:1].isupper()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} has no place in a snapshot")
