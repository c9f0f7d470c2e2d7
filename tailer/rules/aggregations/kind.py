"""What a rule aggregation declares (`Aggregation`): how its key is read and checked, how `check` describes it,
whether it counts every request, which request statuses it wants as events, the span of its windows, and its
steps on a matching event and when event time passes.

Each aggregation's module declares one (`threshold.AGGREGATION`, ...) beside its settings; the registry
(`tailer.rules.aggregations.registry`) maps rule keys to them, and nothing else looks at an aggregation's name.
The steps work through `RuleRunner`'s public interface (tailer.rules.engine): `windows`, `window()`, `firing`,
`fires()`, `resolve()`, `resolve_cleared()`, `candidate()`, and `touched` / `seen` for the state a snapshot keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tailer.alerts import Alert
    from tailer.events import Event
    from tailer.rules.engine import RuleRunner


def no_statuses(settings: Any) -> frozenset[int] | None:
    return frozenset()


@dataclass(frozen=True, slots=True)
class Aggregation:
    """A rule aggregation. `name`: its key in a `[[rule]]` table. `read`: that key's TOML value → its settings
    (the rule's `settings`), raising ValueError/ConfigError with the reason. `describe`: what `kong-tailer check`
    says it decides. `step`: a matching event (bound to the rule's runner, so a single call per event); `tick`:
    event time reached `now` (None: nothing to do then). `within`: the span its windows count over, also given to
    restored windows (None: it keeps no windows, and a restored rule drops them). `counts`: it counts every
    request, so those the parser only tallied fill its windows (when its rule is over every request).
    `statuses`: the request statuses it wants as events when it counts (None: every one from 400 up)."""

    name: str
    read: Callable[[Any], Any]
    describe: Callable[[Any], str]
    step: Callable[[RuleRunner, Event, float, list[Alert]], None]
    tick: Callable[[RuleRunner, float, list[Alert]], None] | None = None
    within: Callable[[Any], float] | None = None
    counts: bool = False
    statuses: Callable[[Any], frozenset[int] | None] = no_statuses
