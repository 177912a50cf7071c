"""Data-quality rules (docs/contract.md, codes malformed … invalid_field) over a whole batch at once.

Each check is a vectorised mask over the batch's columns; an event keeps the
first code it fails, in the order of the spec. Messages are written only for
the rejected rows, so clean data pays nothing for them.
"""
from __future__ import annotations

import bisect
import itertools
import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import events as ev
from .columnar import ColumnarEntries, workers
from .reader import MalformedLine

TIME_PATTERN = r"\d{4}-\d{2}-\d{2}[T :]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"
TIME_PARTS = (r"^(?P<base>.{19})(?:\.(?P<fraction>\d+))?(?:Z|(?P<sign>[+-])(?P<hh>\d{2}):(?P<mm>\d{2}))?$")
BASE_FORMAT = "%Y-%m-%dT%H:%M:%S"
# The instants an event may hold, in microseconds since 1970 (UTC): years 0001 to 9999.
FIRST_INSTANT = int(np.datetime64("0001-01-01T00:00:00", "us").astype("int64"))
LAST_INSTANT = int(np.datetime64("9999-12-31T23:59:59.999999", "us").astype("int64"))
TIME_FORMAT = "YYYY-MM-DD?HH:MM:SS[.fraction][zone]"
NUMBER = r"\d+(?:\.\d*)?|\.\d+"
AMOUNT_PATTERN = rf"^\s*(?P<number>{NUMBER})\s*(?i:usd)\s*$"
AMOUNT_LIMIT = 1e12
CURRENCY = "USD"
TIME_UNIT = "datetime64[us, UTC]"
CHUNK = 65_536
PARALLEL_ROWS = 200_000  # natively read files of more rows are checked in runs of rows, one per core
TAGS_TYPE = pa.map_(pa.string(), pa.string())
TAGS_DTYPE = pd.ArrowDtype(TAGS_TYPE)


def event_struct(names: tuple[str, ...]) -> pa.StructType:
    """The shape of a well-formed event: one Arrow conversion reads all its fields at C speed."""
    kinds = ev.fields()
    return pa.struct([(f, TAGS_TYPE if f in kinds and kinds[f].kind == ev.TAGS else pa.string()) for f in names])


def _arrow_type(field: str) -> pa.DataType:
    return event_struct((field,)).field(0).type


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


def _objects(values: list) -> np.ndarray:
    """A 1-D object array even when the values are lists (np.array would nest them)."""
    return np.array(values + [None], dtype=object)[:-1]


def _slow_part(rows: list, field: str) -> pa.Array | np.ndarray:
    """One chunk's values of a field, read one by one because some event in it is odd."""
    values = list(map(dict.get, rows, repeat(field, len(rows))))
    if _arrow_type(field) == TAGS_TYPE:
        try:
            return pa.array(values, type=TAGS_TYPE)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return _objects([_normalise_tags(v) for v in values])
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _objects(values)


def _chunk_parts(rows: list, names: tuple[str, ...]) -> dict[str, pa.Array | np.ndarray]:
    try:
        table = pa.array(rows, type=event_struct(names))
        return {f: table.field(f) for f in names}
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return {f: _slow_part(rows, f) for f in names}


def _assemble(field: str, parts: list) -> pd.Series:
    """Arrow-backed when every chunk converted, objects (for the checks to describe) otherwise."""
    if all(isinstance(part, (pa.Array, pa.ChunkedArray)) for part in parts):
        arrow = _arrow_type(field)
        chunked = pa.chunked_array(parts, type=parts[0].type if parts else arrow)  # the native reader's large strings
        return pd.Series(chunked, dtype=TAGS_DTYPE if arrow == TAGS_TYPE else "str")
    objects = [part if isinstance(part, np.ndarray) else _objects(part.to_pylist()) for part in parts]
    return pd.Series(np.concatenate(objects) if objects else [], dtype=object)


