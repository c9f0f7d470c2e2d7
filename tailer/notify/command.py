"""The command notifier: run a program with the alert as JSON on stdin (Kong's `lambda` handler, in spirit).

No shell: `argv` is run as given, in a session of its own so that a timeout kills it and its children. Exit 0 is
`sent`; exit 75 (EX_TEMPFAIL, sysexits.h) asks for a retry, as a mail transfer agent would; a timeout is retried
too. Any other exit, death by a signal, or a program that cannot be started is `dead`, with the exit code and the
last line the program wrote to stderr (or stdout) in the reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from tailer.alerts import Message
from tailer.notify import SENT, Outcome
from tailer.notify.build import policy_for
from tailer.notify.kind import Built, NotifierType, Problem
from tailer.notify.payload import alert_json
from tailer.notify.transport import one_line
from tailer.rules.model import NotifierConfig
from tailer.rules.values import string_map, strings
from tailer.secrets import redact

EX_TEMPFAIL = 75
LINE_LIMIT = 200


def run_command(
    argv: Sequence[str], stdin_json: bytes, timeout: float, env: Mapping[str, str] | None = None
) -> Outcome:
    """Run `argv` with `stdin_json` on its stdin; how it went."""
    program = argv[0] if argv else ""
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except (OSError, IndexError) as exc:
        return Outcome("dead", f"cannot run {program!r}: {_os_reason(exc)}")
    try:
        out, err = proc.communicate(stdin_json, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return Outcome("retry", f"{program!r} timed out after {timeout:g} s and was killed")
    return _outcome(program, proc.returncode, out, err)


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such program"
    if isinstance(exc, PermissionError):
        return "not executable (permission denied)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return "empty command" if isinstance(exc, IndexError) else type(exc).__name__


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the program and everything it started in its session, then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # a grandchild left its own session with our pipes open
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()


def _outcome(program: str, code: int, out: bytes, err: bytes) -> Outcome:
    if code == 0:
        return SENT
    said = _last_line(err) or _last_line(out)
    if code < 0:
        what = f"killed by {_signal_name(-code)}"
    elif code == EX_TEMPFAIL:
        what = f"exit {code} (temporary failure)"
    else:
        what = f"exit {code}"
    reason = f"{program!r} {what}" + (f": {said}" if said else "")
    return Outcome("retry" if code == EX_TEMPFAIL else "dead", reason)


def _last_line(data: bytes) -> str:
    lines = [line for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return one_line(redact(lines[-1]), LINE_LIMIT) if lines else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class CommandDestination:
    """A program run with the alert JSON (`payload.alert_json`) on stdin."""

    def __init__(
        self, argv: Sequence[str], timeout: float, *, env: dict[str, str] | None = None, name: str = "command"
    ) -> None:
        self.argv = tuple(argv)
        self.timeout = timeout
        self.env = env
        self.name = name

    def render(self, message: Message) -> str:
        return json.dumps(alert_json(message), ensure_ascii=False, default=str)

    def send(self, payload: str) -> Outcome:
        return run_command(self.argv, payload.encode(), self.timeout, self.env)


def argv(v: Any) -> tuple[str, ...]:
    """The program and its arguments: a list of text, not empty."""
    words = strings(v)
    if not words:
        raise ValueError("the program to run is missing")
    return words


def validate(values: Mapping[str, Any]) -> list[Problem]:
    if "argv" not in values:
        return [(None, "a command notifier needs `argv` (the program and its arguments, no shell)")]
    return []


def build(config: NotifierConfig, environ: Mapping[str, str], console: TextIO) -> Built:
    env = dict(config.options["env"]) if "env" in config.options else None
    timeout = policy_for(config).timeout
    return CommandDestination(config.options["argv"], timeout, env=env, name=config.name), None


def describe(config: NotifierConfig, environ: Mapping[str, str]) -> str:
    return f"command {' '.join(config.options['argv'])}"


def payload(message: Message, config: NotifierConfig) -> Any:
    """What the program would get on its stdin."""
    return alert_json(message)


TYPE = NotifierType(
    "command",
    options={"argv": argv, "env": string_map},
    build=build,
    describe=describe,
    payload=payload,
    validate=validate,
)
