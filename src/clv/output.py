"""Where results go and in which format: one registry of renderers, one writer, one number policy.

A command describes its result once (a Document); each --format choice is
one entry of RENDERERS, so a new output format is one line here.

Numbers for machines: CSV writes money in cents (2 decimals) and other
fractions to six places; JSON writes the full, unrounded value without float
noise (60420.200000000004 is written 60420.2, 1/3 stays 0.3333333333333333),
so rounding a JSON number as CSV does gives the CSV cell. Instants are ISO 8601 UTC with microseconds in both
(`clv.timefmt.iso_column`). A CSV text cell never starts a formula (`csv_safe`).
"""
from __future__ import annotations

import io
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import orjson
import pandas as pd

from .atomic import staged
from .errors import ClvError, UsageError
from .timefmt import iso_column

MONEY = ("amount", "total_revenue", "revenue_per_visit", "weekly_value", "ltv", "monetary_value", "expected_spend",
         "expected_revenue", "predicted_clv")
MONEY_DECIMALS = 2
FRACTION_DECIMALS = 6
TIMESPEC = "microseconds"  # the one form of an instant in CSV and JSON
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SIGNIFICANT = 15  # digits a double always holds exactly: beyond them is the noise of binary fractions


@dataclass
class Document:
    """A command's result: machine-readable data, the text a person reads, and rows for CSV where they fit."""

    data: Callable[[], object]
    text: Callable[[], str]
    rows: Callable[[], pd.DataFrame] | None = None
    no_rows: str = "this result has no rows to write as CSV; use --format json"


def _deep_json(value: object) -> str:
    """JSON of a value nested deeper than orjson writes (a held event can be): compact, through the loop of
    clv.rejects, which never recurses."""
    from .rejects import dumps

    return dumps(value).decode()


def as_json(value: object) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n"
    except orjson.JSONEncodeError:
        return _deep_json(value) + "\n"


def as_json_line(value: object) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n"
    except orjson.JSONEncodeError:
        return _deep_json(value) + "\n"


def tags_json(value: object) -> str | None:
    """Tags as JSON text: an object, or an array of one-pair objects when a name repeats."""
    shaped = tags_value(value)
    return None if shaped is None else orjson.dumps(shaped).decode()


def tags_value(value: object) -> dict | list | None:
    """Tags as a JSON value: an object, or an array of one-pair objects when a name repeats."""
    if value is None or (not isinstance(value, (list, dict, tuple, np.ndarray)) and pd.isna(value)):
        return None
    pairs = list(value.items() if isinstance(value, dict) else value)
    names = [name for name, _ in pairs]
    return dict(pairs) if len(set(names)) == len(names) else [{name: v} for name, v in pairs]


def _significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Each value rounded to `digits` significant digits."""
    out = values.copy()
    finite = np.isfinite(values) & (values != 0)
    exponents = np.floor(np.log10(np.abs(values[finite]))).astype(int)
    picked = out[finite]
    for exponent in np.unique(exponents):
        decimals = int(digits - 1 - exponent)
        same = exponents == exponent
        if -300 < decimals < 300:
            picked[same] = np.round(picked[same], decimals)
    out[finite] = picked
    return out


def denoise(values) -> np.ndarray:
    """Floats without the noise of binary fractions: 60420.200000000004 (a sum of cents) becomes 60420.2, while a
    value that really has many digits (1/3) is kept as it is. A value is noise-rounded when rounding it to 15
    significant digits gives a decimal of at most 12."""
    values = np.asarray(values, dtype="float64")
    if not len(values):
        return values.copy()
    near = _significant(values, SIGNIFICANT)
    short = _significant(values, SIGNIFICANT - 3)
    return np.where(near == short, near, values)


def _is_tags(column: pd.Series) -> bool:
    return column.name == "tags" or str(column.dtype).startswith("map<")


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)


def _times(column: pd.Series) -> list[str | None]:
    text = iso_column(column, TIMESPEC).to_numpy(dtype=object)
    return [t if ok else None for t, ok in zip(text, column.notna().to_numpy())]


def _json_column(name: str, column: pd.Series) -> list:
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return _times(column)
    if _is_tags(column):
        return [tags_value(v) for v in column.to_numpy(dtype=object, na_value=None)]
    if pd.api.types.is_float_dtype(column.dtype):
        return [float(v) if math.isfinite(v) else None
                for v in denoise(column.to_numpy(dtype="float64", na_value=np.nan))]
    return column.astype(object).where(column.notna(), None).tolist()


def frame_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: missing values null, floats without noise, instants as ISO text."""
    names = list(frame.columns)
    columns = [_json_column(name, frame[name]) for name in names]
    return [dict(zip(names, values)) for values in zip(*columns)] if names else [{} for _ in range(len(frame))]


