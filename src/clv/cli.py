"""The command line: argparse over the commands of clv.commands, and the menu when no command is given.

This module imports nothing heavy: `--help` and `--version` answer before
pandas is loaded, and the commands module is imported only to run one.
"""
from __future__ import annotations

import argparse
import difflib
import io
import logging
import math
import os
import re
import signal
import sys
from collections.abc import Callable
from contextlib import redirect_stdout
from typing import TextIO

from . import __version__, logsetup
from . import events as ev
from .defaults import (
    ARROW_POOL,
    ARROW_POOL_VARIABLE,
    DATA_DIR,
    DISPLAY_LIMIT,
    EXPORT_FORMATS,
    LOGS_DIR,
    PROG,
    RETAIN_HOURS,
    SCHEDULER_VARIABLE,
)
from .errors import ClvError, UsageError
from .prompt import positive_int, shown
from .terminal import escape, escaping

EXIT_CODES = "exit status: 0 success, 1 failure (file, store or no data), 2 bad usage, 130 interrupted"
INSTALL_HINT = "install the tool first: pip install -r requirements.txt"

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> None:
        found = INVALID_CHOICE.search(message)
        if found and message.startswith("argument command:"):
            choices = re.findall(r"'([^']*)'", found["choices"])
            match = _closest(found["given"].strip("'"), choices)
            hint = f"; did you mean '{match}'?" if match else f" (commands: {', '.join(choices)})"
            raise UsageError(f"{self.prog}: unknown command {found['given']}{hint} (see --help)")
        raise UsageError(f"{self.prog}: {message}{_did_you_mean(message)} (see --help)")


INVALID_CHOICE = re.compile(r"invalid choice: (?P<given>'.*?') \(choose from (?P<choices>.*)\)$")
GLOBAL_VALUED = ("--data-dir", "--logs-dir", "--wait", "--scheduler")  # global options that take a value


def _closest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _did_you_mean(message: str) -> str:
    """'; did you mean 'ingest'?' for an invalid choice close to a valid one (a command, a format, a reason)."""
    found = INVALID_CHOICE.search(message)
    if not found:
        return ""
    choices = re.findall(r"'([^']*)'", found["choices"])
    match = _closest(found["given"].strip("'"), choices)
    return f"; did you mean '{match}'?" if match else ""


def _positive(what: str, most: int | None = None, unit: str = ""):
    """An argparse type for a positive whole number named `what` in its message, at most `most`."""
    def parse(text: str) -> int:
        try:
            number = positive_int(text, what)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if most is not None and number > most:
            raise argparse.ArgumentTypeError(f"{what} must be at most {most:,}{unit}, got {number:,}")
        return number
    return parse


MOST_WEEKS = 5200  # a hundred years
MOST_WAIT = 86_400.0  # a day


def _whole(what: str):
    """An argparse type for a whole number from 0 up."""
    def parse(text: str) -> int:
        if not text.strip().isdigit() or not text.strip().isascii():
            raise argparse.ArgumentTypeError(f"{what} must be a whole number from 0 up, got {shown(text)}")
        return int(text)
    return parse


