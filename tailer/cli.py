"""The command line. Click callbacks only convert options and call a command function (tailer.commands);
TailerError becomes a one-line message and exit code 2, in one place. Every error reads `kong-tailer: error:
...` (click's usage errors too, after their usage line); Ctrl-C ends any command with exit code 130."""

from __future__ import annotations

import functools
import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from tailer import __version__
from tailer.errors import TailerError
from tailer.lines import DEFAULT_MAX_LINE
from tailer.parse import FORMATS
from tailer.reader import ReadOptions, read_options


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except TailerError as exc:
        click.echo(f"kong-tailer: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # Ctrl-C
        if sys.stderr.isatty():  # the message on a line of its own, not after the `^C` echoed
            click.echo(err=True)
        click.echo("kong-tailer: interrupted", err=True)
        sys.exit(INTERRUPTED)
    except BrokenPipeError:  # `kong-tailer parse ... | head`
        sys.stderr.close()
        sys.exit(0)


INTERRUPTED = 130  # the exit code after Ctrl-C (128 + SIGINT, as a shell reports it)
_GLUE = "\u2011"  # a non-breaking hyphen: holds /var/lib/kong-tailer together while help text is wrapped


def _glued(text: str) -> str:
    return re.sub(r"(?<=\S)-(?=\S)", _GLUE, text)


class _Formatter(click.HelpFormatter):
    """Help text wrapped between words only: a path such as /var/lib/kong-tailer is never cut at its hyphen."""

    def write_text(self, text: str) -> None:
        super().write_text(_glued(text))

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(first, _glued(second)) for first, second in rows], col_max, col_spacing)

    def getvalue(self) -> str:
        return super().getvalue().replace(_GLUE, "-")


class _Context(click.Context):
    formatter_class = _Formatter


class _Command(click.Command):
    context_class = _Context

    def get_short_help_str(self, limit: int = 45) -> str:
        return super().get_short_help_str(10_000)  # in a group's list: the whole first sentence, never cut


class _Group(click.Group):
    """kong-tailer and its groups of commands: their commands are `_Command`s, their groups `_Group`s; the top
    one prints every error in kong-tailer's style."""

    context_class = _Context
    command_class = _Command
    group_class = type  # a group's groups are of its own class

    def get_short_help_str(self, limit: int = 45) -> str:
        return super().get_short_help_str(10_000)

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:  # click's usage line and hint, then the error in our words
            shown = io.StringIO()
            exc.show(shown)
            text = re.sub(r"^Error: ", "kong-tailer: error: ", shown.getvalue(), flags=re.M)
            click.echo(text, err=True, nl=False)
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt):  # Ctrl-C (click turns it into Abort)
            click.echo("kong-tailer: interrupted", err=True)
            sys.exit(INTERRUPTED)
        except BrokenPipeError:  # `kong-tailer --help | head`
            sys.stderr.close()
            sys.exit(0)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kong-tailer")
def main() -> None:
    """Read Kong Gateway logs into structured events and alert on them."""
    from tailer.logs import setup_logging

    setup_logging()


def _reading_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say how to read log files, as given (`run` keeps them raw, to read them again on
    reload)."""
    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS),
            default="auto",
            show_default=True,
            help="Log format; auto detects it from each file's first lines.",
        ),
        click.option(
            "--tz",
            "zone",
            metavar="ZONE",
            default=None,
            help="Time zone of the error log's timestamps (IANA name, UTC or +02:00). Default: this host's.",
        ),
        click.option("--host", metavar="NAME", default=None, help="Host name put in events. Default: this machine's."),
        click.option(
            "--log-format",
            "log_formats",
            metavar="FORMAT",
            multiple=True,
            help="A custom nginx log_format string (or a whole `log_format name '...';` directive) "
            "to read access logs with; may be repeated. The built-in formats are tried after it.",
        ),
        click.option(
            "--max-line",
            type=click.IntRange(min=64),
            default=DEFAULT_MAX_LINE,
            show_default=True,
            help="Longest line read, in bytes; longer lines are reported and skipped.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _reading_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The reading flags (shared by parse and replay), given to the command as `read`."""

    @_reading_flags
    @functools.wraps(command)
    def wrapper(
        fmt: str, zone: str | None, host: str | None, log_formats: tuple[str, ...], max_line: int, **kw: Any
    ) -> Any:
        def read(emit_all: bool = False) -> ReadOptions:
            return read_options(fmt, zone, host, log_formats, max_line, emit_all)

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
        help="Directory of rule files (*.toml). Default: $KONG_TAILER_RULES, else /etc/kong-tailer/rules.",
    )(command)


def _rules_dir(given: str | None) -> str:
    from tailer.commands.run import rules_dir

    return rules_dir(given, os.environ)


