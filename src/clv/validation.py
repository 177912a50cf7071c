"""Data-quality rules (SPEC §3, codes malformed … invalid_field) over a whole batch at once.

Each check is a vectorised mask over the batch's columns; an event keeps the
first code it fails, in the order of the spec. Messages are written only for
the rejected rows, so clean data pays nothing for them.
"""
from __future__ import annotations

import json
from itertools import repeat
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from . import events as ev
from .reader import MalformedLine

TIME_PATTERN = r"\d{4}-\d{2}-\d{2}[T :]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"
TIME_FORMAT = "YYYY-MM-DD?HH:MM:SS[.fraction][zone]"
AMOUNT_PATTERN = r"\s*(\d+(\.\d*)?|\.\d+)\s+USD\s*"
CURRENCY = "USD"
TIME_UNIT = "datetime64[us, UTC]"
_encode_tags = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_kind(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _column(values: list | np.ndarray) -> pd.Series:
    """A column as Arrow-backed strings when it holds only strings and nulls, else as objects."""
    try:
        return pd.Series(pa.array(values, type=pa.string()), dtype="str")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.Series(values, dtype=object)


def _values(rows: list | np.ndarray, field: str) -> list:
    return list(map(dict.get, rows, repeat(field, len(rows))))


def to_columns(entries: list) -> tuple[np.ndarray, dict[str, pd.Series]]:
    """Split parsed entries into one column per known field.

    A type's own fields are read only from events of that type (elsewhere they
    are ignored extras, and null here), which also halves the work on big files.
    """
    n = len(entries)
    is_object = np.fromiter((type(e) is dict for e in entries), dtype=bool, count=n)
    rows = entries if is_object.all() else [e if type(e) is dict else {} for e in entries]
    columns = {field: _column(_values(rows, field)) for field in ("type", "verb", "key", "event_time")}
    types = _as_str(columns["type"], _strings(columns["type"])[1])
    objects = np.fromiter(rows, dtype=object, count=n)
    for field in ev.FIELDS[4:]:
        owners = [t for t in ev.TYPES if field in ev.REQUIRED[t] + ev.OPTIONAL[t]]
        where = np.flatnonzero(types.isin(owners).to_numpy())
        values = np.full(n, None, dtype=object)
        values[where] = _values(objects[where], field)
        columns[field] = _tag_objects(values) if field == "tags" else _column(values)
    return is_object, columns


def _strings(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(present, is_string) masks; a value is present when it is not null."""
    if column.dtype == object:
        present = column.notna().to_numpy()
        is_string = column.map(type).to_numpy() == str
        return present, is_string
    present = column.notna().to_numpy()
    return present, present


def _as_str(column: pd.Series, mask: np.ndarray) -> pd.Series:
    """The string values of a column (nulls elsewhere), as Arrow strings."""
    if column.dtype != object:
        return column.where(mask)
    return pd.Series(np.where(mask, column.to_numpy(), None), index=column.index, dtype="str")


class _Verdicts:
    """Reason and message per event, filled check by check: the first failure sticks."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self.message = np.full(n, None, dtype=object)

    def open(self) -> np.ndarray:
        return pd.isna(self.reason)

    def reject(self, mask: np.ndarray, code: str, describe: Callable[[int], str]) -> None:
        hit = np.flatnonzero(mask & self.open())
        self.reason[hit] = code
        self.message[hit] = [describe(i) for i in hit]


def _quote(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


def _label(value: object) -> str:
    return _quote(value) if isinstance(value, str) else f"a JSON {json_kind(value)}"


def _type_label(column: pd.Series, i: int) -> str:
    return _label(column.iat[i])


def validate(entries: list) -> pd.DataFrame:
    """Check every entry; return one row per entry with normalised fields, reason and message."""
    n = len(entries)
    is_object, raw = to_columns(entries)
    verdicts = _Verdicts(n)

    def malformed(i: int) -> str:
        entry = entries[i]
        if isinstance(entry, MalformedLine):
            return f"line is not valid JSON: {entry.error}"
        return f"entry is a JSON {json_kind(entry)}, not an object"

    verdicts.reject(~is_object, "malformed", malformed)

    types = _as_str(raw["type"], _strings(raw["type"])[1])
    type_ok = types.isin(ev.TYPES).to_numpy()
    verdicts.reject(
        ~type_ok,
        "unknown_type",
        lambda i: "type is missing" if pd.isna(raw["type"].iat[i]) else
        f"type {_type_label(raw['type'], i)} is not one of {', '.join(ev.TYPES)}",
    )

    verbs = _as_str(raw["verb"], _strings(raw["verb"])[1])
    verb_ok = np.zeros(n, dtype=bool)
    for type_name, allowed in ev.VERBS.items():
        verb_ok |= (types == type_name).to_numpy() & verbs.isin(allowed).to_numpy()
    verdicts.reject(
        ~verb_ok,
        "invalid_verb",
        lambda i: f"verb is missing for {types.iat[i]}" if pd.isna(raw["verb"].iat[i]) else
        f"verb {_type_label(raw['verb'], i)} is not allowed for {types.iat[i]} "
        f"(allowed: {', '.join(ev.VERBS[types.iat[i]])})",
    )

    present = {field: _strings(raw[field]) for field in ev.FIELDS[2:]}
    for field in ("key", "event_time", "customer_id", "total_amount"):
        needs = types.isin([t for t in ev.TYPES if field in ev.REQUIRED[t]]).to_numpy()
        verdicts.reject(
            needs & ~present[field][0],
            "missing_field",
            lambda i, field=field: f"{field} is required for {types.iat[i]} but is missing or null",
        )

    out = pd.DataFrame({"type": types, "verb": verbs})
    for field in ev.ID_FIELDS:
        has, is_string = present[field]
        text = _as_str(raw[field], is_string).str.strip()
        blank = is_string & (text.str.len() == 0).to_numpy()
        verdicts.reject(
            has & (~is_string | blank),
            "invalid_field",
            lambda i, field=field: f"{field} must be a non-empty string, got {_type_label(raw[field], i)}",
        )
        out[field] = text.where(~blank)

    out["event_time"] = _parse_times(raw["event_time"], present["event_time"], verdicts)
    out["amount"] = _parse_amounts(raw["total_amount"], present["total_amount"], verdicts)

    for field in ev.TEXT_FIELDS:
        has, is_string = present[field]
        verdicts.reject(
            has & ~is_string,
            "invalid_field",
            lambda i, field=field: f"{field} must be a string or null, got {_type_label(raw[field], i)}",
        )
        out[field] = _as_str(raw[field], is_string)
    out["tags"] = _check_tags(raw["tags"], verdicts)

    out["reason"] = pd.Series(verdicts.reason, dtype="str")
    out["message"] = pd.Series(verdicts.message, dtype="str")
    return out


def _parse_times(column: pd.Series, present: tuple[np.ndarray, np.ndarray], verdicts: _Verdicts) -> pd.Series:
    """Parse event_time to a UTC instant; bad spellings and impossible dates are invalid."""
    has, is_string = present
    text = _as_str(column, is_string)
    shaped = text.str.fullmatch(TIME_PATTERN).fillna(False).to_numpy(dtype=bool)
    iso = text.where(shaped).str.slice(0, 10) + "T" + text.where(shaped).str.slice(11)
    times = pd.to_datetime(iso, format="ISO8601", utc=True, errors="coerce").astype(TIME_UNIT)
    parsed = times.notna().to_numpy()

    def problem(i: int) -> str:
        if not is_string[i]:
            return f"event_time must be a string, got {_type_label(column, i)}"
        if not shaped[i]:
            return f"event_time {_quote(column.iat[i])} is not in the form {TIME_FORMAT}"
        return f"event_time {_quote(column.iat[i])} is not a real date and time"

    verdicts.reject(has & ~parsed, "invalid_field", problem)
    return times


def _parse_amounts(column: pd.Series, present: tuple[np.ndarray, np.ndarray], verdicts: _Verdicts) -> pd.Series:
    """Parse '<amount> USD' to a float; other currencies, negatives and non-numbers are invalid."""
    has, is_string = present
    text = _as_str(column, is_string)
    shaped = text.str.fullmatch(AMOUNT_PATTERN).fillna(False).to_numpy(dtype=bool)
    number = text.where(shaped).str.replace(CURRENCY, "", regex=False).str.strip()
    amounts = pd.to_numeric(number, errors="coerce").astype("float64")

    def problem(i: int) -> str:
        value = column.iat[i]
        if not is_string[i]:
            return f"total_amount must be a string like '12.34 USD', got {_type_label(column, i)}"
        parts = value.split()
        if len(parts) != 2:
            return f"total_amount {_quote(value)} is not of the form '<amount> USD'"
        if parts[1] != CURRENCY:
            return f"total_amount {_quote(value)} is not in USD"
        if parts[0].startswith("-"):
            return f"total_amount {_quote(value)} is negative"
        return f"total_amount {_quote(value)} is not a number"

    verdicts.reject(has & ~shaped, "invalid_field", problem)
    return amounts


TAGS_TYPE = pa.map_(pa.string(), pa.string())
TAGS_DTYPE = pd.ArrowDtype(TAGS_TYPE)


class BadTags:
    """A tags value that is none of the accepted shapes, kept for its message."""

    def __init__(self, value: object) -> None:
        self.value = value


def _normalise_tags(value: object) -> dict | BadTags | None:
    """Both accepted shapes become one name → value map; non-text values become JSON text."""
    if value is None:
        return None
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, list) and all(isinstance(item, dict) and isinstance(item.get("name"), str)
                                         for item in value):
        pairs = [(item["name"], item.get("value")) for item in value]
    else:
        return BadTags(value)
    return {name: v if isinstance(v, str) or v is None else json.dumps(v) for name, v in pairs}


def _tag_objects(values: np.ndarray) -> pd.Series:
    """Tags as an Arrow map column; the per-value path runs only when some value needs it."""
    try:
        return pd.Series(pa.array(values, type=TAGS_TYPE), dtype=TAGS_DTYPE)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.Series([_normalise_tags(v) for v in values], dtype=object)


def _check_tags(column: pd.Series, verdicts: _Verdicts) -> pd.Series:
    """Reject values that are not tags; the rest form the stored map column."""
    if column.dtype == TAGS_DTYPE:
        return column
    bad = column.map(lambda v: isinstance(v, BadTags)).to_numpy()
    verdicts.reject(bad, "invalid_field",
                    lambda i: f"tags must be an object, an array of name/value objects or null, "
                              f"got {_label(column.iat[i].value)}")
    kept = np.where(bad, None, column.to_numpy())
    return pd.Series(pa.array(kept, type=TAGS_TYPE), index=column.index, dtype=TAGS_DTYPE)
