"""The commands, one function each, shared by the command line and the menu.

Each takes the Context (the store, the logs folder, the three streams) and the
parsed arguments, prints its result in the format asked for (data on stdout,
status lines and warnings on stderr), and returns the exit status. `run`
dispatches on the name argparse put in `args.run`. An action that can take
more than a second shows a progress indicator on stderr in a terminal.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd

from . import display, rejects_view, versions
from . import events as ev
from .defaults import PROG
from .errors import ClvError, StoreError, UsageError
from .export import export as export_files
from .ingest import ingest as ingest_files
from .ingest import reprocess as reprocess_held
from .ltv import distribution, ltv_figures, top_of
from .menu import Prompter, run_menu, yes_no
from .output import Document, emit, frame_records
from .overview import overview
from .profile import customer_profile, profile_data, profile_row
from .progress import TerminalProgress, working
from .rejects import EditResult, from_edited, select, to_editable
from .store import TABLE_DIR, Change, Store, is_legacy, open_store
from .tables import current
from .terminal import escape

# Commands that only read: on a data directory that holds no store they say so and create nothing.
READ_ONLY = ("ltv", "stats", "display", "customer", "rejects", "predict", "export", "history")
NEEDS_A_STORE = (*READ_ONLY, "rollback", "compact", "migrate")  # on a folder without one: one line, nothing made


@dataclass
class Context:
    """What every command works on, and where it reads and writes."""

    store: Store
    logs_dir: str | None
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO

    def say(self, text: str) -> None:
        """A status line for the person (not data): stderr."""
        print(text, file=self.stderr)

    def held_in(self) -> str:
        """Where the held rejected events are, for the lines that point to them."""
        return "memory" if self.store.location == "memory" else f"the store in {self.store.location}"

    def screen(self) -> display.Screen:
        """The width tables fit and whether the output can draw Unicode."""
        return display.screen_of(self.stdout)


def store_exists(data_dir: str | Path) -> bool:
    """Whether a data directory holds a store (of this format or the previous one), or files the store will judge."""
    folder = Path(data_dir)
    return (folder / TABLE_DIR).is_dir() or is_legacy(folder)


def require_store(args: argparse.Namespace) -> None:
    """A command that needs a store, on a data directory with none: one line, exit 1, nothing created.

    (--memory is an empty store on purpose: its commands answer as for any empty store.)
    """
    if args.run in NEEDS_A_STORE and args.data_dir is not None and not store_exists(args.data_dir):
        raise StoreError(f"no store in {args.data_dir}: nothing has been ingested there (check --data-dir, or "
                         f"ingest some events first: {PROG} ingest PATH)")


def make_context(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> Context:
    """Store and held rejects where the (resolved) global options say; None means memory."""
    return Context(open_store(args.data_dir, args.wait, args.scheduler), args.logs_dir, stdin, stdout, stderr)


def _file_dict(summary) -> dict:
    return dict(vars(summary), rejected_by_reason=dict(summary.rejected_by_reason))


def _ingest_rows(result) -> pd.DataFrame:
    """One CSV row per file: its figures, and its error if it could not be ingested."""
    columns = ["source", "read", "ingested", "updated", "duplicates", "rejected", "orphans", "store_size_before",
               "store_size_after", "seconds", "error"]
    return pd.DataFrame([_file_dict(f) for f in result.files], columns=columns)


def ingest_data(result) -> dict:
    """The one JSON shape of an ingestion, for one file or many: the totals, then every file's own figures."""
    data = result.as_dict()
    data.pop("error", None)
    data["files"] = [_file_dict(f) for f in result.files]
    data["failed_files"] = len(result.failed)
    data["notes"] = list(result.notes)
    return data


def ingest(ctx: Context, args: argparse.Namespace) -> int:
    progress = TerminalProgress(ctx.stderr)
    progress.stage("opening the store")
    try:
        result = ingest_files(ctx.store, args.paths, progress)
    finally:
        progress.close()
    screen = ctx.screen()
    emit(Document(lambda: ingest_data(result), lambda: display.render_run(result, ctx.held_in(), screen),
                  lambda: _ingest_rows(result)), args.format, ctx.stdout)
    for failed in result.failed:
        ctx.say(f"error: {failed.error}")
    return 1 if result.failed else 0


def ltv(ctx: Context, args: argparse.Namespace) -> int:
    with working(ctx.stderr, "ranking customers by LTV"):
        figures = ltv_figures(ctx.store.snapshot())
        top = top_of(figures, args.x)
        spread = distribution(figures, args.x) if args.format == "table" else None
    screen = ctx.screen()

    def text() -> str:
        return display.render_ltv(top, screen) + "\n" + display.render_distribution(spread, screen.unicode,
                                                                                     screen.width)

    document = Document(lambda: frame_records(top), text, lambda: top)
    if emit(document, args.format, ctx.stdout, args.output, display.page):
        ctx.say(f"wrote {args.output}")
    return 0


