"""The error tree. Junk in a log is never an exception (it becomes a `ParseError` event); these are for
mistakes an operator can fix, and each message says what and where.

TailerError          base; the only class the CLI catches
├── ConfigError      a bad flag, setting or log_format string
├── InputError       a log file that cannot be opened or read
└── StateError       the state directory cannot be used (tailer.state; exit code 3)
"""


class TailerError(Exception):
    """Base of every error kong-tailer reports to its user."""

    exit_code = 2


class ConfigError(TailerError):
    """A setting, flag or format string is wrong; the message says which and how to fix it."""


class InputError(TailerError):
    """A log file cannot be opened or read."""
