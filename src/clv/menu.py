"""The interactive menu: numbers or names, Ctrl-C cancels an action, Ctrl-D leaves."""
from __future__ import annotations

import sys
from typing import Callable

from . import display
from .cli import Context, run_customer, run_display, run_export, run_ingest, run_ltv, run_reprocess, run_stats
from .errors import ClvError
from .export import FilesExist
from .prompt import enable_line_editing, paths_completed, pasted_paths, positive_int

EXIT = "Exit"


def _ask(text: str) -> str:
    """input() that flushes first, so piped sessions read naturally."""
    sys.stdout.flush()
    return input(text)


def ingest_action(ctx: Context) -> None:
    with paths_completed():
        paths = pasted_paths(_ask("Path of the event file or directory (empty to go back): "))
    if paths:
        run_ingest(ctx, paths)


def ltv_action(ctx: Context) -> None:
    while True:
        answer = _ask("How many top customers (X)? ").strip()
        if not answer:
            return
        try:
            x = positive_int(answer)
        except ValueError as exc:
            print(f"{exc}; try again, or press Enter to go back", file=sys.stderr)
            continue
        run_ltv(ctx, x)
        return


def display_action(ctx: Context) -> None:
    run_display(ctx, [], display.DEFAULT_LIMIT)


def reprocess_action(ctx: Context) -> None:
    run_reprocess(ctx)


def overview_action(ctx: Context) -> None:
    run_stats(ctx)


def customer_action(ctx: Context) -> None:
    answer = _ask("Customer id (empty to go back): ").strip()
    if answer:
        run_customer(ctx, answer)


def export_action(ctx: Context) -> None:
    with paths_completed():
        paths = pasted_paths(_ask("Directory to export to (empty to go back): "))
    if not paths:
        return
    fmt = _ask("Format, csv or parquet [csv]: ").strip().lower() or "csv"
    try:
        run_export(ctx, paths[0], fmt)
    except FilesExist as exc:
        question = f"{exc.paths[0]} and {len(exc.paths) - 1} more exist" if len(exc.paths) > 1 else \
            f"{exc.paths[0]} exists"
        if _ask(f"{question}; overwrite? [y/N] ").strip().lower() in ("y", "yes"):
            run_export(ctx, paths[0], fmt, force=True)


# The seed's four options keep their numbers; further options follow Exit.
OPTIONS: list[tuple[str, Callable[[Context], None] | None]] = [
    ("Ingest", ingest_action),
    ("LTV", ltv_action),
    ("Display", display_action),
    (EXIT, None),
    ("Reprocess", reprocess_action),
    ("Overview", overview_action),
    ("Customer", customer_action),
    ("Export", export_action),
]


def menu_text() -> str:
    return "  ".join(f"{number}. {name}" for number, (name, _) in enumerate(OPTIONS, 1))


def choose(answer: str) -> tuple[str, Callable[[Context], None] | None] | None:
    """The option a person meant, by number or by name in any case."""
    answer = answer.strip().lower()
    for number, (name, action) in enumerate(OPTIONS, 1):
        if answer in (str(number), name.lower()):
            return name, action
    return None


def run_menu(ctx: Context) -> int:
    """Loop until Exit or end of input; errors and Ctrl-C bring the menu back."""
    enable_line_editing()
    print(f"Customer lifetime value — store: {ctx.store.location}")
    while True:
        print()
        print(menu_text())
        try:
            answer = _ask("Choose an option: ")
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            print("\n(choose 4 or press Ctrl-D to leave)")
            continue
        chosen = choose(answer)
        if chosen is None:
            if answer.strip():
                print(f"'{answer.strip()}' is not an option; type a number from 1 to {len(OPTIONS)} or a name",
                      file=sys.stderr)
            continue
        name, action = chosen
        if action is None:
            return 0
        try:
            action(ctx)
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            print("\ncancelled; the store is as it was")
        except ClvError as exc:
            print(f"error: {exc}", file=sys.stderr)