def to_columns(entries: list, on_chunk: Callable[[int], None] | None = None) -> tuple[np.ndarray, dict[str, pd.Series]]:
    """Split parsed entries into one column per known field.

    Chunks of well-formed events convert to Arrow in one call each; a chunk
    holding an odd event is read field by field, so a few bad events never
    push a whole file off the fast path.
    """
    n = len(entries)
    is_object = np.fromiter(map(type, entries), dtype=object, count=n) == dict
    rows = entries if is_object.all() else [e if type(e) is dict else {} for e in entries]
    names = ev.read_fields()
    chunks = []
    for start in range(0, n, CHUNK):
        chunk = rows[start:start + CHUNK]
        chunks.append(_chunk_parts(chunk, names))
        if on_chunk:
            on_chunk(len(chunk))
    return is_object, {f: _assemble(f, [parts[f] for parts in chunks]) for f in names}


def _drop_foreign(columns: dict[str, pd.Series], masks: dict[str, np.ndarray]) -> None:
    """A type's own fields are kept only on events of that type: elsewhere they are ignored extras."""
    for field in ev.fields():
        owners = [t.name for t in ev.types() if any(f.name == field for f in t.fields)]
        column = columns[field]
        foreign = ~_of(masks, owners) & column.notna().to_numpy()
        if foreign.any():
            columns[field] = column.mask(foreign) if column.dtype != object else \
                pd.Series(np.where(foreign, None, column.to_numpy()), dtype=object)


def _type_masks(types: pd.Series) -> dict[str, np.ndarray]:
    """One boolean mask per event type, computed once and combined with | afterwards."""
    return {t: (types == t).to_numpy(dtype=bool, na_value=False) for t in ev.type_names()}


def _of(masks: dict[str, np.ndarray], names: list[str] | tuple[str, ...]) -> np.ndarray:
    out = np.zeros(len(next(iter(masks.values()))), dtype=bool)
    for name in names:
        out |= masks[name]
    return out


def _fullmatch(text: pd.Series | pa.Array, pattern: str) -> np.ndarray:
    """Whole-string regex match in Arrow (RE2); nulls do not match."""
    found = pc.match_substring_regex(pa.array(text, type=pa.string()), pattern=f"^(?:{pattern})$")
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


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
        return column  # Arrow strings: every present value is a string already
    return pd.Series(np.where(mask, column.to_numpy(), None), index=column.index, dtype="str")