@main.command()
@_reading_options
@_rules_option
@click.option("--send", is_flag=True, help="Deliver the messages through the notifiers instead of printing them.")
@click.option(
    "--since",
    metavar="TIME",
    default=None,
    help="Only events at or after TIME: ISO 8601 (2025-01-15T10:00, in --tz without an offset), or a time ago "
    "as journalctl takes it (1h, 30m, 2d, '1h ago').",
)
@click.option("--until", metavar="TIME", default=None, help="Only events before TIME (as --since).")
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
    messages are delivered (Slack: the URL in $SLACK_WEBHOOK_URL; not set, --send is an error); with --json
    too, each message is printed as it would be without --send, with whether it was delivered. Exit 1 if a
    message could not be delivered; 130 on Ctrl-C, after saying which messages had gone out.
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
@click.option(
    "--config",
    metavar="FILE",
    default=None,
    help="Check the whole setup `run --config FILE` would start with: the file, the rules, the notifiers' "
    "secrets, the log paths (readable by this user) and the state directory (writable). --rules overrides it.",
)
def check(rules_dir: str | None, config: str | None) -> None:
    """Check what `run` would start with: the rules and notifiers (their secrets read as `run` reads them),
    and with --config the whole setup. Lists what is fine; exit 1 with file:line for each mistake."""
    from tailer.commands.check import check_config, run_check

    with _errors():
        if config is None:
            sys.exit(run_check(_rules_dir(rules_dir), sys.stdout, sys.stderr))
        args = ["--config", config, *(("--rules", rules_dir) if rules_dir else ())]
        ctx = run.make_context("run", args, parent=click.get_current_context().parent)  # run's reading of them
        sys.exit(check_config(ctx, config, dict(os.environ), sys.stdout, sys.stderr))


@main.command()
@click.option(
    "--config",
    metavar="FILE",
    default=None,
    help="A TOML configuration file (see the README); the flags below override its settings. Read again on SIGHUP.",
)
@_reading_flags
@_rules_option
@click.option(
    "--log", "logs", metavar="PATH", multiple=True, help="A log file to follow (a glob is allowed); may be repeated."
)
@click.option(
    "--state-dir",
    metavar="DIR",
    default=None,
    help="Where positions, the outbox and silences are kept. Default: $STATE_DIRECTORY, else /var/lib/kong-tailer.",
)
@click.option(
    "--start-at",
    type=click.Choice(["end", "beginning"]),
    default="end",
    show_default=True,
    help="On the very first start, begin at the end of the files, or read what they already hold.",
)
@click.option(
    "--rotate-wait",
    metavar="DURATION",
    default="60s",
    show_default=True,
    help="How long a rotated file is still read after its last growth.",
)
@click.option(
    "--metrics",
    metavar="[HOST:]PORT",
    default=None,
    help="Serve Prometheus metrics on this address (needs kong-tailer[metrics]). Default: off.",
)
@click.option(
    "--stall-after",
    metavar="DURATION",
    default="5m",
    show_default=True,
    help="Self-alert when a followed file keeps changing but nothing was read from it for this long.",
)
@click.option(
    "--failing-after",
    metavar="DURATION",
    default="10m",
    show_default=True,
    help="Self-alert when a notifier has failed to deliver for this long.",
)
@click.option(
    "--poll/--no-poll",
    default=False,
    show_default=True,
    help="Do not use inotify: look at the files every second (NFS, some overlay file systems).",
)
def run(**given: Any) -> None:
    """Follow Kong's logs and send alerts, until stopped (SIGTERM or SIGINT).

    Files are followed through rotation; what was read and what is to be sent is kept in the state
    directory, so a restart loses and repeats nothing. Slack gets the alerts when $SLACK_WEBHOOK_URL is set,
    the console otherwise. SIGHUP reads the rules and the --config file again: a good set replaces the
    running one, keeping the rules' state; a bad one is refused, and the running one goes on.
    """
    from tailer.commands.run import settings_now, setup
    from tailer.daemon import Daemon

    ctx = click.get_current_context()
    config = given["config"]

    def load() -> Any:  # at start, and again on each SIGHUP: the file read anew, the flags given still win
        return setup(settings_now(ctx, config), dict(os.environ))

    with _errors():
        ruleset, opts = load()
        sys.exit(Daemon(ruleset, opts, sys.stdout, reload=load).run())


@main.group()
def outbox() -> None:
    """Look at the messages waiting to be sent, and send dead letters again (works beside the daemon)."""


def _state_dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--state-dir", metavar="DIR", default=None, help="Default: $STATE_DIRECTORY, else /var/lib/kong-tailer."
    )(command)


@outbox.command("list")
@_state_dir_option
def outbox_list(state_dir: str | None) -> None:
    """Messages per notifier and state, and each dead letter with why it failed."""
    from tailer.commands.run import show_outbox
    from tailer.commands.run import state_dir as default_state_dir

    with _errors():
        sys.exit(show_outbox(default_state_dir(state_dir, os.environ), sys.stdout))


