"""Rule files (TOML) → a `RuleSet`, or every mistake found, each as `file:line: rule 'name': what is wrong`.

A rules directory holds `*.toml` files, read in name order. Each may hold `[[rule]]` tables and
`[notifier.NAME]` tables. A rule takes at most one aggregation, whose key and checks its module declares
(`tailer.rules.aggregations.registry`). Some notifiers exist without being declared (`BUILTIN_NOTIFIERS`:
`slack`, the URL in `$SLACK_WEBHOOK_URL`, and `console`). A notifier's type says which keys it takes and how
they are checked (`tailer.notify.registry`). An unknown key is a mistake, never silently ignored.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from tailer.errors import ConfigError, RulesError
from tailer.fields import Named, collect_paths
from tailer.notify.registry import BUILTIN_NOTIFIERS, TYPES
from tailer.rules.aggregations.kind import Aggregation
from tailer.rules.aggregations.registry import AGGREGATIONS
from tailer.rules.expr import compile_when
from tailer.rules.model import NotifierConfig, Paths, Rule, RuleSet
from tailer.rules.names import Scope, check_all, rule_scope, union
from tailer.rules.values import Check, boolean, count, one_of, paths, positive, string, strings
from tailer.rules.values import duration as duration  # commands read durations with it from here
from tailer.template import compile_template
from tailer.tomltext import did_you_mean, key_line, toml_problem

KINDS = ("event_hook", "inspect", "http", "error", "parse_error")

# `unique` fields Kong defines per source/event (GET /event-hooks/sources); others digest every field.
KONG_UNIQUE: dict[tuple[str, str], tuple[str, ...]] = {
    ("rate-limiting-advanced", "rate-limit-exceeded"): ("consumer", "ip", "service"),
    ("ai-rate-limiting-advanced", "rate-limit-exceeded"): ("consumer", "ip", "service"),
    ("service-protection", "rate-limit-exceeded"): ("service",),
    ("oas-validation", "validation-failed"): ("consumer", "ip", "service"),
}

# The keys of a [[rule]] table beside each aggregation's own (AGGREGATIONS)
_RULE_KEYS = {
    "name", "description", "enabled", "kind", "source", "event", "when", "unique", "snooze", "on_change",
    "group_by", "realert", "realert_max", "group_window", "notify", "title", "text", "missing",
}  # fmt: skip
log = logging.getLogger("tailer.rules")
_TEMPLATES = ("text", "title")  # the keys whose field paths may also name the alert's own (`count`, ...)
_BUILT_INS = ", ".join(BUILTIN_NOTIFIERS)
_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")
_NEXT_TABLE = re.compile(r"\s*\[\[\s*rule\s*\]\]|\s*\[\s*notifiers?\s*\.")


@dataclass
class _Where:
    """Line numbers of the tables and keys of one file, for messages (tomllib does not give them)."""

    file: str
    lines: list[str]
    rule_lines: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, file: str, text: str) -> _Where:
        lines = text.splitlines()
        header = re.compile(r"\s*\[\[\s*rule\s*\]\]")
        return cls(file, lines, [i + 1 for i, line in enumerate(lines) if header.match(line)])

    def key_line(self, header: int, key: str) -> int:
        """The line that sets `key` (`key = ...`, a dotted `key.x = ...`, a `[...key]` sub-table or a `[[key]]`
        header) in the table whose header is on line `header`, up to the next rule or notifier table (0: the
        whole file); `header` itself if none does."""
        return key_line(self.lines, key, header, _NEXT_TABLE if header else None)

    def table_line(self, name: str) -> int:
        pattern = re.compile(r"\s*\[\s*notifiers?\s*\.\s*[\"']?" + re.escape(name) + r"[\"']?\s*\]")
        return next((i + 1 for i, line in enumerate(self.lines) if pattern.match(line)), 1)


class _Rule:
    """Reads one `[[rule]]` table, collecting problems rather than stopping at the first."""

    def __init__(
        self, table: dict[str, Any], where: _Where, line: int, problems: list[str], warnings: list[str]
    ) -> None:
        self.t = table
        self.where = where
        self.line = line
        self.problems = problems
        self.warnings = warnings
        self.named: list[tuple[str, Named]] = []  # (key, the field paths its value names)
        self.scope: Scope | None = None  # the events it selects, once read
        self.notify: tuple[str, ...] = ()
        name = table.get("name")
        self.name = name if isinstance(name, str) else None

    def problem(self, key: str | None, what: str, warning: bool = False) -> None:
        line = self.where.key_line(self.line, key) if key else self.line
        who = f"rule '{self.name}'" if self.name else "rule"
        (self.warnings if warning else self.problems).append(f"{self.where.file}:{line}: {who}: {what}")

    def get(self, key: str, check: Callable[[Any], Any], default: Any = None) -> Any:
        """The value of `key` passed through `check` (which raises ValueError/ConfigError to refuse it)."""
        if key not in self.t:
            return default
        try:
            with collect_paths() as named:
                value = check(self.t[key])
        except (ValueError, ConfigError) as exc:
            self.problem(key, f"{key}: {exc}")
            return default
        if named:
            self.named.append((key, named))
        return value

    def check_names(self, scope: Scope) -> None:
        """The field paths the keys name, against the fields the rule's events can have (tailer.rules.names):
        one none can have is a problem, free-form data Kong does not document a warning."""
        for key, named in self.named:
            for finding in check_all(named, scope, template=key in _TEMPLATES):
                self.problem(key, f"{key}: {finding.text}", warning=not finding.error)

    def read(self, notifiers: Collection[str]) -> Rule | None:
        before = len(self.problems)
        known = _RULE_KEYS | set(AGGREGATIONS)
        for key in sorted(set(self.t) - known):
            hint = did_you_mean(key, sorted(known)) or f" (known: {', '.join(sorted(known))})"
            self.problem(key, f"unknown key {key!r}{hint}")
        if self.name is None:
            self.problem("name", "every rule needs a `name`")
        elif not _NAME.fullmatch(self.name):
            self.problem("name", "name: use letters, digits, `-`, `_` and `.`")
        if "text" not in self.t:
            self.problem(None, "every rule needs a `text` (the message template)")
        kind = self.get("kind", one_of(KINDS))
        source = self.get("source", string)
        event = self.get("event", string)
        if (source or event) and kind not in (None, "event_hook"):
            self.problem("kind", f'kind {kind!r} has no Event Hooks source/event; use kind = "event_hook"')
        if source or event:
            kind = "event_hook"
        aggregates = [k for k in AGGREGATIONS if k in self.t]
        if len(aggregates) > 1:
            self.problem(aggregates[1], f"one aggregation per rule, not {' and '.join(aggregates)}")
        notify = self.get("notify", strings, ("slack",))
        for n in notify:
            if n not in notifiers:
                hint = did_you_mean(n, notifiers) or f" (declare [notifier.{n}] or use {_BUILT_INS})"
                self.problem("notify", f"notify: no notifier {n!r}{hint}")
        unique = self.get("unique", paths)
        if unique is None and source and event and (source, event) in KONG_UNIQUE:
            unique = paths(list(KONG_UNIQUE[(source, event)]))
        text = self.get("text", _template, compile_template(""))
        when = self.get("when", compile_when)
        title = self.get("title", _template)
        snooze = self.get("snooze", duration)
        on_change = self.get("on_change", boolean, False)
        group_by = self.get("group_by", paths, Paths())
        aggregation: Aggregation | None = None
        settings = None
        for key in aggregates:  # each is read (and its problems told), even beside another
            declared = AGGREGATIONS[key]
            value = self.get(key, declared.read)
            if aggregation is None:
                aggregation, settings = declared, value
        rule = Rule(
            name=self.name or "?",
            file=self.where.file,
            line=self.line,
            text=text,
            notify=tuple(notify),
            kind=kind,
            source=source,
            event=event,
            when=when,
            when_text=self.t.get("when") if isinstance(self.t.get("when"), str) else None,
            title=title,
            unique=unique,
            snooze=snooze,
            on_change=on_change,
            group_by=group_by,
            aggregation=aggregation,
            settings=settings,
            realert=self.get("realert", duration),
            realert_max=self.get("realert_max", duration, 86400.0),
            group_window=self.get("group_window", duration),
            missing=self.get("missing", string, "-"),
        )
        if kind is not None or "kind" not in self.t:  # a kind that is wrong was told above
            # an unknown key may be an aggregation, misspelled or not registered: its alerts' fields are not known
            odd = sorted(set(self.t) - known)
            self.scope = rule_scope(kind, source, event, aggregation.name if aggregation else next(iter(odd), None))
            self.notify = tuple(notify)
            self.check_names(self.scope)
        if len(self.problems) > before:
            return None
        return rule


def load_rules(directory: str, only: Iterable[str] = (), warn: Callable[[str], None] | None = None) -> RuleSet:
    """Every rule and notifier of the `*.toml` files in `directory`; RulesError listing every mistake.
    `only`: keep just these rules (each must exist). `warn` is told each warning, `file:line: ...` (a field
    Kong does not document for the events a rule selects); by default they are logged."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".toml"))
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot read the rules directory: {exc.strerror or exc}") from exc
    if not names:
        raise ConfigError(f"{directory}: no rule files (*.toml) there")
    files = []
    for n in names:
        path = os.path.join(directory, n)
        try:
            with open(path, "rb") as f:
                files.append((path, f.read().decode("utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    return load_texts(files, only, warn)


def load_texts(
    files: list[tuple[str, str]], only: Iterable[str] = (), warn: Callable[[str], None] | None = None
) -> RuleSet:
    """Like `load_rules`, from (file name, TOML text) pairs."""
    problems: list[str] = []
    warnings: list[str] = []
    templated: dict[str, Named] = {}  # notifier → the field paths of its templates (a webhook's payload, body)
    docs: list[tuple[_Where, dict[str, Any]]] = []
    for path, text in files:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problems.append(toml_problem(path, exc))
            continue
        where = _Where.of(path, text)
        for key in sorted(set(doc) - {"rule", "notifier"}):
            line = where.key_line(0, key)
            problems.append(f"{path}:{line}: unknown top-level key {key!r} (use [[rule]] and [notifier.NAME])")
        docs.append((where, doc))
    notifiers = dict(BUILTIN_NOTIFIERS)
    declared: set[str] = set()  # a table with a mistake is said once: the rules that use it are not told about
    for where, doc in docs:
        table = doc.get("notifier", {})
        if not isinstance(table, dict):
            problems.append(f"{where.file}:1: `notifier` must be tables: [notifier.NAME]")
            continue
        for name, options in table.items():
            declared.add(name)
            with collect_paths() as named:
                config = _notifier(name, options, where, problems)
            if config is not None:
                notifiers[name] = config
                templated[name] = named
    rules: list[Rule] = []
    readers: list[_Rule] = []
    seen: dict[str, str] = {}
    for where, doc in docs:
        tables = doc.get("rule", [])
        if not isinstance(tables, list):
            problems.append(f"{where.file}:1: `rule` must be an array of tables: [[rule]]")
            continue
        for i, table in enumerate(tables):
            line = where.rule_lines[i] if i < len(where.rule_lines) else 1
            reader = _Rule(table, where, line, problems, warnings)
            readers.append(reader)
            if reader.name is not None and reader.name in seen:
                reader.problem("name", f"name already used at {seen[reader.name]}")
            elif reader.name is not None:
                seen[reader.name] = f"{where.file}:{line}"
            if table.get("enabled", True) is False:
                continue
            rule = reader.read(notifiers.keys() | declared)
            if rule is not None:
                rules.append(rule)
    for name, named in templated.items():
        _check_templates(notifiers[name], named, readers, problems, warnings)
    for warning in warnings:
        (warn or log.warning)(warning)
    wanted = set(only)
    for name in sorted(wanted - set(seen)):
        problems.append(f"no rule named {name!r} (rules: {', '.join(sorted(seen)) or 'none'})")
    if problems:
        raise RulesError(problems)
    if wanted:
        rules = [r for r in rules if r.name in wanted]
    return RuleSet(tuple(rules), notifiers, tuple(path for path, _ in files))


def _check_templates(
    config: NotifierConfig, named: Named, readers: list[_Rule], problems: list[str], warnings: list[str]
) -> None:
    """A notifier's templates are filled by the alerts of the rules that notify it: their paths are checked
    against the fields of those rules' events (of any kind when no rule does)."""
    scope = union(r.scope for r in readers if r.scope is not None and config.name in r.notify)
    for finding in check_all(named, scope, template=True):
        where = f"{config.file}:{config.line}: notifier '{config.name}': {finding.text}"
        (problems if finding.error else warnings).append(where)


# The keys every notifier takes, whatever its type (besides `type` and `description`)
_DELIVERY_CHECKS: dict[str, Check] = {
    "rate": positive,
    "burst": count,
    "timeout": positive,
    "retry_for": duration,
    "max_retry_after": duration,
    "backoff_base": positive,
    "backoff_cap": positive,
}


def _notifier(name: str, options: Any, where: _Where, problems: list[str]) -> NotifierConfig | None:
    """A `[notifier.NAME]` table checked against the common keys and its type's declaration."""
    line = where.table_line(name)

    def problem(key: str | None, what: str) -> None:
        at = where.key_line(line, key) if key else line
        problems.append(f"{where.file}:{at}: notifier '{name}': {what}")

    if not isinstance(options, dict):
        problem(None, "must be a table: [notifier.NAME]")
        return None
    if not _NAME.fullmatch(name):
        problem(None, "name: use letters, digits, `-`, `_` and `.`")
    builtin = BUILTIN_NOTIFIERS.get(name)
    kind = options.get("type", builtin.type if builtin else None)
    declared = TYPES.get(kind) if isinstance(kind, str) else None
    if declared is None:
        problem("type", f"type must be one of {', '.join(TYPES)}, not {kind!r}{did_you_mean(kind, TYPES)}")
        return None
    allowed = set(declared.options) | set(_DELIVERY_CHECKS) | {"type", "description"}
    before = len(problems)
    for key in sorted(set(options) - allowed):
        hint = did_you_mean(key, allowed) or f" (known: {', '.join(sorted(allowed))})"
        problem(key, f"unknown key {key!r} for a {kind} notifier{hint}")
    checks: dict[str, Check] = {**_DELIVERY_CHECKS, **declared.options}
    values: dict[str, Any] = dict(builtin.options) if builtin and builtin.type == kind else {}
    for key, value in options.items():
        if key in ("type", "description") or key not in allowed:
            continue
        try:
            values[key] = checks[key](value)
        except (ValueError, ConfigError) as exc:
            problem(key, f"{key}: {exc}")
    for key, what in declared.validate(values):
        problem(key, what)
    if len(problems) > before:
        return None
    rate = values.pop("rate", declared.rate)
    burst = values.pop("burst", 1)
    return NotifierConfig(name, declared.name, where.file, line, rate, burst, values)


# -- value checks of rules (tailer.rules.values has those notifiers and aggregations share): the value, or ValueError


def _template(v: Any) -> Any:
    return compile_template(string(v))