class _Verdicts:
    """Reason and message per event, filled check by check: the first failure sticks."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self.message = np.full(n, None, dtype=object)
        self.still_open = np.ones(n, dtype=bool)

    def open(self) -> np.ndarray:
        return self.still_open

    def reject(self, mask: np.ndarray, code: str, describe: Callable[[int], str]) -> None:
        hit = np.flatnonzero(mask & self.still_open)
        self.still_open[hit] = False
        self.reason[hit] = code
        self.message[hit] = [describe(i) for i in hit]

    def column(self, values: np.ndarray) -> pd.Series:
        """reason or message as a string Series, built from the rejected rows only."""
        taken = ~self.still_open
        if not taken.any():
            return pd.Series(values, dtype="str")
        strings = pa.array(values[taken].tolist(), type=pa.large_string())
        return pd.Series(pc.replace_with_mask(pa.nulls(len(values), pa.large_string()), pa.array(taken), strings),
                         dtype="str")


def _quote(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


def _label(value: object) -> str:
    return _quote(value) if isinstance(value, str) else f"a JSON {json_kind(value)}"


def _type_label(column: pd.Series, i: int) -> str:
    return _label(column.iat[i])


def _absent(column: pd.Series, i: int) -> bool:
    """Whether a field is missing or null (pd.isna alone would look inside an array or object)."""
    value = column.iat[i]
    return value is None or (not isinstance(value, (list, dict)) and bool(pd.isna(value)))


def _scatter(native: pa.Array, rows: np.ndarray, values: pa.Array | np.ndarray) -> pa.Array | np.ndarray:
    """A piece's column with some rows' values put in: Arrow when they are of its type, objects otherwise."""
    if isinstance(values, pa.Array) and pa.types.is_string(values.type) and pa.types.is_large_string(native.type):
        values = values.cast(native.type)
    if isinstance(values, pa.Array) and values.type == native.type:
        index = np.arange(len(native))
        index[rows] = len(native) + np.arange(len(rows))
        return pa.concat_arrays([native, values]).take(pa.array(index))
    objects = _objects(native.to_pylist())
    objects[rows] = values if isinstance(values, np.ndarray) else _objects(values.to_pylist())
    return objects


def native_columns(entries: ColumnarEntries, on_chunk: Callable[[int], None] | None = None,
                   groups: int = 1) -> list[tuple[int, np.ndarray, dict[str, pd.Series]]]:
    """What to_columns gives, for entries the native reader has already split into Arrow columns.

    The events it left to orjson are converted as to_columns converts them
    (a piece holding an odd one gets object columns) and put in their rows.
    The rows come in up to `groups` runs of whole pieces, each as
    (first row, is_object, columns), a column of Arrow strings chunked as the
    pieces are (no copy). The entries give up their columns: only the runs
    hold them now.
    """
    names = ev.read_fields()
    n = len(entries)
    is_object = np.ones(n, dtype=bool)
    is_object[[i for i, entry in entries.routed.items() if type(entry) is not dict]] = False
    parts = {name: list(entries.parts[name]) for name in names}
    entries.release_parts()
    bounds = [*entries.offsets, n]
    events = sorted(i for i, entry in entries.routed.items() if type(entry) is dict)
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        rows = events[bisect.bisect_left(events, lo):bisect.bisect_left(events, hi)]
        if rows:
            values = _chunk_parts([entries.routed[i] for i in rows], names)
            local = np.array(rows, dtype=np.int64) - lo
            for name in names:
                parts[name][k] = _scatter(parts[name][k], local, values[name])
    if on_chunk:
        for start in range(0, n, CHUNK):
            on_chunk(min(CHUNK, n - start))
    cuts = sorted({0, *(bisect.bisect_left(entries.offsets, n * g / groups) for g in range(1, groups)),
                   len(entries.offsets)})
    return [(bounds[a], is_object[bounds[a]:bounds[b]], {name: _assemble(name, parts[name][a:b]) for name in names})
            for a, b in itertools.pairwise(cuts)]


def validate(entries: Sequence, on_chunk: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Check every entry; return one row per entry with normalised fields, reason and message.

    entries is a list of parsed entries, or the ColumnarEntries of a file read
    natively (its columns are used as they are). on_chunk, if given, hears how
    many events each step of the conversion covered (for a progress bar).
    """
    if not isinstance(entries, ColumnarEntries) or entries.parts is None:  # (a second reading: from the text)
        is_object, raw = to_columns(entries, on_chunk)
        return _check(is_object, raw, entries.__getitem__)
    groups = native_columns(entries, on_chunk, workers() if len(entries) >= PARALLEL_ROWS else 1)
    if len(groups) == 1:
        return _check(groups[0][1], groups[0][2], entries.__getitem__)
    with ThreadPoolExecutor(len(groups)) as pool:  # every rule is about one event: runs of rows check apart
        frames = list(pool.map(lambda g: _check(g[1], g[2], lambda i, first=g[0]: entries[first + i]), groups))
    return pd.concat(frames, ignore_index=True)


