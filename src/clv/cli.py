"""The command line: subcommands over the library, and the menu when no command is given."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from . import display, logsetup
from . import events as ev
from .atomic import staged
from .errors import ClvError, UsageError
from .export import FORMATS, export
from .ingest import ingest, reprocess
from .ltv import distribution, ltv_table
from .overview import overview
from .profile import customer_profile
from .progress import TerminalProgress
from .prompt import positive_int
from .rejects import Rejects, open_rejects
from .store import Store, open_store

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_LOGS_DIR = PROJECT_ROOT / "logs"
PROG = "process.py"


@dataclass
class Context:
    """What every command works on."""

    store: Store
    rejects: Rejects
    out: TextIO = sys.stdout


def run_ingest(ctx: Context, paths: list[str], fmt: str = "text") -> int:
    result = ingest(ctx.store, paths, ctx.rejects, TerminalProgress())
    if fmt == "json":
        ctx.out.write(display.as_json(result.as_dict()))
    else:
        ctx.out.write(display.render_run(result, ctx.rejects.location))
    ctx.out.flush()
    for failed in result.failed:
        print(f"error: {failed.error}", file=sys.stderr)
    return 1 if result.failed else 0


def run_ltv(ctx: Context, x: int, fmt: str = "table", output: str | None = None) -> int:
    ranked = ltv_table(ctx.store.snapshot())
    text = display.render_ltv(ranked.head(x), fmt)
    if fmt == "table":
        text += "\n" + display.render_distribution(distribution(ranked, x), display.can_draw_unicode(ctx.out))
    if output is None:
        display.page(text, ctx.out)
        return 0
    try:
        with staged(Path(output)) as temporary:
            temporary.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ClvError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(f"wrote {output}", file=ctx.out)
    return 0


def run_display(ctx: Context, names: list[str], limit: int | None = display.DEFAULT_LIMIT) -> int:
    text = display.render_store(ctx.store.snapshot().current(), names or list(ev.TABLES), limit)
    display.page(text, ctx.out)
    return 0


def run_reprocess(ctx: Context, fmt: str = "text") -> int:
    result = reprocess(ctx.store, ctx.rejects)
    if fmt == "json":
        ctx.out.write(display.as_json(result.as_dict()))
    else:
        ctx.out.write(display.render_reprocess(result, ctx.rejects.location))
    return 0


def run_stats(ctx: Context, fmt: str = "text") -> int:
    info = overview(ctx.store.snapshot(), ctx.rejects.load())
    ctx.out.write(display.as_json(info) if fmt == "json" else display.render_overview(info))
    return 0


def run_customer(ctx: Context, customer_id: str) -> int:
    display.page(display.render_profile(customer_profile(ctx.store.snapshot(), customer_id)), ctx.out)
    return 0


def run_export(ctx: Context, directory: str, fmt: str = "csv", force: bool = False) -> int:
    written = export(ctx.store.snapshot(), directory, fmt, force)
    ctx.out.write("".join(f"wrote {path}\n" for path in written))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _x(text: str) -> int:
    try:
        return positive_int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limit(text: str) -> int:
    try:
        return positive_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--limit must be a positive whole number, got {text!r}") from None


def _table(text: str) -> str:
    if text not in ev.TABLES:
        raise argparse.ArgumentTypeError(f"unknown table {text!r} (choose from {', '.join(ev.TABLES)})")
    return text


def build_parser() -> argparse.ArgumentParser:
    # Global options work before or after the command: subcommands repeat them
    # with SUPPRESS defaults so they only override what was actually given.
    def global_options(parser: argparse.ArgumentParser, default: Callable[[object], object]) -> None:
        parser.add_argument("--data-dir", metavar="DIR", default=default(str(DEFAULT_DATA_DIR)),
                            help="where the store lives (default: data/ at the project root)")
        parser.add_argument("--logs-dir", metavar="DIR", default=default(None),
                            help="where process.log and rejected_events.jsonl go (default: logs/ at the project root)")
        parser.add_argument("--memory", action="store_true", default=default(False),
                            help="keep nothing on disk: an empty store in memory, no log files unless --logs-dir")

    parser = _Parser(prog=PROG, description="Customer lifetime value from web-site event dumps. "
                     "With no command, opens the menu.",
                     epilog="example: process.py ingest sample_input/events.txt && process.py ltv 10")
    global_options(parser, lambda value: value)
    suppress = lambda value: argparse.SUPPRESS  # noqa: E731
    commands = parser.add_subparsers(dest="command", metavar="command", parser_class=_Parser)

    sub = commands.add_parser("ingest", help="load event files into the store",
                              description="Load event files (JSON array, one object, or JSON Lines; a directory "
                              "means its *.json, *.jsonl and *.txt files).",
                              epilog="example: process.py ingest sample_input/events.txt --format json")
    sub.add_argument("paths", nargs="+", metavar="PATH")
    sub.add_argument("--format", choices=["text", "json"], default="text")
    global_options(sub, suppress)

    sub = commands.add_parser("ltv", help="top X customers by lifetime value",
                              description="Rank customers by 52 × (revenue per week) × 10.",
                              epilog="example: process.py ltv 10 --format csv --output top10.csv")
    sub.add_argument("x", type=_x, metavar="X", help="how many customers (a positive whole number)")
    sub.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sub.add_argument("--output", metavar="FILE", help="write to FILE instead of the screen")
    global_options(sub, suppress)

    sub = commands.add_parser("display", help="show the tables of the store",
                              description="Show the store's tables (all four unless named).",
                              epilog="example: process.py display customers orders --limit 10")
    sub.add_argument("tables", nargs="*", type=_table, metavar="TABLE", help=f"any of: {', '.join(ev.TABLES)}")
    rows = sub.add_mutually_exclusive_group()
    rows.add_argument("--limit", type=_limit, default=display.DEFAULT_LIMIT, metavar="N",
                      help=f"rows per table (default {display.DEFAULT_LIMIT})")
    rows.add_argument("--all", action="store_const", const=None, dest="limit", help="every row")
    global_options(sub, suppress)

    sub = commands.add_parser("reprocess", help="run held rejected events through ingestion again",
                              description="Run the events held in rejected_events.jsonl through ingestion again.",
                              epilog="example: process.py reprocess --format json")
    sub.add_argument("--format", choices=["text", "json"], default="text")
    global_options(sub, suppress)

    sub = commands.add_parser("stats", help="what the store holds, at a glance",
                              description="Rows per table, customers, timeframe, revenue, held rejects and the "
                              "last ingestion.", epilog="example: process.py stats --format json")
    sub.add_argument("--format", choices=["text", "json"], default="text")
    global_options(sub, suppress)

    sub = commands.add_parser("customer", help="one customer: fields, orders, activity and LTV rank",
                              description="Everything the store knows about one customer id.",
                              epilog="example: process.py customer 96f55c7d8f42")
    sub.add_argument("customer_id", metavar="ID")
    global_options(sub, suppress)

    sub = commands.add_parser("export", help="write the tables and the full LTV ranking to files",
                              description="Write customers, site_visits, images, orders and ltv (every customer, "
                              "ranked) as CSV or Parquet files into DIR.",
                              epilog="example: process.py export reports/2017-01 --format csv")
    sub.add_argument("directory", metavar="DIR")
    sub.add_argument("--format", choices=FORMATS, default="csv")
    sub.add_argument("--force", action="store_true", help="replace files that already exist")
    global_options(sub, suppress)

    sub = commands.add_parser("menu", help="the interactive menu (the default)",
                              epilog="example: process.py menu --data-dir /srv/clv/data")
    global_options(sub, suppress)
    return parser


def make_context(args: argparse.Namespace) -> Context:
    """Store, rejects and log as the global options say."""
    logs_dir = args.logs_dir if args.logs_dir is not None else (None if args.memory else DEFAULT_LOGS_DIR)
    logsetup.configure(logs_dir)
    store = open_store(None if args.memory else args.data_dir)
    return Context(store, open_rejects(logs_dir))


def dispatch(ctx: Context, args: argparse.Namespace) -> int:
    if args.command == "ingest":
        return run_ingest(ctx, args.paths, args.format)
    if args.command == "ltv":
        return run_ltv(ctx, args.x, args.format, args.output)
    if args.command == "display":
        return run_display(ctx, args.tables, args.limit)
    if args.command == "reprocess":
        return run_reprocess(ctx, args.format)
    if args.command == "stats":
        return run_stats(ctx, args.format)
    if args.command == "customer":
        return run_customer(ctx, args.customer_id)
    if args.command == "export":
        return run_export(ctx, args.directory, args.format, args.force)
    from .menu import run_menu

    return run_menu(ctx)


def main(argv: list[str] | None = None) -> int:
    """Run one command (or the menu); every error is one line on stderr and an exit status."""
    try:
        args = build_parser().parse_args(argv)
        ctx = make_context(args)
        return dispatch(ctx, args)
    except ClvError as exc:
        logsetup.get().error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted; nothing was changed", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug: say so in one line, keep the traceback in the log
        logsetup.get().exception("unexpected error")
        print(f"error: unexpected {type(exc).__name__}: {exc} (details in process.log)", file=sys.stderr)
        return 1
