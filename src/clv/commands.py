"""The commands, one function each, shared by the command line and the menu.

Each takes the Context (store, held rejects, the three streams) and the
parsed arguments, prints its result in the format asked for, and returns the
exit status. `run` dispatches on the name argparse put in `args.run`.
"""
from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from typing import TextIO

import pandas as pd

from . import display, rejects_view
from . import events as ev
from .defaults import PROG
from .errors import ClvError
from .export import export as export_files
from .ingest import ingest as ingest_files
from .ingest import reprocess as reprocess_held
from .ltv import distribution, ltv_table
from .menu import Prompter, run_menu
from .output import Document, emit, frame_records
from .overview import overview
from .profile import customer_profile
from .progress import TerminalProgress
from .rejects import EditResult, Rejects, from_edited, open_rejects, select, to_editable
from .store import Store, open_store


@dataclass
class Context:
    """What every command works on, and where it reads and writes."""

    store: Store
    rejects: Rejects
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO

    def say(self, text: str) -> None:
        """A status line for the person (not data): stderr."""
        print(text, file=self.stderr)


def make_context(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> Context:
    """Store and held rejects where the (resolved) global options say; None means memory."""
    return Context(open_store(args.data_dir), open_rejects(args.logs_dir), stdin, stdout, stderr)


def ingest(ctx: Context, args: argparse.Namespace) -> int:
    result = ingest_files(ctx.store, args.paths, ctx.rejects, TerminalProgress(ctx.stderr))
    emit(Document(result.as_dict, lambda: display.render_run(result, ctx.rejects.location)), args.format, ctx.stdout)
    for failed in result.failed:
        ctx.say(f"error: {failed.error}")
    return 1 if result.failed else 0


def ltv(ctx: Context, args: argparse.Namespace) -> int:
    ranked = ltv_table(ctx.store.snapshot())
    top = ranked.head(args.x)

    def text() -> str:
        return display.render_ltv(top) + "\n" + display.render_distribution(
            distribution(ranked, args.x), display.can_draw_unicode(ctx.stdout))

    document = Document(lambda: frame_records(top), text, lambda: top)
    if emit(document, args.format, ctx.stdout, args.output, display.page):
        ctx.say(f"wrote {args.output}")
    return 0


def display_tables(ctx: Context, args: argparse.Namespace) -> int:
    text = display.render_store(ctx.store.snapshot().current(), args.tables or list(ev.tables()), args.limit)
    display.page(text, ctx.stdout)
    return 0


def reprocess(ctx: Context, args: argparse.Namespace) -> int:
    result = reprocess_held(ctx.store, ctx.rejects)
    emit(Document(result.as_dict, lambda: display.render_reprocess(result, ctx.rejects.location)), args.format,
         ctx.stdout)
    return 0


def rejects(ctx: Context, args: argparse.Namespace) -> int:
    """List the held rejected events, or with `edit` fix them in an editor."""
    held = ctx.rejects.load()
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
    if ctx.rejects.load() and _reprocess_now(ctx, args):
        return reprocess(ctx, argparse.Namespace(format="text"))
    return 0


def _commit_edits(ctx: Context, held: list[dict], result: EditResult) -> None:
    """Under the store's write lock, so no ingest or reprocess interleaves. The editor may have been open for
    a while: events held since then are kept, but held events that changed meanwhile stop the commit."""
    with ctx.store.writing():
        current = ctx.rejects.load()
        if current[:len(held)] != held:
            raise ClvError("the held rejected events changed while they were being edited; nothing was changed")
        ctx.rejects.replace(result.apply(current))


def _reprocess_now(ctx: Context, args: argparse.Namespace) -> bool:
    """--reprocess or --no-reprocess decide for scripts; otherwise a person is asked (the menu always has one,
    the command line when its input is a terminal), and Enter means yes."""
    if args.reprocess is not None:
        return args.reprocess
    if args.ask is None and not ctx.stdin.isatty():
        return False
    ask = args.ask or Prompter(ctx.stdin, ctx.stderr).ask
    try:
        return ask("Reprocess the held events now? [Y/n] ").strip().lower() in ("", "y", "yes")
    except (EOFError, KeyboardInterrupt):
        ctx.say(f"\nnot reprocessed; run {PROG} reprocess when ready")
        return False


def stats(ctx: Context, args: argparse.Namespace) -> int:
    info = overview(ctx.store.snapshot(), ctx.rejects.load())
    emit(Document(lambda: info, lambda: display.render_overview(info)), args.format, ctx.stdout)
    return 0


def customer(ctx: Context, args: argparse.Namespace) -> int:
    display.page(display.render_profile(customer_profile(ctx.store.snapshot(), args.customer_id)), ctx.stdout)
    return 0


def export(ctx: Context, args: argparse.Namespace) -> int:
    for path in export_files(ctx.store.snapshot(), args.directory, args.format, args.force):
        ctx.say(f"wrote {path}")
    return 0


def predict(ctx: Context, args: argparse.Namespace) -> int:
    from . import predict_view  # scipy loads only for this command
    from .predict import predict as fit_and_predict

    orders = ctx.store.snapshot().current()[ev.ORDERS]
    purchases = pd.DataFrame({"customer_id": orders[ev.CUSTOMER_FIELD], "time": orders["created"],
                              "amount": orders["amount"]})
    result = fit_and_predict(purchases, args.calibration_end, args.horizon, args.discount, args.holdout)
    for warning in result.warnings:
        ctx.say(f"warning: {warning}")
    width = shutil.get_terminal_size().columns
    document = Document(lambda: predict_view.as_dict(result, args.top),
                        lambda: predict_view.render_text(result, args.top, width, display.can_draw_unicode(ctx.stdout)),
                        lambda: predict_view.rows_for_csv(result, args.top))
    if emit(document, args.format, ctx.stdout, args.output, display.page):
        ctx.say(f"wrote {args.output}")
    if args.plot:
        predict_view.plot_png(result, args.plot)
        ctx.say(f"wrote {args.plot}")
    return 0


def menu(ctx: Context, args: argparse.Namespace) -> int:
    return run_menu(ctx, COMMANDS)


COMMANDS = {
    "ingest": ingest, "ltv": ltv, "display": display_tables, "reprocess": reprocess, "rejects": rejects,
    "stats": stats, "customer": customer, "export": export, "predict": predict, "menu": menu,
}


def run(ctx: Context, args: argparse.Namespace) -> int:
    return COMMANDS[args.run](ctx, args)
