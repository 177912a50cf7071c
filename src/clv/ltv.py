"""Simple customer lifetime value (docs/contract.md, "Simple LTV").

    ltv = WEEKS_PER_YEAR × weekly_value × LIFESPAN_YEARS
    weekly_value = total_revenue / weeks

where weeks counts the Sunday-to-Saturday weeks (UTC) from the one holding
the earliest accepted event to the one holding the latest, both included.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import NoDataError
from .store import Snapshot

WEEKS_PER_YEAR = 52
LIFESPAN_YEARS = 10
# 1970-01-04 was a Sunday: week numbers count from there.
FIRST_SUNDAY = pd.Timestamp("1970-01-04", tz="UTC")
WEEK = pd.Timedelta(days=7)
COLUMNS = ["rank", "customer_id", "last_name", "total_revenue", "site_visits", "revenue_per_visit",
           "visits_per_week", "weekly_value", "ltv"]


def week_number(moment: pd.Timestamp) -> int:
    """Which Sunday-based week a moment falls in."""
    return int((moment - FIRST_SUNDAY) // WEEK)


def weeks_spanned(first: pd.Timestamp, last: pd.Timestamp) -> int:
    """Weeks from the one holding first to the one holding last, both included."""
    return week_number(last) - week_number(first) + 1


def timeframe(snapshot: Snapshot) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
    """(earliest event, latest event, weeks), or None for an empty store."""
    totals = snapshot.totals()
    if totals.first is None:
        return None
    return totals.first, totals.last, weeks_spanned(totals.first, totals.last)


def ltv_figures(snapshot: Snapshot) -> pd.DataFrame:
    """Every customer id in the store with its LTV figures, in no set order (ranking them is the costly part)."""
    span = timeframe(snapshot)
    if span is None:
        raise NoDataError("no data: the store is empty; ingest some events first")
    weeks = span[2]
    table = snapshot.totals().per_customer()
    table["revenue_per_visit"] = (table["total_revenue"] / table["site_visits"]).where(table["site_visits"] > 0)
    table["visits_per_week"] = table["site_visits"] / weeks
    table["weekly_value"] = table["total_revenue"] / weeks
    table["ltv"] = WEEKS_PER_YEAR * table["weekly_value"] * LIFESPAN_YEARS
    return table


def ranked(table: pd.DataFrame) -> pd.DataFrame:
    """Highest LTV first (a value that is not a number last), ties by customer_id; rank numbers the rows."""
    table = table.sort_values(["ltv", "customer_id"], ascending=[False, True], kind="stable", ignore_index=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table[COLUMNS]


def _sortable(values: np.ndarray) -> np.ndarray:
    """LTV values where not-a-number ranks below everything, as in the ranking."""
    return np.where(np.isnan(values), -np.inf, values)


def ltv_table(snapshot: Snapshot) -> pd.DataFrame:
    """Every customer id in the store with its LTV figures, ranked (ties by customer_id)."""
    return ranked(ltv_figures(snapshot))


def top_of(table: pd.DataFrame, x: int) -> pd.DataFrame:
    """The first x rows of the ranking of table, found without ranking all of it."""
    if x < len(table):
        values = _sortable(table["ltv"].to_numpy(dtype="float64"))
        least = np.partition(values, len(values) - x)[len(values) - x]  # the x-th highest: ties with it may rank
        table = table.loc[values >= least]
    return ranked(table).head(x)


def rank_of(table: pd.DataFrame, customer_id: str) -> pd.Series:
    """One customer id's row of the ranking of table, its rank included, without ranking all of it."""
    values = _sortable(table["ltv"].to_numpy(dtype="float64"))
    ids = table["customer_id"].to_numpy(dtype=object)
    mine = np.flatnonzero(ids == customer_id)[0]
    before = (values > values[mine]) | ((values == values[mine]) & (ids < customer_id))
    row = table.iloc[mine].copy()
    row["rank"] = int(before.sum()) + 1
    return row[COLUMNS]


HISTOGRAM_BINS = 8


def distribution(table: pd.DataFrame, x: int) -> dict:
    """How LTV is spread over all customers, and the share the top x hold.

    A value that is not finite (a store written by other means may hold one) is left out of the
    histogram rather than breaking it; the shares and percentiles then say what they can.
    """
    values = table["ltv"].to_numpy(dtype="float64")
    total = values.sum()
    finite = values[np.isfinite(values)]
    top = max(finite.max(), 1e-9) if finite.size else 1e-9
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS, range=(0.0, top))
    highest = np.partition(values, len(values) - x)[len(values) - x:] if 0 < x < len(values) else values
    return {
        "customers": len(values),
        "top": min(x, len(values)),
        "top_share": float(highest.sum() / total) if 0 < total < np.inf else None,
        **{name: float(np.percentile(values, q)) if values.size else None
           for name, q in (("median", 50), ("p90", 90), ("p99", 99))},
        "histogram": [(float(lo), float(hi), int(n)) for lo, hi, n in zip(edges[:-1], edges[1:], counts)],
    }


def top_customers(snapshot: Snapshot, x: int) -> pd.DataFrame:
    """The x customers with the highest LTV (all of them when x exceeds the count)."""
    if x < 1:
        raise ValueError("x must be a positive whole number")
    return top_of(ltv_figures(snapshot), x)
