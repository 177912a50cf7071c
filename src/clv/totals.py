"""What LTV and the overview need of the store, computed bucket by bucket and then combined.

A bucket holds every version of its keys, so each bucket resolves its own
customers and orders; what crosses buckets (a customer's orders and visits)
is a sum or a count per customer id, added up when the parts are combined.
Only the columns these figures need are read, and the work stays in Arrow's
compute kernels: no Python object per row.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import events as ev
from . import tables as tb

TIME = pa.timestamp("us", tz="UTC")


@dataclass
class Totals:
    """Per customer id: revenue (orders' current amounts), visits and last name; and the store's extent."""

    revenue: pa.Table  # customer_id, revenue: by the current customer_id of orders
    visits: pa.Table  # customer_id, visits
    names: pa.Table  # customer_id, last_name: the current last name of each CUSTOMER record
    id_list: pa.Array  # every customer id: CUSTOMER records and the customer_id of any row
    rows: dict[str, int]  # current rows (keys) per table
    orders_revenue: float
    first: pd.Timestamp | None
    last: pd.Timestamp | None

    @property
    def ids(self) -> pd.Index:
        return pd.Index(self.id_list.to_pandas(types_mapper=pd.ArrowDtype).astype("str"), name="customer_id")

    def per_customer(self) -> pd.DataFrame:
        """customer_id, last_name, total_revenue and site_visits of every customer id (in no set order)."""
        joined = pa.table({"customer_id": self.id_list})
        for part in (self.names, self.revenue, self.visits):
            joined = joined.join(part, "customer_id", join_type="left outer", use_threads=False)
        frame = joined.to_pandas(types_mapper=pd.ArrowDtype)
        return pd.DataFrame({
            "customer_id": frame["customer_id"].astype("str"),
            "last_name": frame["last_name"].astype("str"),
            "total_revenue": frame["revenue"].fillna(0.0).to_numpy(dtype="float64"),
            "site_visits": frame["visits"].fillna(0).to_numpy(dtype="int64"),
        })


def _fields(table: str) -> list[str]:
    return {ev.CUSTOMERS: ["last_name"], ev.ORDERS: [ev.CUSTOMER_FIELD, "amount"]}.get(
        table, [ev.CUSTOMER_FIELD] if table in ev.customer_tables() else [])


def columns_read() -> dict[str, list[str]]:
    """The stored columns these figures read from each table."""
    return {table: [*tb.IDENTITY, "seq", *_fields(table)] for table in ev.tables()}


def resolve(rows: pa.Table, fields: list[str]) -> pa.Table:
    """One row per key, each field from the latest version carrying it (docs/contract.md, "Versions").

    Sorted by key, event_time, UPDATE-after-NEW and arrival, the last non-null value of each key's group is
    the one the contract names.
    """
    rows = rows.append_column("_update", pc.equal(rows["verb"], ev.UPDATE))
    order = pc.sort_indices(rows, sort_keys=[("key", "ascending"), ("event_time", "ascending"),
                                             ("_update", "ascending"), ("seq", "ascending")])
    grouped = rows.take(order).group_by("key", use_threads=False).aggregate(
        [(f, "last", pc.ScalarAggregateOptions(skip_nulls=True)) for f in fields])
    return grouped.rename_columns([name.removesuffix("_last") for name in grouped.column_names])


def _strings(columns: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    return pa.chunked_array([c for column in columns for c in tb.large_strings(column).chunks], type=pa.large_string())


def arrow_tables(frames: dict[str, pd.DataFrame]) -> dict[str, pa.Table]:
    """The columns these figures read, as Arrow, from frames of stored rows."""
    return {table: pa.Table.from_pandas(frames[table][columns], preserve_index=False)
            for table, columns in columns_read().items()}


def totals_of(tables: dict[str, pa.Table]) -> Totals:
    """The figures of some rows of every table (all of them, or one bucket's), from Arrow tables."""
    times = [pc.min_max(t["event_time"].cast(TIME)) for t in tables.values() if t.num_rows]
    lows = [m["min"].value for m in times if m["min"].is_valid]
    highs = [m["max"].value for m in times if m["max"].is_valid]
    customers = resolve(tables[ev.CUSTOMERS], ["last_name"])
    orders = resolve(tables[ev.ORDERS], [ev.CUSTOMER_FIELD, "amount"])
    revenue = _sums(orders.select([ev.CUSTOMER_FIELD, "amount"]).rename_columns(["customer_id", "revenue"]))
    visits = _counts(tables[ev.VISITS][ev.CUSTOMER_FIELD])
    named = [customers["key"], orders[ev.CUSTOMER_FIELD],
             *(tables[t][ev.CUSTOMER_FIELD] for t in ev.customer_tables() if t != ev.ORDERS)]
    span = pa.array([min(lows), max(highs)], TIME).to_pandas() if lows else None
    return Totals(
        revenue=revenue,
        visits=visits,
        names=pa.table({"customer_id": _strings([customers["key"]]), "last_name": _strings([customers["last_name"]])}),
        id_list=_unique(pc.drop_null(_strings(named))),
        rows={table: int(pc.sum(pc.not_equal(rows["verb"], ev.UPDATE)).as_py() or 0)
              for table, rows in tables.items()},
        orders_revenue=float(pc.sum(orders["amount"]).as_py() or 0.0),
        first=span.iloc[0] if span is not None else None,
        last=span.iloc[1] if span is not None else None,
    )


def _unique(ids: pa.ChunkedArray) -> pa.Array:
    unique = pc.unique(ids)
    return unique.combine_chunks() if isinstance(unique, pa.ChunkedArray) else unique


def _sums(rows: pa.Table) -> pa.Table:
    """customer_id, revenue: the sum per customer id (rows without one left out)."""
    rows = rows.set_column(0, "customer_id", _strings([rows["customer_id"]]))
    summed = rows.filter(pc.is_valid(rows["customer_id"])).group_by("customer_id", use_threads=False).aggregate(
        [("revenue", "sum")])
    return summed.select(["customer_id", "revenue_sum"]).rename_columns(["customer_id", "revenue"])


def _counts(ids: pa.ChunkedArray) -> pa.Table:
    """customer_id, visits: how many rows name each customer id."""
    counted = pa.table({"customer_id": _strings([ids])}).group_by("customer_id", use_threads=False).aggregate(
        [([], "count_all")])
    counted = counted.filter(pc.is_valid(counted["customer_id"]))
    return counted.select(["customer_id", "count_all"]).rename_columns(["customer_id", "visits"])


def combine(parts: list[Totals]) -> Totals:
    """The figures of the whole store from those of its buckets."""
    if len(parts) == 1:
        return parts[0]
    firsts = [p.first for p in parts if p.first is not None]
    lasts = [p.last for p in parts if p.last is not None]
    visits = pa.concat_tables([p.visits for p in parts]).group_by("customer_id", use_threads=False).aggregate(
        [("visits", "sum")])
    return Totals(
        revenue=_sums(pa.concat_tables([p.revenue for p in parts])),
        visits=visits.select(["customer_id", "visits_sum"]).rename_columns(["customer_id", "visits"]),
        names=pa.concat_tables([p.names for p in parts]),
        id_list=_unique(pa.chunked_array([p.id_list for p in parts], type=pa.large_string())),
        rows={table: sum(p.rows[table] for p in parts) for table in parts[0].rows},
        orders_revenue=float(sum(p.orders_revenue for p in parts)),
        first=min(firsts) if firsts else None,
        last=max(lasts) if lasts else None,
    )