def _bounded(accepts: Callable[[float], bool], must: str):
    """An argparse type for a finite number that accepts() takes; `must` says what it must be."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and accepts(value)):
            raise argparse.ArgumentTypeError(f"{must}, got {shown(text)}")
        return value
    return parse


_seconds = _bounded(lambda s: 0 <= s <= MOST_WAIT, f"--wait must be a number of seconds from 0 to {MOST_WAIT:,.0f}")
_rate = _bounded(lambda r: 0 <= r < 1, "--discount must be a yearly rate from 0 to below 1")


def _table(text: str) -> str:
    if text.lower() in ev.tables():
        return text.lower()
    match = _closest(text, list(ev.tables()))
    hint = f"; did you mean '{match}'?" if match else ""
    raise argparse.ArgumentTypeError(f"unknown table {shown(text)} (choose from {', '.join(ev.tables())}){hint}")


def _globals(suppress: bool) -> argparse.ArgumentParser:
    """The global options, accepted before or after the command.

    After the command they default to SUPPRESS, so they only override what was actually given.
    """
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parent = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    group = parent.add_argument_group("global options")
    group.add_argument("--data-dir", metavar="DIR", default=default(str(DATA_DIR)),
                       help="where the store lives (default: data/ at the project root)")
    group.add_argument("--logs-dir", metavar="DIR", default=default(None),
                       help="where process.log goes (default: logs/ at the project root)")
    group.add_argument("--memory", action="store_true", default=default(False),
                       help="keep nothing on disk: an empty store in memory, no log files unless --logs-dir")
    group.add_argument("--wait", type=_seconds, default=default(0.0), metavar="SECONDS",
                       help="when another process is writing the store, wait up to SECONDS for it (default: fail)")
    group.add_argument("--scheduler", metavar="ADDRESS", default=default(os.environ.get(SCHEDULER_VARIABLE)),
                       help=f"run the per-bucket work on this Dask scheduler (default: ${SCHEDULER_VARIABLE}, "
                       "or in this process)")
    return parent


def _format(parser: argparse.ArgumentParser, choices: tuple[str, ...], help: str | None = None) -> None:
    parser.add_argument("--format", choices=choices, default=choices[0], type=str.lower,
                        help=help or f"how to print the result (default {choices[0]})")


def build_parser() -> argparse.ArgumentParser:
    after = [_globals(suppress=True)]
    parser = _Parser(prog=PROG, parents=[_globals(suppress=False)],
                     description="Customer lifetime value from web-site event dumps. With no command, opens the menu.",
                     epilog=f"example: {PROG} ingest sample_input/events.txt && {PROG} ltv 10\n{EXIT_CODES}",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.set_defaults(run="menu")
    commands = parser.add_subparsers(dest="command", metavar="command", parser_class=_Parser)
    parser.commands = {}

    def command(name: str, help: str, description: str, example: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description, parents=after,
                                  epilog=f"example: {PROG} {example}\n{EXIT_CODES}",
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(run=name)
        parser.commands[name] = sub
        return sub

    sub = command("ingest", "load event files into the store",
                  "Load event files (JSON array, one object, or JSON Lines; a directory means its *.json, "
                  "*.jsonl and *.txt files).", "ingest sample_input/events.txt --format json")
    sub.add_argument("paths", nargs="+", metavar="PATH")
    _format(sub, ("text", "json", "csv"), "text: the summary a person reads; json: one object, totals and a files "
            "list; csv: one row per file (default text)")

    sub = command("ltv", "top X customers by lifetime value", "Rank customers by 52 × (revenue per week) × 10.",
                  "ltv 10 --format csv --output top10.csv")
    sub.add_argument("x", type=_positive("X"), metavar="X",
                     help="how many customers (a positive whole number)")
    _format(sub, ("table", "csv", "json"))
    sub.add_argument("--output", metavar="FILE", help="write to FILE instead of the screen")

    sub = command("display", "show the tables of the store", "Show the store's tables (all of them unless named).",
                  "display customers orders --limit 10")
    sub.add_argument("tables", nargs="*", type=_table, metavar="TABLE", help=f"any of: {', '.join(ev.tables())}")
    rows = sub.add_mutually_exclusive_group()
    rows.add_argument("--limit", type=_positive("--limit"), default=DISPLAY_LIMIT, metavar="N",
                      help=f"rows per table (default {DISPLAY_LIMIT})")
    rows.add_argument("--all", action="store_const", const=None, dest="limit", help="every row")
    _format(sub, ("table", "json", "csv"), "table: for a person; json: an object of tables, each with its row count "
            "and rows; csv: the rows of one table (name one) (default table)")

    sub = command("reprocess", "run held rejected events through ingestion again",
                  "Run the held rejected events through ingestion again.", "reprocess --format json")
    _format(sub, ("text", "json"))

    sub = command("rejects", "list the held rejected events, or fix them in an editor",
                  "List the held rejected events with their reason, message, source and position; with edit, open "
                  "them in $VISUAL or $EDITOR (one JSON line each), commit what was saved and offer to reprocess.",
                  f"rejects --reason invalid_field --contains eur\nexample: {PROG} rejects edit --source messy")
    sub.add_argument("action", nargs="?", choices=("edit",), help="edit: fix them in an editor (default: list them)")
    sub.add_argument("--reason", choices=ev.REJECTION_CODES, metavar="CODE",
                     help=f"only this reason: {', '.join(ev.REJECTION_CODES)}")
    sub.add_argument("--source", metavar="TEXT", help="only those whose source file contains TEXT")
    sub.add_argument("--contains", metavar="TEXT",
                     help="only those whose event (its JSON text, or the raw line) contains TEXT, in any case")
    _format(sub, ("table", "json", "jsonl", "csv"))
    sub.add_argument("--reprocess", action=argparse.BooleanOptionalAction, default=None,
                     help="after edit, reprocess the held events, or not (default: ask when in a terminal)")
    sub.set_defaults(ask=None)

    sub = command("stats", "what the store holds, at a glance",
                  "Rows per table, customers, timeframe, revenue, held rejects and the last ingestion.",
                  "stats --format json")
    _format(sub, ("text", "json"))

    sub = command("customer", "one customer: fields, orders, activity and LTV rank",
                  "Everything the store knows about one customer id.", "customer 96f55c7d8f42")
    sub.add_argument("customer_id", metavar="ID")
    _format(sub, ("text", "json", "csv"), "text: for a person; json: fields, figures and orders; csv: one row of "
            "fields and figures (default text)")

    sub = command("export", "write the tables and the full LTV ranking to files",
                  "Write every table and ltv (every customer, ranked) as CSV or Parquet files into DIR.",
                  "export reports/2017-01 --format csv")
    sub.add_argument("directory", metavar="DIR")
    _format(sub, EXPORT_FORMATS, f"the files' format (default {EXPORT_FORMATS[0]})")
    sub.add_argument("--force", action="store_true", help="replace files that already exist")

    sub = command("predict", "predicted CLV: BG/NBD and Gamma-Gamma fitted to the orders",
                  "Fit the BG/NBD model (repeat purchases) and the Gamma-Gamma model (order values) by maximum "
                  "likelihood, time in weeks, and rank customers by predicted CLV: expected revenue over the horizon, "
                  "discounted. With a holdout, compare predicted and actual repeat purchases after the calibration end.",
                  "predict --holdout 39 --top 20 --plot tracking.png")
    period = sub.add_mutually_exclusive_group()
    period.add_argument("--calibration-end", metavar="DATE", help="fit on orders up to this day (YYYY-MM-DD); "
                        "later orders are the holdout (default: the last order day)")
    period.add_argument("--holdout", type=_positive("--holdout"), metavar="WEEKS",
                        help="fit on all but the last WEEKS weeks and compare with what happened in them")
    sub.add_argument("--horizon", type=_positive("--horizon", MOST_WEEKS, " weeks (100 years)"), default=52, metavar="WEEKS",
                     help="weeks to predict (default 52)")
    sub.add_argument("--top", type=_positive("--top"), default=10, metavar="X", help="customers to list (default 10)")
    sub.add_argument("--discount", type=_rate, default=0.10, metavar="RATE",
                     help="yearly discount rate for predicted CLV (default 0.10)")
    _format(sub, ("table", "json", "csv"))
    sub.add_argument("--output", metavar="FILE", help="write to FILE instead of the screen")
    sub.add_argument("--plot", metavar="FILE", help="with a holdout: draw the tracking chart as a PNG into FILE")

    sub = command("history", "the versions of the store", "Every version of the store, newest first: when, which "
                  "command, from which files, with which counts.", "history --limit 5")
    sub.add_argument("--limit", type=_positive("--limit"), default=None, metavar="N", help="only the newest N")
    _format(sub, ("table", "json", "csv"))

    sub = command("rollback", "make an earlier version current again",
                  "Make an earlier version of the store (see history) current again, as a new version: the events "
                  "and held rejected events as they were then.", "rollback 3")
    sub.add_argument("version", type=_whole("VERSION"), metavar="VERSION")
    _format(sub, ("text", "json"))

    sub = command("compact", "fold the per-customer figures, merge small files, remove old versions' files",
                  "Fold the per-customer change rows of many commits to one row per customer id (the figures "
                  "unchanged), merge the small files appends leave, then remove the files no version younger than "
                  "--retain hours needs (those older versions can no longer be restored).", "compact --retain 0")
    sub.add_argument("--retain", type=_whole("--retain"), default=RETAIN_HOURS, metavar="HOURS",
                     help=f"keep every version of the last HOURS restorable (default {RETAIN_HOURS})")
    _format(sub, ("text", "json"))

    sub = command("migrate", "convert a store of the previous format",
                  "Convert a store written by the previous version of this tool (and its held rejected events, "
                  "from rejected_events.jsonl in the logs folder) into the current format, losing nothing.", "migrate")
    _format(sub, ("text", "json"))

    command("menu", "the interactive menu (the default)", "The interactive menu.", "menu --data-dir /srv/clv/data")
    return parser


def _commands_case_insensitive(argv: list[str], names: list[str]) -> list[str]:
    """The command word in lower case, as the menu takes names in any case ('LTV 10')."""
    argv = list(argv)
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            i += 1
            break
        if token in GLOBAL_VALUED:
            i += 2
            continue
        if not token.startswith("-") or token == "-":
            break
        i += 1
    if i < len(argv) and argv[i].lower() in names and argv[i] not in names:
        argv[i] = argv[i].lower()
    return argv


def _unknown(parser: argparse.ArgumentParser, args: argparse.Namespace, extras: list[str]) -> UsageError:
    """An unrecognised argument, with the option it was probably meant to be."""
    sub = parser.commands.get(args.command) if args.command else parser
    prog = sub.prog if sub is not None else parser.prog
    options = [o for action in (sub or parser)._actions for o in action.option_strings if o.startswith("--")]
    for extra in extras:
        if extra.startswith("-") and extra != "-":
            name = extra.split("=", 1)[0]
            match = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
            hint = f"; did you mean {match[0]}?" if match else ""
            return UsageError(f"{prog}: unknown option {shown(name)}{hint} (see --help)")
    return UsageError(f"{prog}: unexpected argument{'s' if len(extras) > 1 else ''}: "
                      f"{' '.join(shown(e) for e in extras)} (see --help)")


def _tolerant(stdin: TextIO) -> TextIO:
    """Input whose bytes are not UTF-8 is read as surrogates (shown later as \\xff), never a decoding error."""
    if isinstance(stdin, io.TextIOWrapper) and stdin.errors == "strict":
        try:
            stdin.reconfigure(errors="surrogateescape")
        except (ValueError, OSError, io.UnsupportedOperation):
            pass
    return stdin


def _import_commands():
    """The commands module (pandas and the rest load here). Ctrl-C while a compiled library initialises can
    surface as an ImportError; a SIGINT seen meanwhile makes it the interruption it was."""
    interrupted: list[bool] = []

    def on_interrupt(signum, frame) -> None:
        interrupted.append(True)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:  # not the main thread: no handler of our own
        previous = None
    os.environ.setdefault(ARROW_POOL_VARIABLE, ARROW_POOL)  # read when pyarrow first allocates
    try:
        from . import commands
    except ImportError as exc:
        if interrupted:
            raise KeyboardInterrupt from None
        raise ClvError(f"missing dependency {exc.name}: {INSTALL_HINT}") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return commands


def main(argv: list[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run one command (or the menu); every error is one line on stderr and an exit status.

    stdout and stderr are wrapped in the one escaping stream (clv.terminal): nothing from a file, an argument
    or a prompt reaches them with raw control characters.
    """
    stdin = _tolerant(stdin or sys.stdin)
    stdout, stderr = escaping(stdout or sys.stdout), escaping(stderr or sys.stderr)
    try:
        try:
            parser = build_parser()
            argv = _commands_case_insensitive(sys.argv[1:] if argv is None else argv, list(parser.commands))
            with redirect_stdout(stdout):
                args, extras = parser.parse_known_args(argv)
        except SystemExit as exc:  # --help and --version print and leave through argparse
            return int(exc.code or 0)
        if extras:
            raise _unknown(parser, args, extras)
        commands = _import_commands()
        if args.logs_dir is None and not args.memory:
            args.logs_dir = str(LOGS_DIR)
        if args.memory:
            args.data_dir = None
        commands.require_store(args)  # before anything is created: a mistyped --data-dir makes no folders
        logsetup.configure(args.logs_dir)
        ctx = commands.make_context(args, stdin, stdout, stderr)
        return commands.run(ctx, args)
    except ClvError as exc:
        log.error("%s", exc)
        print(f"error: {escape(str(exc))}", file=stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted; nothing was changed", file=stderr)
        return 130
    except BrokenPipeError:
        return 0
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:  # a bug: say so in one line, keep the traceback in the log
        log.exception("unexpected error")
        print(f"error: unexpected {type(exc).__name__}: {escape(str(exc))} (details in process.log)", file=stderr)
        return 1


def entry() -> None:
    """The installed `clv` command."""
    sys.exit(main())
