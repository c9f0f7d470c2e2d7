"""`kong-tailer check`: load the rules and notifiers, say what loaded, or list every mistake with file:line."""

from __future__ import annotations

import os
from typing import TextIO

from tailer.errors import ConfigError, RulesError
from tailer.notify.build import BUILT_IN
from tailer.notify.registry import type_of
from tailer.rules.load import load_rules
from tailer.rules.model import NotifierConfig, Rule


def run_check(rules_dir: str, out: TextIO, err: TextIO) -> int:
    """0 when everything loads; 1 (with every problem on stderr) otherwise."""
    try:
        ruleset = load_rules(rules_dir)
    except RulesError as exc:
        for problem in exc.problems:
            err.write(f"{problem}\n")
        err.write(f"kong-tailer: {len(exc.problems)} problem(s) in {rules_dir}\n")
        return 1
    except ConfigError as exc:
        err.write(f"kong-tailer: error: {exc}\n")
        return 1
    used = {n for r in ruleset.rules for n in r.notify}
    out.write(f"{len(ruleset.rules)} rules from {len(ruleset.files)} files in {rules_dir}\n")
    for rule in ruleset.rules:
        out.write(f"  {rule.name:<24} {_selects(rule)}; {_decides(rule)} → {', '.join(rule.notify)}\n")
        for note in _notes(rule):
            out.write(f"  {'':<24} note: {note}\n")
    out.write("notifiers\n")
    for name, config in sorted(ruleset.notifiers.items()):
        if name in used or config.file != BUILT_IN:
            out.write(f"  {name:<24} {_notifier(config)}{'' if name in used else ' (used by no rule)'}\n")
    return 0


def _selects(rule: Rule) -> str:
    parts = [f"kind {rule.kind}" if rule.kind else "any kind"]
    if rule.source:
        parts.append(f"source {rule.source}")
    if rule.event:
        parts.append(f"event {rule.event}")
    if rule.when_text:
        parts.append(f"when {' '.join(rule.when_text.split())}")
    return ", ".join(parts)


def _decides(rule: Rule) -> str:
    parts = []
    if rule.aggregation is not None:
        parts.append(rule.aggregation.describe(rule.settings))
    if rule.group_by.names:
        parts.append(f"per {', '.join(rule.group_by.names)}")
    if rule.snooze is not None:
        parts.append(f"snooze {rule.snooze:g} s")
    if rule.on_change:
        parts.append("on_change")
    if rule.unique is not None and (rule.on_change or rule.snooze is not None):
        parts.append(f"unique {', '.join(rule.unique.names)}")
    if rule.realert is not None:
        parts.append(f"realert {rule.realert:g} s")
    if rule.group_window is not None:
        parts.append(f"grouped over {rule.group_window:g} s")
    return ", ".join(parts) or "every match"


def _notes(rule: Rule) -> list[str]:
    notes = []
    if rule.snooze is not None and not rule.on_change:
        notes.append(
            "snooze without on_change silences every event of the rule after one message (Kong's semantics); "
            "add on_change = true to snooze per `unique` value"
        )
    if rule.kind == "http" and rule.when is None and not rule.counts_all_requests:
        notes.append("requests below 400 are only counted, so this rule sees 4xx/5xx requests only")
    return notes


def _notifier(config: NotifierConfig) -> str:
    what = type_of(config).describe(config, os.environ)
    rate = f", at most {config.rate:g}/s" if config.rate else ""
    return what + rate
