"""Where results go and in which format: one registry of renderers, one writer.

A command describes its result once (a Document); each --format choice is
one entry of RENDERERS, so a new output format is one line here.
"""
from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import orjson
import pandas as pd

from .atomic import staged
from .errors import ClvError


@dataclass
class Document:
    """A command's result: machine-readable data, the text a person reads, and rows for CSV where they fit."""

    data: Callable[[], object]
    text: Callable[[], str]
    rows: Callable[[], pd.DataFrame] | None = None


def as_json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n"


def frame_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: missing values become null."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _csv(document: Document) -> str:
    if document.rows is None:
        raise ClvError("this result has no rows to write as CSV; use --format json")
    buffer = io.StringIO()
    document.rows().to_csv(buffer, index=False)
    return buffer.getvalue()


RENDERERS: dict[str, Callable[[Document], str]] = {
    "text": lambda document: document.text(),
    "table": lambda document: document.text(),
    "json": lambda document: as_json(document.data()),
    "jsonl": lambda document: "".join(orjson.dumps(item).decode() + "\n" for item in document.data()),
    "csv": _csv,
}


def render(document: Document, fmt: str) -> str:
    return RENDERERS[fmt](document)


def write_file(text: str, output: str) -> None:
    """Write text to a path: a regular file (or a new one) is replaced atomically; a symlink, pipe or device is
    written through, never replaced."""
    path = Path(output)
    try:
        mode = os.stat(path).st_mode if path.exists() else None
        if mode is not None and (path.is_symlink() or not stat.S_ISREG(mode)):
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
            return
        with staged(path) as temporary:
            temporary.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ClvError(f"cannot write {output}: {exc.strerror or exc}") from None


def emit(document: Document, fmt: str, out: TextIO, output: str | None = None,
         show: Callable[[str, TextIO], None] | None = None) -> bool:
    """Print (or, with output, write) the document in fmt; True when it went to a file."""
    text = render(document, fmt)
    if output is not None and output != "-":
        write_file(text, output)
        return True
    (show or _write)(text, out)
    return False


def _write(text: str, out: TextIO) -> None:
    out.write(text)
    out.flush()
