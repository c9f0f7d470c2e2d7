"""Secrets: where they are read from, in which order, the errors that name the place but never the secret,
and the redactor that keeps them out of text and log records."""

from __future__ import annotations

import io
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tailer.errors import ConfigError
from tailer.secrets import REDACTED, RedactingFilter, redact, register, resolve_secret


def fresh() -> str:
    """A secret no other test has registered."""
    return "s-" + uuid.uuid4().hex


def resolve(**kw: Any) -> str | None:
    args: dict[str, Any] = {"value": None, "env": None, "file": None, "credential": None, "environ": {}}
    return resolve_secret("notifier.ops.url", **(args | kw))


def test_order_file_credential_env_value(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("from-file\n")
    (tmp_path / "cred").write_text("from-credential")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path), "URL": "from-env"}
    everything = {"value": "literal", "env": "URL", "file": str(tmp_path / "f"), "credential": "cred"}
    assert resolve(**everything, environ=environ) == "from-file"
    assert resolve(**everything | {"file": None}, environ=environ) == "from-credential"
    assert resolve(**everything | {"file": None, "credential": None}, environ=environ) == "from-env"
    assert resolve(value="literal", environ=environ) == "literal"
    assert resolve(environ=environ) is None


def test_file_drops_one_trailing_newline_only(tmp_path: Path) -> None:
    for text, expected in [("abcd\n", "abcd"), ("abcd\r\n", "abcd"), ("abcd", "abcd"), (" abcd \n\n", " abcd \n")]:
        (tmp_path / "f").write_text(text, newline="")
        assert resolve(file=str(tmp_path / "f")) == expected


def test_credential_and_env_fall_through_when_absent() -> None:
    assert resolve(credential="slack", env="SLACK_URL", value="literal", environ={}) == "literal"
    assert resolve(env="SLACK_URL", value="literal", environ={"SLACK_URL": ""}) == "literal"
    assert resolve(env="SLACK_URL", environ={}) is None  # nothing named is found: the caller decides


def test_a_credential_named_and_found_nowhere_is_an_error_not_a_fallback() -> None:
    with pytest.raises(ConfigError, match="credential 'slack-webhook' not found: .CREDENTIALS_DIRECTORY is not set"):
        resolve(credential="slack-webhook", env="SLACK_URL", environ={})


@pytest.mark.parametrize("case", ["missing", "empty", "blank", "directory", "binary"])
def test_unreadable_or_empty_files_are_config_errors(tmp_path: Path, case: str) -> None:
    path = tmp_path / "secret"
    if case == "empty":
        path.write_text("")
    elif case == "blank":
        path.write_text("\n")
    elif case == "directory":
        path.mkdir()
    elif case == "binary":
        path.write_bytes(b"\xff\xfe" + b"x" * 10)
    with pytest.raises(ConfigError) as info:
        resolve(file=str(path), value="literal-should-not-show")
    message = str(info.value)
    assert message.startswith(f"notifier.ops.url: cannot read file {str(path)!r}: ") or message == (
        f"notifier.ops.url: file {str(path)!r} is empty"
    )
    assert "literal-should-not-show" not in message


def test_a_missing_credential_file_names_the_credential(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="systemd credential .*slack.*No such file"):
        resolve(credential="slack", environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})


def test_resolved_secrets_are_redacted(tmp_path: Path) -> None:
    secret = fresh()
    (tmp_path / "f").write_text(secret)
    resolve(file=str(tmp_path / "f"))
    assert redact(f"key={secret};") == f"key={REDACTED};"


def test_a_url_is_redacted_whole_and_by_path() -> None:
    token = fresh()
    url = f"https://hooks.slack.com/services/T000/B000/{token}"
    resolve(value=url)
    assert redact(f"POST {url} failed") == f"POST {REDACTED} failed"
    assert redact(f"POST /services/T000/B000/{token} HTTP/1.1") == f"POST {REDACTED} HTTP/1.1"
    assert redact("hooks.slack.com is up") == "hooks.slack.com is up"  # the host alone is no secret


def test_a_url_query_is_redacted() -> None:
    token = fresh()
    register(f"https://example.com/hook?token={token}")
    assert token not in redact(f"GET /hook?token={token}")


def test_longest_secret_first_and_short_ones_ignored() -> None:
    long = fresh()
    register(long[:12])
    register(long)
    assert redact(long) == REDACTED
    register("abc")  # too short: it would blank out ordinary words
    assert redact("abc") == "abc"


def test_redacting_filter() -> None:
    secret = fresh()
    register(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("posting to %s", secret)
        logger.warning(f"inline {secret}")
        try:
            raise RuntimeError(f"failed for {secret}")
        except RuntimeError:
            logger.exception("oops")
        logger.warning("broken %s %s", secret)  # a bad call is shown, not raised, and still redacted
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    output = stream.getvalue()
    assert secret not in output
    assert f"posting to {REDACTED}" in output and f"inline {REDACTED}" in output
    assert f"RuntimeError: failed for {REDACTED}" in output


def test_env_is_read_from_the_given_mapping_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "KT_TEST_URL", "from-os-environ")
    assert resolve(env="KT_TEST_URL", value="literal", environ={}) == "literal"