def _check(is_object: np.ndarray, raw: dict[str, pd.Series], entry: Callable[[int], object]) -> pd.DataFrame:
    """The rules over one run of rows: entry(i) is the parsed entry of row i (for the messages of bad ones)."""
    n = len(is_object)
    verdicts = _Verdicts(n)

    def malformed(i: int) -> str:
        entry_ = entry(i)
        if isinstance(entry_, MalformedLine):
            return f"line is not valid JSON: {entry_.error}"
        return f"entry is a JSON {json_kind(entry_)}, not an object"

    verdicts.reject(~is_object, "malformed", malformed)

    types = _as_str(raw["type"], _strings(raw["type"])[1])
    masks = _type_masks(types)
    _drop_foreign(raw, masks)
    type_ok = _of(masks, ev.type_names())
    verdicts.reject(
        ~type_ok,
        "unknown_type",
        lambda i: "type is missing" if _absent(raw["type"], i) else
        f"type {_type_label(raw['type'], i)} is not one of {', '.join(ev.type_names())}",
    )

    verbs = _as_str(raw["verb"], _strings(raw["verb"])[1])
    verb_ok = np.zeros(n, dtype=bool)
    verb_masks = {v: (verbs == v).to_numpy(dtype=bool, na_value=False) for v in ev.all_verbs()}
    for event_type in ev.types():
        verb_ok |= masks[event_type.name] & _of(verb_masks, event_type.verbs)
    verdicts.reject(
        ~verb_ok,
        "invalid_verb",
        lambda i: f"verb is missing for {types.iat[i]}" if _absent(raw["verb"], i) else
        f"verb {_type_label(raw['verb'], i)} is not allowed for {types.iat[i]} "
        f"(allowed: {', '.join(ev.of(types.iat[i]).verbs)})",
    )

    present = {field: _strings(raw[field]) for field in ev.read_fields()[2:]}
    required = dict.fromkeys(name for t in ev.types() for name in t.required)
    for field in required:
        needs = _of(masks, [t.name for t in ev.types() if field in t.required])
        verdicts.reject(
            needs & ~present[field][0],
            "missing_field",
            lambda i, field=field: f"{field} is required for {types.iat[i]} but is missing or null",
        )

    out = pd.DataFrame({"type": types, "verb": verbs})
    for field in ("key", *ev.fields_of_kind(ev.ID)):
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
    for field in ev.fields_of_kind(ev.AMOUNT):
        out[ev.fields()[field].stored_as] = _parse_amounts(field, raw[field], present[field], verdicts)

    for field in ev.fields_of_kind(ev.TEXT):
        has, is_string = present[field]
        verdicts.reject(
            has & ~is_string,
            "invalid_field",
            lambda i, field=field: f"{field} must be a string or null, got {_type_label(raw[field], i)}",
        )
        out[field] = _as_str(raw[field], is_string)
    for field in ev.fields_of_kind(ev.TAGS):
        out[field] = _check_tags(field, raw[field], verdicts)

    out["reason"] = verdicts.column(verdicts.reason)
    out["message"] = verdicts.column(verdicts.message)
    return out


