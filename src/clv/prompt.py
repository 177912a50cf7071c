"""Reading what a person types or pastes at a prompt: paths, whole numbers, and line editing.

In a terminal every prompt has its own history (Up at the menu brings back
menu answers, never a path) and its own Tab completion: file paths at the path
prompts, customer ids at the customer prompt, nothing elsewhere.
"""
from __future__ import annotations

import bisect
import glob
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

QUOTES = "'\""
LONGEST_PATH = 4096  # PATH_MAX on Linux: a longer answer at a path prompt is not a path
LONGEST_NUMBER = 18
HISTORY_KEPT = 200
Completer = Callable[[str, int], "str | None"]


def _expand(text: str) -> str:
    return os.path.expandvars(os.path.expanduser(text))


def path_exists(path: str) -> bool:
    try:
        return os.path.exists(path)
    except (ValueError, OSError):  # a NUL byte, or a name the system cannot take
        return False


def pasted_paths(text: str) -> list[str]:
    """Paths as a person pastes them: trimmed, unquoted, ~ and $VARS expanded, '\\ ' taken as a space.

    A pasted path with plain spaces that names an existing file is taken as
    one path; otherwise the text is split like a shell would, so several
    paths can be given at once. An answer longer than LONGEST_PATH is refused
    (ValueError with a message fit to show) before any of that: it is not a
    path, and splitting a megabyte like a shell would take seconds.
    """
    text = text.strip()
    if not text:
        return []
    if len(text) > LONGEST_PATH:
        raise ValueError(f"that answer is {len(text):,} characters long; a path has at most {LONGEST_PATH:,}")
    whole = text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in QUOTES else text
    if path_exists(_expand(whole)):
        return [_expand(whole)]
    try:
        parts = shlex.split(text)
    except ValueError:
        return [_expand(whole)]
    return [_expand(part) for part in parts]


def shown(text: str, most: int = 40) -> str:
    """An answer quoted in a message: its repr, cut after `most` characters."""
    text = text.strip()
    return repr(text) if len(text) <= most else repr(text[:most]) + f"… ({len(text):,} characters)"


def positive_int(text: str, what: str = "X") -> int:
    """A positive whole number, or ValueError with a message fit to show."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    digits = cleaned.lstrip("0")
    if not (cleaned.isascii() and cleaned.isdigit()) or not digits:
        raise ValueError(f"{what} must be a positive whole number, got {shown(text)}")
    if len(digits) > LONGEST_NUMBER:
        raise ValueError(f"{what} must be a positive whole number below 10^{LONGEST_NUMBER}, got {shown(text)}")
    return int(digits)


def complete_path(text: str, state: int) -> str | None:
    """readline completer: the paths that start with what was typed so far (~ and $VARS understood)."""
    stripped = text.lstrip("'\"")
    expanded = _expand(stripped)
    matches = sorted(glob.glob(glob.escape(expanded) + "*"))
    if expanded != stripped:
        matches = [stripped + m[len(expanded):] for m in matches]
    offered = [m + os.sep if os.path.isdir(_expand(m)) else m for m in matches]
    return offered[state] if state < len(offered) else None


def completer_of(words: Callable[[], list[str]]) -> Completer:
    """A readline completer over a sorted list of words, fetched on the first Tab only."""
    cache: list[list[str]] = []

    def complete(text: str, state: int) -> str | None:
        if not cache:
            cache.append(sorted(words()))
        known = cache[0]
        start = bisect.bisect_left(known, text)
        index = start + state
        return known[index] if index < len(known) and known[index].startswith(text) else None

    return complete


def _nothing(text: str, state: int) -> None:
    return None


class LineEditor:
    """readline for the menu's prompts in a terminal: one history per prompt, completion only where asked.

    Without readline (or off a terminal) it does nothing, and input() still works.
    """

    def __init__(self) -> None:
        self.histories: dict[str, list[str]] = {}
        self.readline = None
        if not sys.stdin.isatty():
            return
        try:
            import readline
        except ImportError:
            return
        self.readline = readline
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")
        readline.set_completer_delims("\t\n")
        readline.set_auto_history(False)
        readline.set_completer(_nothing)  # without a completer, readline would complete file names everywhere

    @contextmanager
    def prompt(self, history: str, complete: Completer | None = None) -> Iterator[None]:
        """While asking one question: that question's history, and its completion (or none)."""
        readline = self.readline
        if readline is None:
            yield
            return
        readline.clear_history()
        for line in self.histories.get(history, []):
            readline.add_history(line)
        readline.set_completer(complete or _nothing)
        try:
            yield
        finally:
            readline.set_completer(_nothing)

    def remember(self, history: str, answer: str) -> None:
        if self.readline is None or not answer.strip() or len(answer) > LONGEST_PATH:
            return
        lines = self.histories.setdefault(history, [])
        if not lines or lines[-1] != answer:
            lines.append(answer)
            del lines[:-HISTORY_KEPT]
