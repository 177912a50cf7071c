"""The stored tables: their columns, and the current one-row-per-key view of them.

What is stored is every accepted event: the rows of site visits and images,
and every version (NEW and UPDATEs) of customers and orders. The current view
resolves versions by event_time, field by field (docs/contract.md, "Versions").
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import events as ev
from .validation import TAGS_DTYPE, TIME_UNIT

IDENTITY = ("key", "verb", "event_time")
BASE_DTYPES = {"key": "str", "verb": "str", "event_time": TIME_UNIT, "seq": "int64"}
KIND_DTYPES = {ev.ID: "str", ev.TEXT: "str", ev.AMOUNT: "float64", ev.TAGS: TAGS_DTYPE, ev.TIME: TIME_UNIT}


def dtypes() -> dict[str, object]:
    """The dtype of every stored column, by the kind of field it holds."""
    return {**BASE_DTYPES, **{f.stored_as: KIND_DTYPES[f.kind] for f in ev.fields().values()}}


def columns(table: str) -> list[str]:
    return [*IDENTITY, "seq", *ev.table_type(table).columns]


def empty(table: str) -> pd.DataFrame:
    kinds = dtypes()
    return _empty(tuple((c, kinds[c]) for c in columns(table))).copy()


@lru_cache(maxsize=64)
def _empty(spec: tuple) -> pd.DataFrame:  # building a frame column by column costs more than copying one
    return pd.DataFrame({c: pd.Series(dtype=kind) for c, kind in spec})


def empty_tables() -> dict[str, pd.DataFrame]:
    return {table: empty(table) for table in ev.tables()}


def conform(frame: pd.DataFrame, table: str, only: list[str] | None = None) -> pd.DataFrame:
    """The table's columns (or only those) in their order and dtypes, whatever built the frame."""
    kinds = dtypes()
    names = only or columns(table)
    return frame[names].astype({c: kinds[c] for c in names})


def member(values: pd.Series | pa.ChunkedArray, *pools: pd.Series | pa.Array) -> np.ndarray:
    """values.isin(pools) as one Arrow hash lookup; pandas' isin walks a large pool in Python."""
    wanted = large_strings(values)
    pool = pa.chunked_array([chunk for p in pools for chunk in large_strings(p).chunks], type=pa.large_string())
    if len(wanted) < len(pool):  # hashing the smaller side first: the pool is narrowed to the values it holds
        pool = pool.filter(pc.is_in(pool, value_set=wanted))
    found = pc.is_in(wanted, value_set=pool)
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def large_strings(column: pd.Series | pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as Arrow large strings (pandas' own type for str): no copy when it is one already."""
    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        return pa.chunked_array(column).cast(pa.large_string())
    return pa.chunked_array(pa.array(column, type=pa.large_string()))


def creating_rows(frame: pd.DataFrame) -> pd.Series:
    """Rows that created their key (NEW or UPLOAD); exactly one per key."""
    return frame["verb"] != ev.UPDATE


def size(tables: dict[str, pd.DataFrame]) -> int:
    """Store size: rows of the four current tables, i.e. keys created."""
    return int(sum(creating_rows(frame).sum() for frame in tables.values()))


def resolve(versions: pd.DataFrame, fields: tuple[str, ...]) -> pd.DataFrame:
    """One row per key: each field from the latest version carrying it.

    Latest means by event_time; at a tie an UPDATE beats the NEW, and between UPDATEs the later arrival wins.
    """
    ordered = versions.assign(_update=versions["verb"] == ev.UPDATE).sort_values(
        ["key", "event_time", "_update", "seq"], kind="stable")
    groups = ordered.groupby("key", sort=True, observed=True)
    current = groups[list(fields)].last() if fields else pd.DataFrame(index=groups.size().index)
    created = ordered.loc[creating_rows(ordered)].set_index("key")["event_time"]
    current["created"] = created.reindex(current.index)
    current["updated"] = groups["event_time"].max()
    current["versions"] = groups.size()
    return current.reset_index()


def current(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The four tables as the user sees them: one row per key."""
    views = {}
    for table, frame in tables.items():
        event_type = ev.table_type(table)
        fields = event_type.columns
        if event_type.versioned:
            views[table] = resolve(frame, fields)
        else:
            views[table] = frame[["key", "event_time", *fields]].sort_values("key").reset_index(drop=True)
    return views


def event_times(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """Every accepted event_time in the store (UPDATE versions included)."""
    return pd.concat([frame["event_time"] for frame in tables.values()], ignore_index=True)
