"""What LTV and the overview need of the store: figures per customer id, kept up to date commit by commit.

Each commit adds *change rows*: per customer id it names, how its figures move
(revenue, current orders, site visits, current rows naming it) and, for a
customer record it touches, that record's current last name. Only the keys the
commit adds versions to are resolved, before and after, so the rows cost what
the batch costs. The figures of a version are the sum of the change rows of its
commits, folded to one row per id (`fold`): a query reads a table as long as
the customer list, not every version of every event. Events with no change rows
(a store kept by an older release) are figured the same way, as if all of them
were one commit. The work stays in Arrow's compute kernels: no Python object
per row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import events as ev
from . import tables as tb

TIME = pa.timestamp("us", tz="UTC")
COUNTS = ["n_visits", "n_orders", "n_named"]  # site visits; current orders; current rows of any table naming the id
SUMMED = ["amount", *COUNTS]  # amount: the revenue of the id's current orders
SCHEMA = pa.schema([
    ("customer_id", pa.string()),
    ("key", pa.string()),  # the id again on a row that carries its customer record's last name
    ("last_name", pa.string()),
    ("amount", pa.float64()),
    *((name, pa.int64()) for name in COUNTS),
    ("seq", pa.int64()),  # the version that wrote the row: a later record's last name wins
])


@dataclass
class Totals:
    """The folded figures of every customer id, and the span of the accepted events."""

    customers: pa.Table  # SCHEMA, one row per customer id (`fold`)
    span: list[int] | None  # the first and last event_time, in microseconds

    @property
    def first(self) -> pd.Timestamp | None:
        return times(self.span)[0]

    @property
    def last(self) -> pd.Timestamp | None:
        return times(self.span)[1]

    @property
    def ids(self) -> pd.Index:
        ids = self.customers["customer_id"].to_pandas(types_mapper=pd.ArrowDtype).astype("str")
        return pd.Index(ids, name="customer_id")

    @property
    def orders_revenue(self) -> float:
        return float(pc.sum(self.customers["amount"]).as_py() or 0.0)

    def per_customer(self) -> pd.DataFrame:
        """customer_id, last_name, total_revenue and site_visits of every customer id (in no set order)."""
        frame = self.customers.to_pandas(types_mapper=pd.ArrowDtype)
        return pd.DataFrame({
            "customer_id": frame["customer_id"].astype("str"),
            "last_name": frame["last_name"].astype("str"),
            "total_revenue": frame["amount"].to_numpy(dtype="float64"),
            "site_visits": frame["n_visits"].to_numpy(dtype="int64"),
        })


def _fields(table: str) -> list[str]:
    return {ev.CUSTOMERS: ["last_name"], ev.ORDERS: [ev.CUSTOMER_FIELD, "amount"]}.get(
        table, [ev.CUSTOMER_FIELD] if table in ev.customer_tables() else [])


def columns_read() -> dict[str, list[str]]:
    """The stored columns the figures read from each table."""
    return {table: [*tb.IDENTITY, "seq", *_fields(table)] for table in ev.tables()}


def resolve(rows: pa.Table, fields: list[str]) -> pa.Table:
    """One row per key, each field from the latest version carrying it (docs/contract.md, "Versions").

    Sorted by key, event_time, UPDATE-after-NEW and arrival, the last non-null value of each key's group is
    the one the contract names. A key with one version is its own answer: only the others are sorted.
    """
    counts = pc.value_counts(rows["key"])
    repeated = pc.is_in(rows["key"], value_set=counts.field("values").filter(pc.greater(counts.field("counts"), 1)))
    single = rows.filter(pc.invert(repeated)).select(["key", *fields])
    rows = rows.filter(repeated)
    rows = rows.append_column("_update", pc.equal(rows["verb"], ev.UPDATE))
    order = pc.sort_indices(rows, sort_keys=[("key", "ascending"), ("event_time", "ascending"),
                                             ("_update", "ascending"), ("seq", "ascending")])
    grouped = rows.take(order).group_by("key", use_threads=False).aggregate(
        [(f, "last", pc.ScalarAggregateOptions(skip_nulls=True)) for f in fields])
    grouped = grouped.rename_columns([name.removesuffix("_last") for name in grouped.column_names])
    return pa.concat_tables([single, grouped.select(single.column_names).cast(single.schema)])


def arrow_tables(frames: dict[str, pd.DataFrame]) -> dict[str, pa.Table]:
    """The columns the figures read, as Arrow, from frames of stored rows (those present)."""
    return {table: _arrow(frames[table], columns) for table, columns in columns_read().items() if table in frames}


def _arrow(rows: pd.DataFrame | pa.Table, columns: list[str]) -> pa.Table:
    if isinstance(rows, pa.Table):
        return rows.select(columns)
    return pa.Table.from_pandas(rows[columns], preserve_index=False)


def _with_keys(rows: pa.Table | None, keys: pa.Array, columns: list[str]) -> pa.Table | None:
    if rows is None or not len(rows):
        return None
    rows = rows.select(columns)
    return rows.filter(pc.is_in(rows["key"], value_set=keys.cast(rows["key"].type)))


def _current(before: pa.Table | None, added: pa.Table, fields: list[str]) -> tuple[pa.Table | None, pa.Table]:
    """The touched keys resolved without the added versions (None: none was stored) and with them."""
    keys = pc.unique(added["key"])
    old = _with_keys(before, keys, added.column_names)
    if old is None or not len(old):
        return None, resolve(added, fields)
    both = pa.concat_tables([old, added.cast(old.schema)])
    return resolve(old, fields), resolve(both, fields)


def _filled(n: int, value: float) -> pa.Array:
    return pa.array(np.full(n, value, dtype="float64" if isinstance(value, float) else "int64"))


def _naming(table: str, rows: pa.Table, sign: int) -> pa.Table:
    """What rows of a customer table add to (sign 1) or take from (-1) the ids they name."""
    n = len(rows)
    one, zero = _filled(n, sign), _filled(n, 0)
    amount = (pc.multiply(rows["amount"].cast(pa.float64()), float(sign)) if table == ev.ORDERS
              else _filled(n, 0.0))
    return pa.table({
        "customer_id": rows[ev.CUSTOMER_FIELD].cast(pa.string()),
        "key": pa.nulls(n, pa.string()),
        "last_name": pa.nulls(n, pa.string()),
        "amount": amount,
        "n_visits": one if table == ev.VISITS else zero,
        "n_orders": one if table == ev.ORDERS else zero,
        "n_named": one,
    })


def _records(current: pa.Table) -> pa.Table:
    """Customer records as they now stand: the id, and its current last name."""
    n = len(current)
    key = current["key"].cast(pa.string())
    zero = _filled(n, 0)
    return pa.table({"customer_id": key, "key": key, "last_name": current["last_name"].cast(pa.string()),
                     "amount": _filled(n, 0.0), "n_visits": zero, "n_orders": zero, "n_named": zero})


def changes(before: dict[str, pd.DataFrame | pa.Table], added: dict[str, pd.DataFrame | pa.Table],
            seq: int) -> pa.Table:
    """The change rows of adding `added` to a store whose rows of the touched keys are `before`.

    A versioned key's contribution is taken back as it was resolved before and given again as it is
    resolved now; rows of other tables only add. One row per customer id named.
    """
    parts = []
    for table in ev.tables():
        rows = added.get(table)
        if rows is None or not len(rows) or not _fields(table):
            continue
        columns = columns_read()[table]
        rows = _arrow(rows, columns)
        if not ev.table_type(table).versioned:
            parts.append(_naming(table, rows, 1))
            continue
        stored = before.get(table)
        was, now = _current(None if stored is None else _arrow(stored, columns), rows, _fields(table))
        if table == ev.CUSTOMERS:
            parts.append(_records(now))
            continue
        if was is not None:
            parts.append(_naming(table, was, -1))
        parts.append(_naming(table, now, 1))
    if not parts:
        return SCHEMA.empty_table()
    rows = pa.concat_tables(parts)
    grouped = rows.filter(pc.is_valid(rows["customer_id"])).group_by("customer_id", use_threads=False).aggregate(
        [*((name, "sum") for name in SUMMED), ("key", "first"), ("last_name", "first")])
    grouped = grouped.rename_columns([name.rsplit("_", 1)[0] if name.endswith(("_sum", "_first")) else name
                                      for name in grouped.column_names])
    return grouped.append_column("seq", _filled(len(grouped), seq)).select(SCHEMA.names)


def _lasts(codes: np.ndarray, where: np.ndarray, n: int) -> pa.Array:
    """Per code (0..n-1), the position of its last row where `where` holds (null for none)."""
    positions = np.flatnonzero(where)
    backwards = codes[positions][::-1]
    found, first = np.unique(backwards, return_index=True)
    last = np.full(n, -1, dtype=np.int64)
    last[found] = positions[len(positions) - 1 - first]
    return pa.array(last, mask=last < 0)


def fold(rows: pa.Table) -> pa.Table:
    """Change rows summed to one row per customer id: the figures they amount to.

    An id stays while it has a customer record or a current row naming it; revenue is exactly 0 once it
    has no current order (a sum of amounts given and taken back need not be). The last name is the newest
    record row's that has one (rows in the order of the versions that wrote them). Folding folded rows
    changes nothing, so the figures of parts with no id in common are their folds put together. Sums run in
    row order, so the same rows give the same figures in one pass or bucket by bucket.
    """
    rows = rows.select(SCHEMA.names)
    rows = rows.filter(pc.is_valid(rows["customer_id"]))
    seq = pc.fill_null(rows["seq"], 0)
    if len(rows) > 1 and not pc.all(pc.greater_equal(seq[1:], seq[:-1])).as_py():
        order = pc.sort_indices(seq)
        rows, seq = rows.take(order), seq.take(order)
    encoded = rows["customer_id"].combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    n = len(encoded.dictionary)

    def summed(name: str) -> np.ndarray:
        values = pc.fill_null(rows[name], 0).to_numpy().astype("float64")
        return np.bincount(codes, weights=values, minlength=n)

    counts = {name: summed(name).astype("int64") for name in COUNTS}
    record = _lasts(codes, pc.is_valid(rows["key"]).to_numpy(zero_copy_only=False), n)
    named = _lasts(codes, pc.is_valid(rows["last_name"]).to_numpy(zero_copy_only=False), n)
    newest = _lasts(codes, np.ones(len(codes), dtype=bool), n)
    folded = pa.table({
        "customer_id": encoded.dictionary,
        "key": rows["key"].take(record),
        "last_name": rows["last_name"].take(named),
        "amount": np.where(counts["n_orders"] > 0, summed("amount"), 0.0),
        **counts,
        "seq": seq.take(newest),
    })
    keep = pc.or_(pc.is_valid(folded["key"]), pc.greater(folded["n_named"], 0))
    return folded.filter(keep).cast(SCHEMA)


def span_of(tables: dict[str, pd.DataFrame | pa.Table], also: list[int] | None = None) -> list[int] | None:
    """The earliest and latest event_time of some rows (and of a span `also`), in microseconds; None: no rows."""
    lows, highs = ([also[0]], [also[1]]) if also else ([], [])
    for rows in tables.values():
        if not len(rows):
            continue
        times = rows["event_time"] if isinstance(rows, pa.Table) else pa.chunked_array([pa.array(rows["event_time"])])
        found = pc.min_max(times.cast(TIME))
        if found["min"].is_valid:
            lows.append(found["min"].value)
            highs.append(found["max"].value)
    return [min(lows), max(highs)] if lows else None


def times(span: list[int] | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """A span in microseconds as the first and last moment (None, None for no span)."""
    if span is None:
        return None, None
    moments = pa.array(span, TIME).to_pandas()
    return moments.iloc[0], moments.iloc[1]


def totals_of(tables: dict[str, pa.Table]) -> Totals:
    """The figures of some stored rows (all of them, or one bucket's), as one commit of them would give."""
    return Totals(fold(changes({}, tables, 0)), span_of(tables))


def combine(parts: list[Totals]) -> Totals:
    """The figures of the whole store from those of its parts."""
    if len(parts) == 1:
        return parts[0]
    spans = [p.span for p in parts if p.span]
    return Totals(fold(pa.concat_tables([p.customers for p in parts])),
                  [min(s[0] for s in spans), max(s[1] for s in spans)] if spans else None)