def _utc_micros(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds since 1970 in UTC, real) for well-shaped event_time strings, vectorised.

    Arrow parses the date and time to the second without checking the day of
    the month, so a value is real only when it prints back as it was written;
    the fraction (truncated to the microsecond) and the zone offset are added
    as numbers, so any number of fraction digits and every year 0001–9999 work.
    """
    parts = pc.extract_regex(text, TIME_PARTS)
    base = pc.utf8_replace_slice(pc.struct_field(parts, "base"), start=10, stop=11, replacement="T")
    local = pc.strptime(base, format=BASE_FORMAT, unit="us", error_is_null=True)
    printed = pc.utf8_slice_codeunits(pc.strftime(local, format=BASE_FORMAT), 0, 19)  # Arrow adds the fraction
    real = pc.fill_null(pc.equal(printed, base), False)
    digits = pc.utf8_slice_codeunits(pc.binary_join_element_wise(pc.struct_field(parts, "fraction"), "000000", ""),
                                     0, 6)
    hours = pc.cast(pc.if_else(pc.equal(pc.struct_field(parts, "hh"), ""), "0", pc.struct_field(parts, "hh")), pa.int64())
    minutes = pc.cast(pc.if_else(pc.equal(pc.struct_field(parts, "mm"), ""), "0", pc.struct_field(parts, "mm")),
                      pa.int64())
    real = pc.and_(real, pc.and_(pc.less(hours, 24), pc.less(minutes, 60)))
    sign = pc.if_else(pc.equal(pc.struct_field(parts, "sign"), "-"), -1, 1)
    offset = pc.multiply(sign, pc.add(pc.multiply(hours, 60), minutes))
    micros = pc.subtract(pc.add(pc.cast(local, pa.int64()), pc.cast(digits, pa.int64())),
                         pc.multiply(offset, 60_000_000))
    values = pc.fill_null(micros, 0).to_numpy(zero_copy_only=False)
    return values, pc.fill_null(real, False).to_numpy(zero_copy_only=False)


MOST_FRACTION_DIGITS = 9  # longer fractions (and every other spelling) are parsed by _utc_micros
TIME_BLOCK = 32_768  # rows of event_time read at a time
DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _string_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start offset, byte length, the data bytes) of an Arrow string array, without copying the data."""
    large = pa.types.is_large_string(text.type)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64 if large else np.int32)
    offsets = offsets[text.offset:text.offset + len(text) + 1]
    data = text.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None and data.size else np.zeros(1, dtype=np.uint8)
    lengths = np.diff(offsets)
    if text.null_count:
        lengths[~text.is_valid().to_numpy(zero_copy_only=False)] = 0
    return offsets[:-1], lengths, data


def _bytes_at(data: np.ndarray, starts: np.ndarray, first: int, count: int) -> np.ndarray:
    """Row k: the byte at starts + first + k of every string (bytes past the data read as its last)."""
    out = np.empty((count, len(starts)), dtype=np.uint8)
    at = np.empty_like(starts)
    for k in range(count):
        np.add(starts, first + k, out=at)
        data.take(at, out=out[k], mode="clip")
    return out


