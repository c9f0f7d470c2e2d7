"""Every rule aggregation, by its rule key. An aggregation is one module that declares an `Aggregation` (how its
key is read, described, stepped and ticked) and one line here; nothing else names an aggregation. A rule takes
at most one; the order here is the order a rule's problems name them in.
"""

from __future__ import annotations

from tailer.rules.aggregations import flatline, new_value, ratio, threshold
from tailer.rules.aggregations.kind import Aggregation

AGGREGATIONS: dict[str, Aggregation] = {
    a.name: a
    for a in (
        threshold.AGGREGATION,
        ratio.AGGREGATION,
        flatline.AGGREGATION,
        new_value.AGGREGATION,
    )
}