def csv_safe_text(value: str) -> str:
    """A text cell a spreadsheet will not run: a leading = + - @ tab or carriage return gets a ' before it."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell made safe for a spreadsheet (csv_safe_text); number columns stay numbers.

    Export and --format csv both call this on what they write.
    """
    out = frame.copy()
    for name, column in frame.items():
        if not _is_text(column):
            continue
        if _is_tags(column):
            column = pd.Series([tags_json(v) for v in column.to_numpy(dtype=object, na_value=None)],
                               index=column.index, dtype=object)
        values = column.to_numpy(dtype=object, na_value=None)
        out[name] = pd.Series([csv_safe_text(v) if isinstance(v, str) else v for v in values], index=frame.index,
                              dtype=object)
    return out


def _csv_column(name: str, column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return pd.Series(_times(column), index=column.index, dtype=object)
    if _is_tags(column):
        return pd.Series([tags_json(v) for v in column.to_numpy(dtype=object, na_value=None)], index=column.index,
                         dtype=object)
    if pd.api.types.is_float_dtype(column.dtype):
        decimals = MONEY_DECIMALS if name in MONEY else FRACTION_DECIMALS
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        return pd.Series([f"{v:.{decimals}f}" if math.isfinite(v) else None for v in values], index=column.index,
                         dtype=object)
    return column


def _is_text(column: pd.Series) -> bool:
    return not (_numeric(column) or pd.api.types.is_bool_dtype(column.dtype)
                or isinstance(column.dtype, pd.DatetimeTZDtype))


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as CSV cells: money in cents, other fractions to six places, instants in one ISO form, tags as
    JSON text, text safe for a spreadsheet (number columns stay numbers, a negative one included)."""
    text = [name for name in frame.columns if _is_text(frame[name])]
    safe = csv_safe(frame[text]) if text else frame[text]
    return pd.DataFrame({name: safe[name] if name in text else _csv_column(name, frame[name])
                         for name in frame.columns}, index=frame.index)


def _field(value: object) -> str:
    """One CSV field, quoted when it holds a comma, a quote or a line break (a lone CR included)."""
    text = "" if value is None else str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV text (csv_frame's cells), lines ending in \\n."""
    cells = csv_frame(frame)
    text_columns = [name for name, column in cells.items() if column.dtype == object]
    if not any(cells[name].map(lambda v: isinstance(v, str) and "\r" in v).any() for name in text_columns):
        buffer = io.StringIO()
        cells.to_csv(buffer, index=False, lineterminator="\n")
        return buffer.getvalue()
    # Python's csv module does not quote a lone carriage return, which a reader would take for a line end.
    lines = [",".join(map(_field, cells.columns))]
    lines.extend(",".join(map(_field, row)) for row in cells.itertuples(index=False, name=None))
    return "\n".join(lines) + "\n"


def _csv(document: Document) -> str:
    if document.rows is None:
        raise UsageError(document.no_rows)
    return csv_text(document.rows())


RENDERERS: dict[str, Callable[[Document], str]] = {
    "text": lambda document: document.text(),
    "table": lambda document: document.text(),
    "json": lambda document: as_json(document.data()),
    "jsonl": lambda document: "".join(map(as_json_line, document.data())),
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
        if path.is_symlink() or (mode is not None and not stat.S_ISREG(mode)):  # a dangling link: its target
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
