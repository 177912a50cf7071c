"""The interactive menu: numbers or names, Ctrl-C cancels an action, Ctrl-D leaves.

Every option runs the same command function as the command line, given the
arguments the prompts collected; the menu knows the commands only through the
table it is handed.
"""
from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Callable
from typing import TextIO

from .defaults import DISPLAY_LIMIT
from .errors import ClvError
from .export import FilesExist
from .prompt import enable_line_editing, pasted_paths, paths_completed, positive_int

Command = Callable[[object, Namespace], int]
EXIT = "Exit"


class Prompter:
    """Questions on the context's streams; input() (with line editing) when they are the real terminal."""

    def __init__(self, stdin: TextIO, stdout: TextIO) -> None:
        self.stdin, self.stdout = stdin, stdout

    def ask(self, text: str) -> str:
        self.stdout.flush()
        if self.stdin is sys.stdin and self.stdout is sys.stdout:
            return input(text)
        self.stdout.write(text)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")


def ingest_action(ctx, commands: dict[str, Command], ask: Callable[[str], str]) -> None:
    with paths_completed():
        paths = pasted_paths(ask("Path of the event file or directory (empty to go back): "))
    if paths:
        commands["ingest"](ctx, Namespace(paths=paths, format="text"))


def _whole_number(ctx, ask: Callable[[str], str], question: str) -> int | None:
    """A positive whole number, asked again until it is one; None when the answer is empty."""
    while True:
        answer = ask(question).strip()
        if not answer:
            return None
        try:
            return positive_int(answer)
        except ValueError as exc:
            ctx.say(f"{exc}; try again, or press Enter to go back")


def ltv_action(ctx, commands: dict[str, Command], ask: Callable[[str], str]) -> None:
    x = _whole_number(ctx, ask, "How many top customers (X)? ")
    if x is not None:
        commands["ltv"](ctx, Namespace(x=x, format="table", output=None))


def display_action(ctx, commands: dict[str, Command], ask: Callable[[str], str]) -> None:
    commands["display"](ctx, Namespace(tables=[], limit=DISPLAY_LIMIT))


def reprocess_action(ctx, commands: dict[str, Command], ask: Callable[[str], str]) -> None:
    commands["reprocess"](ctx, Namespace(format="text"))


def overview_action(ctx, commands: dict[str, Command], ask: Callable[[str], str]) -> None:
    commands["stats"](ctx, Namespace(format="text"))


def customer_action(ctx, commands: dict[str, Command], ask: Callable[[str], str]) -> None:
    answer = ask("Customer id (empty to go back): ").strip()
    if answer:
        commands["customer"](ctx, Namespace(customer_id=answer))


def export_action(ctx, commands: dict[str, Command], ask: Callable[[str], str]) -> None:
    with paths_completed():
        paths = pasted_paths(ask("Directory to export to (empty to go back): "))
    if not paths:
        return
    fmt = ask("Format, csv or parquet [csv]: ").strip().lower() or "csv"
    try:
        commands["export"](ctx, Namespace(directory=paths[0], format=fmt, force=False))
    except FilesExist as exc:
        question = f"{exc.paths[0]} and {len(exc.paths) - 1} more exist" if len(exc.paths) > 1 else \
            f"{exc.paths[0]} exists"
        if ask(f"{question}; overwrite? [y/N] ").strip().lower() in ("y", "yes"):
            commands["export"](ctx, Namespace(directory=paths[0], format=fmt, force=True))


def rejects_action(ctx, commands: dict[str, Command], ask: Callable[[str], str]) -> None:
    def rejects(action: str | None) -> None:
        commands["rejects"](ctx, Namespace(action=action, reason=None, source=None, contains=None, format="table",
                                           reprocess=None, ask=ask))

    rejects(None)
    if ctx.rejects.load() and ask("Edit them now? [y/N] ").strip().lower() in ("y", "yes"):
        rejects("edit")


def predict_action(ctx, commands: dict[str, Command], ask: Callable[[str], str]) -> None:
    top = _whole_number(ctx, ask, "How many top customers (X)? ")
    if top is None:
        return
    holdout = _whole_number(ctx, ask, "Holdout weeks to check the model against (Enter for none)? ")
    commands["predict"](ctx, Namespace(calibration_end=None, holdout=holdout, horizon=52, top=top, discount=0.10,
                                       format="table", output=None, plot=None))


Action = Callable[[object, dict[str, Command], Callable[[str], str]], None]
# The seed's four options keep their numbers; further options follow Exit.
OPTIONS: list[tuple[str, Action | None]] = [
    ("Ingest", ingest_action),
    ("LTV", ltv_action),
    ("Display", display_action),
    (EXIT, None),
    ("Reprocess", reprocess_action),
    ("Overview", overview_action),
    ("Customer", customer_action),
    ("Export", export_action),
    ("Rejects", rejects_action),
    ("Predict", predict_action),
]


def menu_text() -> str:
    return "  ".join(f"{number}. {name}" for number, (name, _) in enumerate(OPTIONS, 1))


def choose(answer: str) -> tuple[str, Action | None] | None:
    """The option a person meant, by number or by name in any case."""
    answer = answer.strip().lower()
    for number, (name, action) in enumerate(OPTIONS, 1):
        if answer in (str(number), name.lower()):
            return name, action
    return None


def run_menu(ctx, commands: dict[str, Command]) -> int:
    """Loop until Exit or end of input; errors and Ctrl-C bring the menu back."""
    if ctx.stdin is sys.stdin:
        enable_line_editing()
    ask = Prompter(ctx.stdin, ctx.stdout).ask
    out = ctx.stdout
    print(f"Customer lifetime value — store: {ctx.store.location}", file=out)
    while True:
        print(file=out)
        print(menu_text(), file=out)
        try:
            answer = ask("Choose an option: ")
        except EOFError:
            print(file=out)
            return 0
        except KeyboardInterrupt:
            print("\n(choose 4 or press Ctrl-D to leave)", file=out)
            continue
        chosen = choose(answer)
        if chosen is None:
            if answer.strip():
                ctx.say(f"'{answer.strip()}' is not an option; type a number from 1 to {len(OPTIONS)} or a name")
            continue
        _name, action = chosen
        if action is None:
            return 0
        try:
            action(ctx, commands, ask)
        except EOFError:
            print(file=out)
            return 0
        except KeyboardInterrupt:
            print("\ncancelled; the store is as it was", file=out)
        except ClvError as exc:
            ctx.say(f"error: {exc}")
