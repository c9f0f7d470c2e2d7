"""The command line. Click callbacks only convert options and call a command function (tailer.commands);
TailerError becomes a one-line message and exit code 2, in one place."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from tailer import __version__
from tailer.config import host_name, resolve_zone
from tailer.errors import TailerError
from tailer.lines import DEFAULT_MAX_LINE
from tailer.parse import FORMATS, ParseContext
from tailer.parse.accesslog import BUILTIN, compile_log_format
from tailer.sources import ReadOptions

DEFAULT_RULES = "/etc/kong-tailer/rules"


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except TailerError as exc:
        click.echo(f"kong-tailer: error: {exc}", err=True)
        sys.exit(2)
    except BrokenPipeError:  # `kong-tailer parse ... | head`
        sys.stderr.close()
        sys.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kong-tailer")
def main() -> None:
    """Read Kong Gateway logs into structured events and alert on them."""
    from tailer.logs import setup_logging

    setup_logging()


def _reading_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say how to read log files (shared by parse and replay); they arrive as `read`."""

    @click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="auto",
        show_default=True,
        help="Log format; auto detects it from each file's first lines.",
    )
    @click.option(
        "--tz",
        "zone",
        metavar="ZONE",
        default=None,
        help="Time zone of the error log's timestamps (IANA name, UTC or +02:00). Default: this host's.",
    )
    @click.option("--host", metavar="NAME", default=None, help="Host name put in events. Default: this machine's.")
    @click.option(
        "--log-format",
        "log_formats",
        metavar="FORMAT",
        multiple=True,
        help="A custom nginx log_format string (or a whole `log_format name '...';` directive) "
        "to read access logs with; may be repeated. The built-in formats are tried after it.",
    )
    @click.option(
        "--max-line",
        type=click.IntRange(min=64),
        default=DEFAULT_MAX_LINE,
        show_default=True,
        help="Longest line read, in bytes; longer lines are reported and skipped.",
    )
    @functools.wraps(command)
    def wrapper(
        fmt: str, zone: str | None, host: str | None, log_formats: tuple[str, ...], max_line: int, **kw: Any
    ) -> Any:
        def read(emit_all: bool = False) -> ReadOptions:
            ctx = ParseContext("", host or host_name(), resolve_zone(zone), emit_all)
            formats = tuple(compile_log_format(f, f"--log-format #{i}") for i, f in enumerate(log_formats, 1))
            return ReadOptions(fmt, ctx, formats + BUILTIN, max_line)

        return command(read=read, **kw)

    return wrapper


@main.command()
@_reading_options
@click.option("--all", "emit_all", is_flag=True, help="Also emit 2xx/3xx requests and error-log entries below warn.")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
def parse(read: Callable[[bool], ReadOptions], emit_all: bool, files: tuple[str, ...]) -> None:
    """Print the events in Kong log FILEs as JSON lines ("-" is standard input; .gz is read directly).

    A summary of each file goes to standard error.
    """
    from tailer.commands.parse import run_parse

    with _errors():
        sys.exit(run_parse(files, read(emit_all), sys.stdout, sys.stderr))


def _rules_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--rules",
        "rules_dir",
        metavar="DIR",
        default=None,
        help=f"Directory of rule files (*.toml). Default: $KONG_TAILER_RULES, else {DEFAULT_RULES}.",
    )(command)


def _rules_dir(given: str | None) -> str:
    return given or os.environ.get("KONG_TAILER_RULES") or DEFAULT_RULES


@main.command()
@_reading_options
@_rules_option
@click.option("--send", is_flag=True, help="Deliver the messages through the notifiers instead of printing them.")
@click.option("--since", metavar="TIME", default=None, help="Only events at or after TIME (ISO 8601).")
@click.option("--until", metavar="TIME", default=None, help="Only events before TIME (ISO 8601).")
@click.option("--rule", "only", metavar="NAME", multiple=True, help="Only this rule; may be repeated.")
@click.option("--json", "as_json", is_flag=True, help="Print each message as one JSON line (what would be sent).")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
def replay(
    read: Callable[[bool], ReadOptions],
    rules_dir: str | None,
    send: bool,
    since: str | None,
    until: str | None,
    only: tuple[str, ...],
    as_json: bool,
    files: tuple[str, ...],
) -> None:
    """Run the rules over Kong log FILEs, oldest first (plain, rotated or .gz), as the daemon would have.

    Prints each message that would be sent, then a summary per rule on standard error. With --send the
    messages are delivered (Slack: the URL in $SLACK_WEBHOOK_URL). Exit 1 if a message could not be delivered.
    """
    from tailer.commands.replay import ReplayOptions, parse_time, run_replay

    with _errors():
        opts = read(False)
        zone = opts.ctx.zone
        ropts = ReplayOptions(
            rules=_rules_dir(rules_dir),
            only=only,
            send=send,
            since=parse_time(since, zone, "--since"),
            until=parse_time(until, zone, "--until"),
            as_json=as_json,
            read=opts,
        )
        sys.exit(run_replay(files, ropts, sys.stdout, sys.stderr))


@main.command()
@_rules_option
def check(rules_dir: str | None) -> None:
    """Validate the rules and notifiers and list what loaded; exit 1 with file:line for each mistake."""
    from tailer.commands.check import run_check

    with _errors():
        sys.exit(run_check(_rules_dir(rules_dir), sys.stdout, sys.stderr))