def _display_data(views: dict[str, pd.DataFrame], names: list[str], limit: int | None) -> dict:
    return {name: {"rows": len(views[name]),
                   "records": frame_records(views[name] if limit is None else views[name].head(limit))}
            for name in names}


def display_tables(ctx: Context, args: argparse.Namespace) -> int:
    names = list(dict.fromkeys(args.tables)) or list(ev.tables())
    fmt = getattr(args, "format", "table")
    if fmt == "csv" and len(names) != 1:
        raise UsageError(f"--format csv writes one table at a time; name one of {', '.join(ev.tables())} "
                         f"(asked for {len(names)}); --format json writes several")
    with working(ctx.stderr, "loading the store"):
        views = ctx.store.snapshot().current()
    screen = ctx.screen()
    document = Document(lambda: _display_data(views, names, args.limit),
                        lambda: display.render_store(views, names, args.limit, screen),
                        lambda: views[names[0]] if args.limit is None else views[names[0]].head(args.limit))
    emit(document, fmt, ctx.stdout, None, display.page)
    if fmt != "table" and args.limit is not None:
        cut = [f"{name} {len(views[name]) - args.limit:,}" for name in names if len(views[name]) > args.limit]
        if cut:
            ctx.say(f"rows left out by --limit {args.limit:,}: {', '.join(cut)} (--all for every row)")
    return 0


def reprocess(ctx: Context, args: argparse.Namespace) -> int:
    with working(ctx.stderr, "reprocessing the held rejected events"):
        result = reprocess_held(ctx.store)
    screen = ctx.screen()
    emit(Document(result.as_dict, lambda: display.render_reprocess(result, ctx.held_in(), screen)),
         args.format, ctx.stdout)
    return 0


def rejects(ctx: Context, args: argparse.Namespace) -> int:
    """List the held rejected events, or with `edit` fix them in an editor."""
    held = ctx.store.snapshot().held
    selected = select(held, args.reason, args.source, args.contains)
    if args.action == "edit":
        return _edit_rejects(ctx, args, held, selected)
    emit(rejects_view.document(selected, len(held), ctx.stdout), args.format, ctx.stdout, None, display.page)
    return 0


def _edit_rejects(ctx: Context, args: argparse.Namespace, held: list[dict], selected: list[tuple[int, dict]]) -> int:
    """The selected events in an editor; what was saved replaces them, then reprocessing is offered."""
    if not selected:
        ctx.say("no rejected events are held; nothing to edit" if not held else
                f"none of the {len(held):,} held rejected events match; nothing to edit")
        return 0
    with rejects_view.edited(to_editable(selected)) as text:
        result = from_edited(text, selected)
        if result.changed:
            _commit_edits(ctx, held, result)
    ctx.say(result.summary())
    if ctx.store.snapshot().held and _reprocess_now(ctx, args):
        return reprocess(ctx, argparse.Namespace(format="text"))
    return 0


def _commit_edits(ctx: Context, held: list[dict], result: EditResult) -> None:
    """Under the store's write lock, so no ingest or reprocess interleaves. The editor may have been open for
    a while: events held since then are kept, but held events that changed meanwhile stop the commit."""
    with ctx.store.writing() as snapshot:
        current = snapshot.held
        if current[:len(held)] != held:
            raise ClvError("the held rejected events changed while they were being edited; nothing was changed")
        ctx.store.commit(Change("rejects edit", hold=result.apply(current), release_held=True))


def _reprocess_now(ctx: Context, args: argparse.Namespace) -> bool:
    """--reprocess or --no-reprocess decide for scripts; otherwise a person is asked (the menu always has one,
    the command line when its input is a terminal), and Enter means yes."""
    if args.reprocess is not None:
        return args.reprocess
    if args.ask is None and not ctx.stdin.isatty():
        return False
    ask = args.ask or Prompter(ctx.stdin, ctx.stderr).ask
    try:
        return yes_no(ctx, ask, "Reprocess the held events now? [Y/n] ", default=True)
    except (EOFError, KeyboardInterrupt):
        ctx.say(f"\nnot reprocessed; run {PROG} reprocess when ready")
        return False


def stats(ctx: Context, args: argparse.Namespace) -> int:
    with working(ctx.stderr, "counting what the store holds"):
        snapshot = ctx.store.snapshot()
        info = overview(snapshot, snapshot.held)
    screen = ctx.screen()
    emit(Document(lambda: info, lambda: display.render_overview(info, screen)), args.format, ctx.stdout)
    return 0


