"""What LTV and the overview need of the store, computed bucket by bucket and then combined.

A bucket holds every version of its keys, so each bucket resolves its own
customers and orders; what crosses buckets (a customer's orders and visits)
is a sum or a count per customer id, added up when the parts are combined.
Only the columns these figures need are read, one bucket at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import events as ev
from . import tables as tb


@dataclass
class Totals:
    """Per customer id: revenue (orders' current amounts) and visits; and the store's extent."""

    revenue: pd.Series  # by the current customer_id of orders
    visits: pd.Series  # site visits by customer_id
    ids: pd.Index  # every customer id: CUSTOMER records and the customer_id of any row
    last_name: pd.Series  # the current last name, by customer key
    rows: dict[str, int]  # current rows (keys) per table
    orders_revenue: float
    first: pd.Timestamp | None
    last: pd.Timestamp | None


def _columns(table: str) -> list[str]:
    """The stored columns these figures read from a table."""
    wanted = {ev.CUSTOMERS: ["last_name"], ev.ORDERS: [ev.CUSTOMER_FIELD, "amount"]}.get(
        table, [ev.CUSTOMER_FIELD] if table in ev.customer_tables() else [])
    return [*tb.IDENTITY, "seq", *wanted]


def columns_read() -> dict[str, list[str]]:
    return {table: _columns(table) for table in ev.tables()}


def totals_of(tables: dict[str, pd.DataFrame]) -> Totals:
    """The figures of some rows of every table (all of them, or one bucket's)."""
    times = pd.concat([frame["event_time"] for frame in tables.values()], ignore_index=True).dropna()
    current = {}
    for table, frame in tables.items():
        fields = tuple(c for c in _columns(table) if c not in (*tb.IDENTITY, "seq"))
        current[table] = tb.resolve(frame, fields) if ev.table_type(table).versioned else frame
    orders = current[ev.ORDERS]
    named = [current[t][ev.CUSTOMER_FIELD] for t in ev.customer_tables()]
    ids = pd.Index(pd.concat([current[ev.CUSTOMERS]["key"], *named], ignore_index=True).dropna().unique(),
                   name="customer_id")
    return Totals(
        revenue=orders.groupby(ev.CUSTOMER_FIELD, observed=True)["amount"].sum(),
        visits=current[ev.VISITS].groupby(ev.CUSTOMER_FIELD, observed=True).size(),
        ids=ids,
        last_name=current[ev.CUSTOMERS].set_index("key")["last_name"],
        rows={table: int(tb.creating_rows(frame).sum()) for table, frame in tables.items()},
        orders_revenue=float(orders["amount"].sum()),
        first=times.min() if len(times) else None,
        last=times.max() if len(times) else None,
    )


def combine(parts: list[Totals]) -> Totals:
    """The figures of the whole store from those of its buckets."""
    if len(parts) == 1:
        return parts[0]
    firsts = [p.first for p in parts if p.first is not None]
    lasts = [p.last for p in parts if p.last is not None]
    return Totals(
        revenue=pd.concat([p.revenue for p in parts]).groupby(level=0).sum(),
        visits=pd.concat([p.visits for p in parts]).groupby(level=0).sum(),
        ids=pd.Index(pd.concat([p.ids.to_series() for p in parts], ignore_index=True).unique(), name="customer_id"),
        last_name=pd.concat([p.last_name for p in parts]),
        rows={table: sum(p.rows[table] for p in parts) for table in parts[0].rows},
        orders_revenue=float(sum(p.orders_revenue for p in parts)),
        first=min(firsts) if firsts else None,
        last=max(lasts) if lasts else None,
    )
