"""Reading what a person types or pastes at a prompt."""
from __future__ import annotations

import glob
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager

QUOTES = "'\""


def _expand(text: str) -> str:
    return os.path.expandvars(os.path.expanduser(text))


def pasted_paths(text: str) -> list[str]:
    """Paths as a person pastes them: trimmed, unquoted, ~ and $VARS expanded, '\\ ' taken as a space.

    A pasted path with plain spaces that names an existing file is taken as
    one path; otherwise the text is split like a shell would, so several
    paths can be given at once.
    """
    text = text.strip()
    if not text:
        return []
    whole = text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in QUOTES else text
    if os.path.exists(_expand(whole)):
        return [_expand(whole)]
    try:
        parts = shlex.split(text)
    except ValueError:
        return [_expand(whole)]
    return [_expand(part) for part in parts]


def positive_int(text: str, what: str = "X") -> int:
    """A positive whole number, or ValueError with a message fit to show."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    if not cleaned.isdigit() or int(cleaned) < 1:
        raise ValueError(f"{what} must be a positive whole number, got {text.strip()!r}")
    return int(cleaned)


def enable_line_editing() -> None:
    """Arrow keys and history at every prompt, when a person is typing (readline is not on every platform)."""
    if not sys.stdin.isatty():
        return
    try:
        import readline
    except ImportError:
        return
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    readline.set_completer_delims("\t\n")


def complete_path(text: str, state: int) -> str | None:
    """readline completer: the paths that start with what was typed so far (~ and $VARS understood)."""
    stripped = text.lstrip("'\"")
    expanded = _expand(stripped)
    matches = sorted(glob.glob(expanded + "*"))
    if expanded != stripped:
        matches = [stripped + m[len(expanded):] for m in matches]
    shown = [m + os.sep if os.path.isdir(_expand(m)) else m for m in matches]
    return shown[state] if state < len(shown) else None


@contextmanager
def paths_completed() -> Iterator[None]:
    """Tab completes file paths while the block runs (and nothing else does afterwards)."""
    try:
        import readline
    except ImportError:
        yield
        return
    previous = readline.get_completer()
    readline.set_completer(complete_path)
    try:
        yield
    finally:
        readline.set_completer(previous)
