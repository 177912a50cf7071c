"""What a person sees of the held rejected events: a table that fits the terminal, JSON records, and the
editor they are fixed in."""
from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import textwrap
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import pandas as pd
from tabulate import MIN_PADDING, tabulate

from . import events as ev
from .display import TABLE_FORMAT, can_draw_unicode
from .errors import ClvError
from .output import Document
from .reader import printable
from .rejects import text_of
from .terminal import columns

HEADERS = ("#", "reason", "message", "source", "time", "event")
SHRINKING = ("message", "source", "event")  # cut with an ellipsis to fit; the others keep their width
OPTIONAL = "time"  # left out before the text columns get narrower than ROOMY
ROOMY = 20
NARROWEST = 8
DEFAULT_EDITOR = "vi"


def records(selected: list[tuple[int, dict]]) -> list[dict]:
    """The held events as JSON records, each with its 1-based place among all held events (as `rejects edit`
    numbers them)."""
    return [{"index": place, **held} for place, held in selected]


def rows(selected: list[tuple[int, dict]]) -> pd.DataFrame:
    """The held events as CSV rows: the event as its JSON text (or the raw line)."""
    return pd.DataFrame([{"index": place, "reason": held.get("reason"), "message": held.get("message"),
                          "source": held.get("source"), "position": held.get("position"), "time": held.get("time"),
                          "event": text_of(held)} for place, held in selected],
                        columns=["index", "reason", "message", "source", "position", "time", "event"])


def document(selected: list[tuple[int, dict]], held_count: int, out: TextIO) -> Document:
    """The listing in every format; the table is sized for the terminal when it is drawn."""
    ellipsis = "…" if can_draw_unicode(out) else "..."
    return Document(lambda: records(selected),
                    lambda: render_table(selected, held_count, columns(), ellipsis), lambda: rows(selected))


def _cells(place: int, held: dict) -> dict[str, str]:
    """One row as text; everything that came from a file has its control characters escaped."""
    return {"#": str(place), "reason": printable(str(held.get("reason", ""))),
            "message": printable(str(held.get("message", ""))),
            "source": printable(f"{held.get('source', '')}:{held.get('position', '')}"),
            "time": printable(str(held.get("time", ""))), "event": printable(text_of(held))}


def _table_width(widths: dict[str, int]) -> int:
    """How wide a psql table with these column widths is drawn: '| a | b |'."""
    return sum(widths.values()) + 3 * len(widths) + 1


def _share(natural: dict[str, int], width: int) -> dict[str, int]:
    """Column widths within `width`: the text columns share what the others leave, the shortest served first
    so what it does not need goes to the others."""
    widths = dict(natural)
    shrinking = sorted(SHRINKING, key=natural.__getitem__)
    room = width - _table_width(natural) + sum(natural[c] for c in shrinking)
    for left, column in zip(range(len(shrinking), 0, -1), shrinking):
        widths[column] = max(min(natural[column], NARROWEST), min(natural[column], room // left))
        room -= widths[column]
    return widths


def _layout(natural: dict[str, int], width: int) -> dict[str, int]:
    """The widths to draw; the time column goes first when the message and event would be cut too short."""
    widths = _share(natural, width)
    if any(widths[c] < min(natural[c], ROOMY) for c in SHRINKING):
        widths = _share({c: w for c, w in natural.items() if c != OPTIONAL}, width)
    return widths


def _clip(text: str, width: int, ellipsis: str, keep_end: bool = False) -> str:
    """text within width, cut with an ellipsis (at the start for a path, whose end says most)."""
    if len(text) <= width:
        return text
    keep = max(width - len(ellipsis), 0)
    return ellipsis + text[len(text) - keep:] if keep_end else text[:keep] + ellipsis


def _by_reason(selected: list[tuple[int, dict]]) -> str:
    counts = Counter(str(held.get("reason")) for _, held in selected)
    order = [c for c in ev.REJECTION_CODES if counts[c]] + sorted(set(counts) - set(ev.REJECTION_CODES))
    return ", ".join(f"{code} {counts[code]:,}" for code in order)


def render_table(selected: list[tuple[int, dict]], held_count: int, width: int, ellipsis: str = "…") -> str:
    """The held events as a table no wider than width (when it can be), then counts by reason and of matches."""
    if held_count == 0:
        return "no rejected events are held\n"
    lines = []
    if selected:
        rows = [_cells(place, held) for place, held in selected]
        natural = {h: max(len(h) + MIN_PADDING, *(len(row[h]) for row in rows)) for h in HEADERS}
        widths = _layout(natural, width)
        shown = [[_clip(row[h], widths[h], ellipsis, keep_end=h == "source") for h in widths] for row in rows]
        lines.append(tabulate(shown, headers=list(widths), tablefmt=TABLE_FORMAT, disable_numparse=True,
                              colalign=["right" if h == "#" else "left" for h in widths]))
        left_out = [h for h in HEADERS if h not in widths]
        if left_out:
            lines.append(textwrap.fill(f"columns not shown, to fit {width} characters: {', '.join(left_out)} "
                                       "(--format json or csv has it)", max(width, ROOMY), subsequent_indent="  "))
        lines.append(textwrap.fill(f"by reason: {_by_reason(selected)}", max(width, ROOMY), subsequent_indent="  "))
    noun = "event" if held_count == 1 else "events"
    verb = "matches" if len(selected) == 1 else "match"
    lines.append(f"{len(selected):,} of {held_count:,} held rejected {noun} {verb}")
    return "\n".join(lines) + "\n"


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, else vi, split as a shell would (so "code --wait" works)."""
    for name in ("VISUAL", "EDITOR"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise ClvError(f"cannot use ${name} ({value!r}): {exc}; nothing was changed") from None
    return [DEFAULT_EDITOR]


def _run_editor(path: Path) -> None:
    """The editor on the file, on this terminal; one line and nothing changed when it fails."""
    command = editor_command()
    try:
        status = subprocess.run([*command, str(path)], check=False).returncode
    except OSError as exc:
        raise ClvError(f"cannot start the editor {command[0]!r}: {exc.strerror or exc}; nothing was changed") from None
    if status != 0:
        raise ClvError(f"the editor {shlex.join(command)!r} exited with status {status}; nothing was changed")


def _read(path: Path) -> str:
    """The edited text, with its line ends as written (a lone carriage return inside a raw line is not a line end)."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClvError(f"the edited file is not UTF-8 (byte {exc.start + 1}); nothing was changed") from None
    except OSError as exc:
        raise ClvError(f"cannot read the edited file: {exc.strerror or exc}; nothing was changed") from None


@contextmanager
def edited(text: str) -> Iterator[str]:
    """The text as a person left it in their editor. The temporary file is removed once the block is done,
    and kept (and named) when the edits cannot be read or committed, so they are not lost."""
    descriptor, name = tempfile.mkstemp(prefix="clv-rejects-", suffix=".jsonl")
    path = Path(name)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
        out.write(text)
    try:
        _run_editor(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    try:
        yield _read(path)
    except ClvError as exc:
        raise ClvError(f"{exc}; your edits are kept in {path}" if path.exists() else str(exc)) from None
    path.unlink(missing_ok=True)
