"""The command line. Click callbacks only convert options and call a command function (tailer.commands);
TailerError becomes a one-line message and exit code 2, in one place."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from tailer import __version__
from tailer.config import host_name, resolve_zone
from tailer.errors import TailerError
from tailer.lines import DEFAULT_MAX_LINE
from tailer.parse import FORMATS, ParseContext
from tailer.parse.accesslog import BUILTIN, compile_log_format


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


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Log format; auto detects it from each file's first lines.",
)
@click.option("--all", "emit_all", is_flag=True, help="Also emit 2xx/3xx requests and error-log entries below warn.")
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
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
def parse(
    fmt: str,
    emit_all: bool,
    zone: str | None,
    host: str | None,
    log_formats: tuple[str, ...],
    max_line: int,
    files: tuple[str, ...],
) -> None:
    """Print the events in Kong log FILEs as JSON lines ("-" is standard input; .gz is read directly).

    A summary of each file goes to standard error.
    """
    from tailer.commands.parse import ParseOptions, run_parse

    with _errors():
        ctx = ParseContext("", host or host_name(), resolve_zone(zone), emit_all)
        formats = tuple(compile_log_format(f, f"--log-format #{i}") for i, f in enumerate(log_formats, 1))
        opts = ParseOptions(fmt, ctx, formats + BUILTIN, max_line)
        sys.exit(run_parse(files, opts, sys.stdout, sys.stderr))
