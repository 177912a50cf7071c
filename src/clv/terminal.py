"""What reaches a terminal: the one escaping stream, the width tables fit, and text widths.

Nothing that comes from a file, an argument or a prompt reaches a terminal with
its control characters raw. `clv.cli.main` wraps stdout and stderr in an
EscapingStream, which writes every C0 control (but the newline and tab of the
tool's own layout), DEL and every C1 control as an escape like \\x1b, and a byte
that was not UTF-8 (a lone surrogate) as \\xff. Single values that go into a
table cell or a one-line message are escaped whole, newlines and tabs included,
with `escape`.

This module imports nothing heavy: the command line wraps its streams before
it knows which command runs.
"""
from __future__ import annotations

import io
import re
import shutil
import unicodedata
from typing import TextIO

FALLBACK_COLUMNS = 80
NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# C0 controls, DEL, C1 controls and lone surrogates (bytes that were not UTF-8).
_EVERY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_LAYOUT_KEPT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code > 0xFF:
        return f"\\u{code:04x}"
    return NAMED.get(char, f"\\x{code:02x}")


def escape(text: str) -> str:
    """One value, safe on one line of a terminal: every control character and undecodable byte escaped."""
    return _EVERY_CONTROL.sub(_escaped, text)


def escape_layout(text: str) -> str:
    """Text for a terminal: controls escaped except the newlines and tabs that lay it out."""
    return _LAYOUT_KEPT.sub(_escaped, text)


def clip_text(text: str, most: int) -> str:
    """A value for a message: escaped, and cut after `most` characters with the length said."""
    shown = escape(text)
    return shown if len(shown) <= most else f"{shown[:most]}… ({len(text):,} characters)"


class EscapingStream(io.TextIOBase):
    """A text stream in front of another that escapes what a terminal would act on.

    It answers isatty(), encoding and fileno() as the stream behind it does, so
    paging, the progress bar and the Unicode check still see the real terminal;
    `wrapped` is that stream, for the progress bar's carriage returns. Text the
    stream's encoding cannot hold is written with backslash escapes, never a
    UnicodeEncodeError.
    """

    def __init__(self, wrapped: TextIO) -> None:
        super().__init__()
        self.wrapped = wrapped

    def write(self, text: str) -> int:
        safe = escape_layout(text)
        try:
            self.wrapped.write(safe)
        except UnicodeEncodeError:
            encoding = self.encoding or "ascii"
            self.wrapped.write(safe.encode(encoding, "backslashreplace").decode(encoding))
        return len(text)

    def flush(self) -> None:
        self.wrapped.flush()

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    def fileno(self) -> int:
        return self.wrapped.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str | None:  # type: ignore[override]
        return getattr(self.wrapped, "encoding", None)

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.wrapped, "errors", None)

    def close(self) -> None:  # the wrapped stream belongs to the caller
        pass


def escaping(stream: TextIO) -> TextIO:
    """The stream behind an escaping stream (once), so wrapping twice changes nothing."""
    return stream if isinstance(stream, EscapingStream) else EscapingStream(stream)


def raw(stream: TextIO) -> TextIO:
    """The real stream behind an escaping one (for the progress bar, the pager and readline)."""
    return stream.wrapped if isinstance(stream, EscapingStream) else stream


def columns() -> int:
    """How wide output may be: the terminal's width, or $COLUMNS, or 80 when output is not a terminal."""
    return shutil.get_terminal_size((FALLBACK_COLUMNS, 24)).columns or FALLBACK_COLUMNS


def width(text: str) -> int:
    """How many terminal cells text takes: wide East Asian characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def cut(text: str, cells: int, ellipsis: str = "…", keep_end: bool = False) -> str:
    """text within `cells` terminal cells, the cut marked with the ellipsis (at the start when keep_end, so a
    path keeps its file name)."""
    if width(text) <= cells:
        return text
    room = max(cells - width(ellipsis), 0)
    kept: list[str] = []
    used = 0
    for char in (reversed(text) if keep_end else text):
        used += width(char)
        if used > room:
            break
        kept.append(char)
    return ellipsis + "".join(reversed(kept)) if keep_end else "".join(kept) + ellipsis


def can_encode(stream: TextIO, sample: str) -> bool:
    """Whether the stream's encoding can show these characters."""
    try:
        sample.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
