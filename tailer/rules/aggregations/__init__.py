"""Rule aggregations: one module each (`threshold`, `ratio`, `flatline`, `new_value`), declaring an
`Aggregation` (`kind`); `registry` maps each rule key to its declaration."""