def customer(ctx: Context, args: argparse.Namespace) -> int:
    with working(ctx.stderr, "looking the customer up"):
        profile = customer_profile(ctx.store.snapshot(), args.customer_id)
    screen = ctx.screen()
    document = Document(lambda: profile_data(profile), lambda: display.render_profile(profile, screen),
                        lambda: profile_row(profile))
    emit(document, getattr(args, "format", "text"), ctx.stdout, None, display.page)
    return 0


def export(ctx: Context, args: argparse.Namespace) -> int:
    with working(ctx.stderr, f"exporting to {args.directory}"):
        written = export_files(ctx.store.snapshot(), args.directory, args.format, args.force)
    for path in written:
        ctx.say(f"wrote {path}")
    return 0


def predict(ctx: Context, args: argparse.Namespace) -> int:
    with working(ctx.stderr, "fitting the purchase and spend models"):
        from . import predict_view  # scipy loads only for this command
        from .predict import predict as fit_and_predict

        orders = current({ev.ORDERS: ctx.store.snapshot().table(ev.ORDERS)})[ev.ORDERS]
        purchases = pd.DataFrame({"customer_id": orders[ev.CUSTOMER_FIELD], "time": orders["created"],
                                  "amount": orders["amount"]})
        result = fit_and_predict(purchases, args.calibration_end, args.horizon, args.discount, args.holdout)
    for warning in result.warnings:
        ctx.say(f"warning: {warning}")
    screen = ctx.screen()
    document = Document(lambda: predict_view.as_dict(result, args.top),
                        lambda: predict_view.render_text(result, args.top, screen.width, screen.unicode),
                        lambda: predict_view.rows_for_csv(result, args.top))
    if emit(document, args.format, ctx.stdout, args.output, display.page):
        ctx.say(f"wrote {args.output}")
    if args.plot:
        with working(ctx.stderr, "drawing the chart"):
            predict_view.plot_png(result, args.plot)
        ctx.say(f"wrote {escape(args.plot)}")
    return 0


def history(ctx: Context, args: argparse.Namespace) -> int:
    rows = pd.DataFrame(versions.history(ctx.store), columns=versions.COLUMNS).astype(
        {name: "Int64" for name in versions.COUNTS})
    shown = rows if args.limit is None else rows.head(args.limit)
    screen = ctx.screen()
    emit(Document(lambda: frame_records(shown), lambda: display.render_history(shown, screen), lambda: shown),
         args.format, ctx.stdout, None, display.page)
    return 0


def rollback(ctx: Context, args: argparse.Namespace) -> int:
    with working(ctx.stderr, f"restoring version {args.version}"):
        result = versions.rollback(ctx.store, args.version)
    emit(Document(lambda: result, lambda: f"version {result['restored']} is current again, "
                  f"as version {result['version']} (history lists both; rollback {result['version'] - 1} undoes this)\n"),
         args.format, ctx.stdout)
    return 0


def compact(ctx: Context, args: argparse.Namespace) -> int:
    with working(ctx.stderr, "compacting the store"):
        result = versions.compact(ctx.store, args.retain)
    folded = "" if result["figure_rows_before"] is None else \
        f"{result['figure_rows_before']:,} rows of per-customer figures folded into {result['figure_rows_after']:,}; "
    emit(Document(lambda: result, lambda: f"{folded}{result['files_before']:,} files merged into "
                  f"{result['files_after']:,}; {result['files_removed']:,} files no version younger than "
                  f"{args.retain} hours needs were removed (version {result['version']})\n"), args.format, ctx.stdout)
    return 0


def migrate(ctx: Context, args: argparse.Namespace) -> int:
    from .legacy import migrate as convert
    from .store import DeltaStore

    if not isinstance(ctx.store, DeltaStore):
        raise UsageError("a store in memory has nothing to migrate; use --data-dir")
    with working(ctx.stderr, "converting the store"):
        result = convert(ctx.store, Path(ctx.logs_dir) if ctx.logs_dir else None)
    if result["migrated"]:
        text = (f"converted: {sum(result['rows'].values()):,} stored rows and {result['held']:,} held rejected "
                f"events are now version 0-1 of the Delta table in {ctx.store.location}")
    else:
        text = result["note"]
    text += "\n"
    emit(Document(lambda: result, lambda: text), args.format, ctx.stdout)
    return 0


def menu(ctx: Context, args: argparse.Namespace) -> int:
    return run_menu(ctx, COMMANDS)


COMMANDS = {
    "ingest": ingest, "ltv": ltv, "display": display_tables, "reprocess": reprocess, "rejects": rejects,
    "stats": stats, "customer": customer, "export": export, "predict": predict, "history": history,
    "rollback": rollback, "compact": compact, "migrate": migrate, "menu": menu,
}


def run(ctx: Context, args: argparse.Namespace) -> int:
    return COMMANDS[args.run](ctx, args)