@outbox.command("retry")
@_state_dir_option
@click.argument("keys", nargs=-1, metavar="[KEY...]")
def outbox_retry(state_dir: str | None, keys: tuple[str, ...]) -> None:
    """Queue dead letters again: those whose key starts with KEY, or all of them (exit 2 if a KEY is no dead
    letter's; those of the others are still queued)."""
    from tailer.commands.run import retry_dead
    from tailer.commands.run import state_dir as default_state_dir

    with _errors():
        sys.exit(retry_dead(default_state_dir(state_dir, os.environ), keys, sys.stdout))


@main.command("test")
@click.argument("rules_dir", metavar="[RULES_DIR]", required=False)
def test_rules(rules_dir: str | None) -> None:
    """Run the test cases kept beside the rules (RULES_DIR/tests/*.toml): log lines in, the alerts expected
    out. RULES_DIR defaults to $KONG_TAILER_RULES, else /etc/kong-tailer/rules.

    Exit 0 when every case passes, 1 when one fails (with what was expected against what came out), 2 when a
    test file is broken (file:line) or the rules do not load.
    """
    from tailer.commands.test import run_tests

    with _errors():
        sys.exit(run_tests(_rules_dir(rules_dir), sys.stdout, sys.stderr))


@main.command()
@_state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print it all as one JSON object.")
@click.option(
    "--stale-after",
    metavar="DURATION",
    default="30s",
    show_default=True,
    help="A daemon whose status is older than this is stuck (critical).",
)
def status(state_dir: str | None, as_json: bool, stale_after: str) -> None:
    """What the daemon of a state directory is doing, asked without stopping or slowing it: files followed,
    bytes behind, last reads, the outbox per notifier, dead letters, silences, the last reload, problems.

    Exit code, as a monitoring check's: 0 OK, 1 warning, 2 critical (not running, or stuck), 3 unknown.
    """
    from tailer.commands.run import state_dir as default_state_dir
    from tailer.commands.status import run_status
    from tailer.rules.load import duration

    try:
        stale = duration(stale_after)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--stale-after") from None
    with _errors():
        sys.exit(run_status(default_state_dir(state_dir, os.environ), as_json, stale, sys.stdout))


@main.group()
def silence() -> None:
    """Hold back a rule's alerts for a while (kept in the state directory; the daemon sees them within a
    second, no reload). Silenced alerts are counted and kept, not sent."""


@silence.command("add")
@_state_dir_option
@_rules_option
@click.option("--rule", "rule", metavar="NAME", required=True, help="A rule name, or a glob such as 'upstream-*'.")
@click.option("--when", metavar="EXPR", default=None, help="Only alerts whose event satisfies this condition.")
@click.option("--for", "length", metavar="DURATION", required=True, help="How long: 30m, 2h, 1d...")
@click.option("--comment", default="", help="Why; shown by `silence list` and in the message when it ends.")
@click.option(
    "--author",
    metavar="NAME",
    default=None,
    help="Who adds it, shown by `silence list`. Default: $SUDO_USER, else the user running this.",
)
def silence_add(
    state_dir: str | None,
    rules_dir: str | None,
    rule: str,
    when: str | None,
    length: str,
    comment: str,
    author: str | None,
) -> None:
    """Silence a rule's alerts (or those matching --when) from now, for DURATION."""
    from tailer.commands import silence as command
    from tailer.commands.run import state_dir as default_state_dir

    with _errors():
        directory = default_state_dir(state_dir, os.environ)
        rules = _rules_dir(rules_dir)
        sys.exit(command.add(directory, rules, rule, when, length, comment, sys.stdout, sys.stderr, author=author))


@silence.command("list")
@_state_dir_option
@click.option("--all", "everything", is_flag=True, help="Also the silences that have ended.")
def silence_list(state_dir: str | None, everything: bool) -> None:
    """The silences in force (or all), with the alerts each has held back."""
    from tailer.commands import silence as command
    from tailer.commands.run import state_dir as default_state_dir

    with _errors():
        sys.exit(command.listing(default_state_dir(state_dir, os.environ), everything, sys.stdout))


@silence.command("show")
@_state_dir_option
@click.argument("silence_id", type=int, metavar="ID")
def silence_show(state_dir: str | None, silence_id: int) -> None:
    """The alerts silence ID held back."""
    from tailer.commands import silence as command
    from tailer.commands.run import state_dir as default_state_dir

    with _errors():
        sys.exit(command.show(default_state_dir(state_dir, os.environ), silence_id, sys.stdout))


@silence.command("expire")
@_state_dir_option
@click.argument("silence_ids", type=int, nargs=-1, required=True, metavar="ID...")
def silence_expire(state_dir: str | None, silence_ids: tuple[int, ...]) -> None:
    """End silences now: each ID given (exit 2 if one of them is not in force; the others still end)."""
    from tailer.commands import silence as command
    from tailer.commands.run import state_dir as default_state_dir

    with _errors():
        sys.exit(command.expire(default_state_dir(state_dir, os.environ), silence_ids, sys.stdout))
