"""The interactive menu: numbers or names, Ctrl-C cancels an action, Ctrl-D leaves.

Every option runs the same command function as the command line, given the
arguments the prompts collected; the menu knows the commands only through the
table it is handed. Every prompt asks again after a wrong answer (an empty
answer goes back to the menu).
"""
from __future__ import annotations

import difflib
import sys
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from .defaults import DISPLAY_LIMIT, EXPORT_FORMATS
from .errors import ClvError
from .export import FilesExist
from .prompt import (
    LONGEST_PATH,
    LineEditor,
    complete_path,
    completer_of,
    pasted_paths,
    path_exists,
    positive_int,
    shown,
)
from .terminal import can_encode, columns, cut, escape, escape_layout, raw

Command = Callable[[object, Namespace], int]
Ask = Callable[..., str]
EXIT = "Exit"
AGAIN = "try again, or press Enter to go back"


class Prompter:
    """Questions on the context's streams; input() (with line editing) when they are the real terminal."""

    def __init__(self, stdin: TextIO, stdout: TextIO) -> None:
        self.stdin, self.stdout = stdin, stdout
        self._editor: LineEditor | None = None

    def ask(self, text: str, history: str | None = None, complete=None) -> str:
        """One answer; `history` names the prompt's own history (default: the question), `complete` is its
        Tab completion (default: none)."""
        self.stdout.flush()
        if self.stdin is sys.stdin and raw(self.stdout) is sys.stdout:
            if self._editor is None:
                self._editor = LineEditor()
            with self._editor.prompt(history or text, complete):
                answer = input(escape_layout(text))
            self._editor.remember(history or text, answer)
            return answer
        self.stdout.write(text)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")


def yes_no(ctx, ask: Ask, question: str, default: bool) -> bool:
    """y/yes or n/no in any case, Enter for the default; anything else is asked again."""
    while True:
        answer = ask(question, history="yes-no").strip().lower()
        if not answer:
            return default
        if answer in ("y", "yes", "n", "no"):
            return answer.startswith("y")
        ctx.say(f"please answer y or n, got {shown(answer)}")


def _paths(ctx, ask: Ask, question: str, history: str, must_exist: bool) -> list[str] | None:
    """Paths pasted at a prompt, asked again until they are usable; None when the answer is empty."""
    while True:
        try:
            paths = pasted_paths(ask(question, history=history, complete=complete_path))
        except ValueError as exc:
            ctx.say(f"{exc}; {AGAIN}")
            continue
        if not paths:
            return None
        missing = [p for p in paths if must_exist and p != "-" and not path_exists(p)]
        if missing and len(missing) == len(paths):  # nothing to do: ask again (one good path of several runs)
            ctx.say(f"{escape(missing[0])}: no such file or directory; {AGAIN}")
            continue
        return paths


def ingest_action(ctx, commands: dict[str, Command], ask: Ask) -> None:
    paths = _paths(ctx, ask, "Path of the event file or directory (empty to go back): ", "ingest path", True)
    if paths:
        commands["ingest"](ctx, Namespace(paths=paths, format="text"))


def _whole_number(ctx, ask: Ask, question: str) -> int | None:
    """A positive whole number, asked again until it is one; None when the answer is empty."""
    while True:
        answer = ask(question, history=question).strip()
        if not answer:
            return None
        try:
            return positive_int(answer)
        except ValueError as exc:
            ctx.say(f"{exc}; {AGAIN}")


def ltv_action(ctx, commands: dict[str, Command], ask: Ask) -> None:
    x = _whole_number(ctx, ask, "How many top customers (X)? ")
    if x is not None:
        commands["ltv"](ctx, Namespace(x=x, format="table", output=None))


def display_action(ctx, commands: dict[str, Command], ask: Ask) -> None:
    commands["display"](ctx, Namespace(tables=[], limit=DISPLAY_LIMIT, format="table"))


def reprocess_action(ctx, commands: dict[str, Command], ask: Ask) -> None:
    commands["reprocess"](ctx, Namespace(format="text"))


def stats_action(ctx, commands: dict[str, Command], ask: Ask) -> None:
    commands["stats"](ctx, Namespace(format="text"))


def _known_ids(ctx) -> list[str]:

    return [str(i) for i in ctx.store.snapshot().totals().ids]


def customer_action(ctx, commands: dict[str, Command], ask: Ask) -> None:
    from .profile import UnknownCustomer

    complete = completer_of(lambda: _known_ids(ctx))
    while True:
        answer = ask("Customer id (empty to go back): ", history="customer", complete=complete).strip()
        if not answer:
            return
        if len(answer) > LONGEST_PATH:
            ctx.say(f"that answer is {len(answer):,} characters long; no customer id is that long; {AGAIN}")
            continue
        try:
            commands["customer"](ctx, Namespace(customer_id=answer, format="text"))
            return
        except UnknownCustomer as exc:
            ctx.say(f"{exc}; {AGAIN}")


