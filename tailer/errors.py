"""The error tree: every error the command line can meet is one of these, and `tailer.cli` turns each into
`kong-tailer: error: <message>` and its class's exit code, in one place. Junk in a log is never an exception
(it becomes a `ParseError` event); these are for mistakes an operator can fix, and each message says what and
where (a file:line, a setting, a flag) and how to fix it.

TailerError              base; exit code 2
├── ConfigError          a bad flag, setting, log_format string or notifier secret
│   └── RulesError       every mistake of a rules directory, one `file:line: ...` per line (tailer.rules.load)
├── InputError           a log file that cannot be opened or read
├── StateError           the state directory cannot be used: locked, unreadable, corrupt, too new; exit code 3
│   └── SnapshotError    the rules' saved state cannot be read back (the daemon warns and starts them afresh)
└── TransportError       an HTTP exchange failed (redacted); a sender turns it into a retry, never raised out

Exit codes a command returns without raising: 0 done, 1 it ran but something failed (a problem `check`
found, a message `replay --send` could not deliver).
"""


class TailerError(Exception):
    """Base of every error kong-tailer reports to its user."""

    exit_code = 2


class ConfigError(TailerError):
    """A setting, flag or format string is wrong; the message says which and how to fix it."""


class RulesError(ConfigError):
    """Every mistake found in a rules directory, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class InputError(TailerError):
    """A log file cannot be opened or read."""


class StateError(TailerError):
    """The state directory cannot be used: locked by another instance, unreadable, corrupt, or too new."""

    exit_code = 3


class SnapshotError(StateError):
    """A snapshot that cannot be read back (another version, or damaged)."""


class TransportError(TailerError):
    """No HTTP answer: timeout, refused connection, DNS, TLS or protocol error. `reason` holds no URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
