"""Secrets: webhook URLs and HMAC keys. Where they are read from, and keeping them out of every message.

A notifier option that holds a secret can be given four ways; the first that is there wins:

    file        a file holding the secret (one trailing newline is dropped)
    credential  a systemd credential: `$CREDENTIALS_DIRECTORY/<name>` (LoadCredential=, SetCredentialEncrypted=)
    env         an environment variable
    value       the literal in the rule file (fine for tests, not for production)

A credential (no $CREDENTIALS_DIRECTORY) or an environment variable (unset or empty) that is not there falls
through to the next way, so one config can run under systemd and in a shell; nothing at all is None, for the
caller to judge. A named file that cannot be read, or is empty, is a ConfigError; so is a credential named
when nothing gives the secret and $CREDENTIALS_DIRECTORY is not set (CredentialUnavailable). Every secret
resolved here is registered with the process-wide redactor: `redact(text)` replaces each registered secret,
and for a URL also its path and query (a Slack webhook's `/services/T000/B000/XXXX` is the secret part), with
`[redacted]`. `RedactingFilter` applies it to log records. Install it on the *handlers* (a logger's own
filters see only records logged to that very logger, not those propagating from `tailer.*`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

from tailer.errors import ConfigError

REDACTED = "[redacted]"
MIN_LENGTH = 4  # shorter strings are not worth redacting: they would blank out ordinary words


def resolve_secret(
    name: str,
    *,
    value: str | None,
    env: str | None,
    file: str | None,
    credential: str | None,
    environ: Mapping[str, str],
) -> str | None:
    """The secret for option `name`, registered for redaction; None when no way named gives one (the caller
    decides whether that is an error). ConfigError, naming the option and the file but never the secret, when a
    named file (or the credential's file under $CREDENTIALS_DIRECTORY) cannot be read or is empty."""
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if file is not None:
        secret: str | None = _read(name, file, "file")
    elif credential is not None and directory:
        secret = _read(name, os.path.join(directory, credential), "systemd credential")
    elif env is not None and environ.get(env):
        secret = environ[env]
    else:
        secret = value
    if secret is None and credential is not None:  # named, so expected: not a silent fallback to the console
        raise CredentialUnavailable(
            f"{name}: systemd credential {credential!r} not found: $CREDENTIALS_DIRECTORY is not set "
            f"(give it with LoadCredential={credential}:<file> in the unit)",
            credential,
        )
    if secret is not None:
        register(secret)
    return secret


class CredentialUnavailable(ConfigError):
    """A systemd credential is named, and nothing else gives the secret, but $CREDENTIALS_DIRECTORY is not set:
    outside its unit the secret cannot be looked at (`check` says so rather than calling it a mistake)."""

    def __init__(self, message: str, credential: str) -> None:
        super().__init__(message)
        self.credential = credential


def _read(name: str, path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"{name}: cannot read {what} {path!r}: {reason}") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret.strip():
        raise ConfigError(f"{name}: {what} {path!r} is empty")
    return secret


class _Redactor:
    """The registered secrets, as one regular expression (longest first, so no part of a secret is left)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, secret: str) -> None:
        parts = {p for p in (secret, *_url_parts(secret)) if len(p) >= MIN_LENGTH}
        with self._lock:
            if parts <= self._secrets:
                return
            self._secrets |= parts
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, alternatives)))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(REDACTED, text)

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._pattern = None


def _url_parts(text: str) -> list[str]:
    """The path and query of a URL (the secret-bearing parts of a webhook URL); nothing for other text."""
    try:
        url = urlsplit(text)
    except ValueError:
        return []
    if not url.scheme or not url.netloc:
        return []
    return [p for p in (url.path.rstrip("/"), url.query) if p]


_REDACTOR = _Redactor()


def register(secret: str) -> None:
    """Redact `secret` (and, for a URL, its path and query) from everything `redact` sees from now on."""
    _REDACTOR.register(secret)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `[redacted]`."""
    return _REDACTOR.redact(text)


def forget_all() -> None:
    """Unregister every secret (for tests)."""
    _REDACTOR.clear()


class RedactingFilter(logging.Filter):
    """Redacts a record's message, arguments and exception text; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken logging call: keep its format string only
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