def export_action(ctx, commands: dict[str, Command], ask: Ask) -> None:
    while True:
        paths = _paths(ctx, ask, "Directory to export to (empty to go back): ", "export directory", False)
        if paths is None:
            return
        if len(paths) == 1:
            break
        ctx.say(f"give one directory, got {len(paths)} paths (quote a name with spaces); {AGAIN}")
    while True:
        fmt = ask(f"Format, {' or '.join(EXPORT_FORMATS)} [{EXPORT_FORMATS[0]}]: ", history="export format")
        fmt = fmt.strip().lower() or EXPORT_FORMATS[0]
        if fmt in EXPORT_FORMATS:
            break
        ctx.say(f"the format is {' or '.join(EXPORT_FORMATS)}, got {shown(fmt)}; try again")
    try:
        commands["export"](ctx, Namespace(directory=paths[0], format=fmt, force=False))
    except FilesExist as exc:
        question = f"{exc.paths[0]} and {len(exc.paths) - 1} more exist" if len(exc.paths) > 1 else \
            f"{exc.paths[0]} exists"
        if yes_no(ctx, ask, f"{question}; overwrite? [y/N] ", default=False):
            commands["export"](ctx, Namespace(directory=paths[0], format=fmt, force=True))


def rejects_action(ctx, commands: dict[str, Command], ask: Ask) -> None:
    def rejects(action: str | None) -> None:
        commands["rejects"](ctx, Namespace(action=action, reason=None, source=None, contains=None, format="table",
                                           reprocess=None, ask=ask))

    rejects(None)
    if ctx.store.snapshot().held and yes_no(ctx, ask, "Edit them now? [y/N] ", default=False):
        rejects("edit")


def predict_action(ctx, commands: dict[str, Command], ask: Ask) -> None:
    top = _whole_number(ctx, ask, "How many top customers (X)? ")
    if top is None:
        return
    holdout = _whole_number(ctx, ask, "Holdout weeks to check the model against (Enter for none)? ")
    commands["predict"](ctx, Namespace(calibration_end=None, holdout=holdout, horizon=52, top=top, discount=0.10,
                                       format="table", output=None, plot=None))


Action = Callable[[object, dict[str, Command], Ask], None]


@dataclass(frozen=True)
class Option:
    name: str
    action: Action | None
    help: str
    aliases: tuple[str, ...] = ()


# The seed's four options keep their numbers; further options follow Exit. Each name is its command's name
# (Stats also answers to "overview", Exit to q, quit and Ctrl-D).
OPTIONS: list[Option] = [
    Option("Ingest", ingest_action, "load event files or folders into the store"),
    Option("LTV", ltv_action, "the top X customers by lifetime value, and how LTV is spread"),
    Option("Display", display_action, "show the four tables of the store"),
    Option(EXIT, None, "leave (also q, quit or Ctrl-D)", ("q", "quit")),
    Option("Reprocess", reprocess_action, "run the held rejected events through ingestion again"),
    Option("Stats", stats_action, "what the store holds, at a glance (also: overview)", ("overview",)),
    Option("Customer", customer_action, "one customer: fields, orders, activity and LTV rank"),
    Option("Export", export_action, "write the tables and the full LTV ranking to CSV or Parquet files"),
    Option("Rejects", rejects_action, "list the held rejected events, and fix them in an editor"),
    Option("Predict", predict_action, "predicted CLV from the orders (BG/NBD and Gamma-Gamma)"),
]
HELP_WORDS = ("help", "?")


def menu_text(width: int | None = None) -> str:
    """The options on as many lines as the width needs (two at 80 columns)."""
    width = width or columns()
    items = [f"{number}. {option.name}" for number, option in enumerate(OPTIONS, 1)] + ["? Help"]
    lines = [items[0]]
    for item in items[1:]:
        if len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += "  " + item
        else:
            lines.append(item)
    return "\n".join(lines)


def help_text() -> str:
    name_width = max(len(option.name) for option in OPTIONS)
    lines = [f"{number:>2}. {option.name:<{name_width}}  {option.help}" for number, option in enumerate(OPTIONS, 1)]
    lines.append("Type a number or a name, in any case; Ctrl-C cancels an action, Ctrl-D leaves.")
    return "\n".join(lines)


def choose(answer: str) -> tuple[str, Action | None] | None:
    """The option a person meant, by number, name or alias, in any case."""
    answer = answer.strip().lower()
    for number, option in enumerate(OPTIONS, 1):
        if answer in (str(number), option.name.lower(), *option.aliases):
            return option.name, option.action
    return None


def _suggestion(answer: str) -> str:
    if len(answer) > 40:
        return ""
    names = [option.name.lower() for option in OPTIONS] + [a for option in OPTIONS for a in option.aliases]
    close = difflib.get_close_matches(answer.strip().lower(), names, n=1, cutoff=0.6)
    if not close:
        return ""
    name = next(o.name for o in OPTIONS if close[0] in (o.name.lower(), *o.aliases))
    return f"; did you mean {name}?"


def run_menu(ctx, commands: dict[str, Command]) -> int:
    """Loop until Exit or end of input; errors and Ctrl-C bring the menu back."""
    ask = Prompter(ctx.stdin, ctx.stdout).ask
    out = ctx.stdout
    title = "Customer lifetime value — store: "
    dots = "…" if can_encode(out, "…") else "..."
    print(title + cut(escape(ctx.store.location), max(columns() - len(title), 20), dots, keep_end=True), file=out)
    while True:
        print(file=out)
        print(menu_text(), file=out)
        try:
            answer = ask("Choose an option: ", history="menu")
        except EOFError:
            print(file=out)
            return 0
        except KeyboardInterrupt:
            print("\n(choose 4 or press Ctrl-D to leave)", file=out)
            continue
        if answer.strip().lower() in HELP_WORDS:
            print(help_text(), file=out)
            continue
        chosen = choose(answer)
        if chosen is None:
            if answer.strip():
                ctx.say(f"{shown(answer)} is not an option; type a number from 1 to {len(OPTIONS)}, a name, or ? "
                        f"for help{_suggestion(answer)}")
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