def _number(digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The number that rows of digit values write (one row per digit), and whether all are digits."""
    value = digits[0].astype(np.int32)
    ok = digits[0] <= 9
    for row in digits[1:]:
        value *= 10
        value += row
        ok &= row <= 9
    return value, ok


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (year 0 included), vectorised."""
    year = year - (month <= 2)
    era = np.floor_divide(year, 400)
    of_era = year - era * 400
    of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    return (era * 146_097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719_468).astype(np.int64)


def _fast_times(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(read, shaped, real, micros) for the usual spellings, straight from the string bytes (see _times_block).

    Done TIME_BLOCK rows at a time: the many temporaries stay small, in cache, and reused.
    """
    blocks = [_times_block(text.slice(at, TIME_BLOCK)) for at in range(0, len(text), TIME_BLOCK)]
    if not blocks:
        return _times_block(text)
    return tuple(np.concatenate(parts) for parts in zip(*blocks, strict=True))


def _times_block(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(read, shaped, real, micros) for the usual spellings, straight from the string bytes.

    A row is read here when its bytes are YYYY-MM-DD?HH:MM:SS, then up to 9
    fraction digits, then Z, +HH:MM, -HH:MM or nothing; it is then shaped, and
    real when every part is in range (the day in its month, the zone under 24
    hours and 60 minutes), exactly as _utc_micros decides. Rows too short to
    be shaped are not shaped; the rest (long fractions, other bytes) are left
    to _utc_micros.
    """
    starts, lengths, data = _string_buffers(text)
    head = _bytes_at(data, starts, 0, 20 + MOST_FRACTION_DIGITS)  # the fixed part, ".", the fraction
    tail = _bytes_at(data, starts + lengths, -6, 6)  # a zone "+HH:MM", or what stands there
    digits = head - np.uint8(ord("0"))  # bytes below "0" wrap round: not digits either
    year, fits = _number(digits[0:4])
    month, ok = _number(digits[5:7])
    fits &= ok
    day, ok = _number(digits[8:10])
    fits &= ok
    hour, ok = _number(digits[11:13])
    fits &= ok
    minute, ok = _number(digits[14:16])
    fits &= ok
    second, ok = _number(digits[17:19])
    fits &= ok & (lengths >= 19) & (head[4] == ord("-")) & (head[7] == ord("-")) & (head[13] == ord(":")) & \
        (head[16] == ord(":")) & ((head[10] == ord("T")) | (head[10] == ord(" ")) | (head[10] == ord(":")))
    zone_digits = tail - np.uint8(ord("0"))
    zone_hours, signed = _number(zone_digits[1:3])
    zone_minutes, ok = _number(zone_digits[4:6])
    signed &= ok & (lengths >= 25) & ((tail[0] == ord("+")) | (tail[0] == ord("-"))) & (tail[3] == ord(":"))
    zone_length = np.where(signed, 6, tail[5] == ord("Z"))
    fraction = lengths - zone_length - 20  # fraction digits (-1: no ".")
    fits &= (fraction == -1) | ((head[19] == ord(".")) & (fraction >= 1) & (fraction <= MOST_FRACTION_DIGITS))
    micro = np.zeros(len(starts), dtype=np.int32)
    for k in range(MOST_FRACTION_DIGITS):
        inside = fraction > k
        fits &= (digits[20 + k] <= 9) | ~inside
        if k < 6:
            micro += np.where(inside, digits[20 + k], np.uint8(0)) * np.int32(10 ** (5 - k))
    zone_hours = np.where(signed, zone_hours, 0)
    zone_minutes = np.where(signed, zone_minutes, 0)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    days_in_month = DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
    real = fits & month_ok & (day >= 1) & (day <= days_in_month) & (hour < 24) & (minute < 60) & (second < 60) & \
        (zone_hours < 24) & (zone_minutes < 60)
    offset = np.where(tail[0] == ord("-"), -1, 1) * (zone_hours * 60 + zone_minutes)
    seconds = _days_from_civil(year, month, day) * 86_400 + (hour * 3_600 + minute * 60 + second - offset * 60)
    micros = np.where(real, seconds * 1_000_000 + micro, 0)
    return fits | (lengths < 19), fits, real, micros


def _parse_times(column: pd.Series, present: tuple[np.ndarray, np.ndarray], verdicts: _Verdicts) -> pd.Series:
    """Parse event_time to a UTC instant; bad spellings, impossible dates and instants outside 0001–9999 are invalid."""
    has, is_string = present
    text = _as_str(column, is_string)
    arrow = pa.array(text)  # large strings, as pandas keeps them
    arrow = arrow.combine_chunks() if isinstance(arrow, pa.ChunkedArray) else arrow
    read, shaped, real, micros = _fast_times(arrow)
    rest = np.flatnonzero(~read)
    if rest.size:  # other spellings: Arrow's regex and strptime settle them
        odd = arrow.take(pa.array(rest)).cast(pa.string())
        odd_shaped = _fullmatch(odd, TIME_PATTERN)
        shaped[rest] = odd_shaped
        micros[rest], real[rest] = _utc_micros(pc.if_else(pa.array(odd_shaped), odd, pa.scalar(None, pa.string())))
    real &= shaped
    in_range = (micros >= FIRST_INSTANT) & (micros <= LAST_INSTANT)
    parsed = real & in_range
    moments = np.where(parsed, micros, 0).astype("datetime64[us]")
    times = pd.Series(moments, index=column.index).dt.tz_localize("UTC").astype(TIME_UNIT).where(parsed)

    def problem(i: int) -> str:
        if not is_string[i]:
            return f"event_time must be a string, got {_type_label(column, i)}"
        if not shaped[i]:
            return f"event_time {_quote(column.iat[i])} is not in the form {TIME_FORMAT}"
        if not real[i]:
            return f"event_time {_quote(column.iat[i])} is not a real date and time"
        return f"event_time {_quote(column.iat[i])} is outside the years 0001-9999 once in UTC"

    verdicts.reject(has & ~parsed, "invalid_field", problem)
    return times


def _amount_problem(field: str, column: pd.Series, i: int, is_string: np.ndarray) -> str:
    value = column.iat[i]
    if not is_string[i]:
        return f"{field} must be a string like '12.34 USD', got {_type_label(column, i)}"
    number, currency = re.fullmatch(r"\s*(.*?)\s*([A-Za-z]*)\s*", value, re.DOTALL).groups()
    if not currency:
        return f"{field} {_quote(value)} is not of the form '<amount> USD'"
    if currency.upper() != CURRENCY:
        return f"{field} {_quote(value)} is not in USD"
    if number.startswith("-"):
        return f"{field} {_quote(value)} is negative"
    if re.fullmatch(NUMBER, number):
        return f"{field} {_quote(value)} is not below {AMOUNT_LIMIT:,.0f}"
    return f"{field} {_quote(value)} is not a number"


def _parse_amounts(field: str, column: pd.Series, present: tuple[np.ndarray, np.ndarray],
                   verdicts: _Verdicts) -> pd.Series:
    """Parse '<amount> USD' to a float; other currencies, negatives, non-numbers and 10^12 or more are invalid."""
    has, is_string = present
    number = pc.struct_field(pc.extract_regex(pa.array(_as_str(column, is_string)), AMOUNT_PATTERN), "number")
    shaped = pc.is_valid(number).to_numpy(zero_copy_only=False)
    values = pc.cast(number, pa.float64()).to_numpy(zero_copy_only=False)  # NaN where not shaped
    amounts = pd.Series(values, index=column.index)
    small = (amounts < AMOUNT_LIMIT).to_numpy(dtype=bool, na_value=False)
    verdicts.reject(has & ~(shaped & small), "invalid_field", lambda i: _amount_problem(field, column, i, is_string))
    return amounts.where(small)


class BadTags:
    """A tags value that is none of the accepted shapes, kept for its message."""

    def __init__(self, value: object) -> None:
        self.value = value


def _pair(item: object) -> tuple[str, object] | None:
    """One tag from an array item: a one-pair object, or a {"name": …, "value": …} object."""
    if not isinstance(item, dict):
        return None
    if set(item) == {"name", "value"} and isinstance(item["name"], str):
        return item["name"], item["value"]
    return next(iter(item.items())) if len(item) == 1 else None


def _normalise_tags(value: object) -> list | BadTags | None:
    """Every accepted shape becomes one list of (name, value) pairs, in order, repeats kept.

    A value that is not a string is kept as its JSON text (null stays null).
    """
    if value is None:
        return None
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [_pair(item) for item in value]
        if any(pair is None for pair in pairs):
            return BadTags(value)
    else:
        return BadTags(value)
    return [(name, v if isinstance(v, str) or v is None else json.dumps(v)) for name, v in pairs]


def _check_tags(field: str, column: pd.Series, verdicts: _Verdicts) -> pd.Series:
    """Reject values that are not tags; the rest form the stored map column."""
    if column.dtype == TAGS_DTYPE:
        return column
    bad = column.map(lambda v: isinstance(v, BadTags)).to_numpy()
    verdicts.reject(bad, "invalid_field",
                    lambda i: f"{field} must be null, an object, or an array of one-pair objects or "
                              f"{{\"name\": …, \"value\": …}} objects, got {_label(column.iat[i].value)}")
    kept = np.where(bad, None, column.to_numpy())
    return pd.Series(pa.array(kept, type=TAGS_TYPE), index=column.index, dtype=TAGS_DTYPE)
