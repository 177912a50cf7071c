"""One customer: fields, orders, activity and LTV rank (the Customer option and the `customer` command)."""
from __future__ import annotations

import pandas as pd

from . import events as ev
from .errors import ClvError
from .ltv import ltv_figures, rank_of
from .output import frame_records
from .store import Snapshot
from .tables import current
from .terminal import escape

SUGGESTIONS = 10
FIGURES = ("total_revenue", "revenue_per_visit", "visits_per_week", "weekly_value", "ltv")


class UnknownCustomer(ClvError):
    """An id the store does not know; carries the known ids that start like it."""

    def __init__(self, customer_id: str, suggestions: list[str]) -> None:
        hint = f"; ids that start like it: {', '.join(suggestions)}" if suggestions else ""
        shown = escape(customer_id if len(customer_id) <= 80 else customer_id[:80] + "…")
        super().__init__(f"no customer '{shown}' in the store{hint}")
        self.suggestions = suggestions


def _decodable(text: str) -> str:
    """The part of text before its first byte that was not UTF-8 (a lone surrogate): no stored id holds one."""
    for i, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            return text[:i]
    return text


def similar_ids(ids: pd.Index, text: str) -> list[str]:
    """Known ids sharing the longest prefix with text (case-insensitive), best first."""
    lowered = pd.Series(ids, dtype="str").str.lower()
    needle = _decodable(text.strip()).lower()[:200]
    for length in range(len(needle), 0, -1):
        hits = sorted(ids[lowered.str.startswith(needle[:length]).to_numpy()].tolist())
        if hits:
            return hits[:SUGGESTIONS]
    return []


def customer_profile(snapshot: Snapshot, customer_id: str) -> dict:
    """Everything the store knows about one customer id."""
    customer_id = customer_id.strip()
    ids = snapshot.totals().ids
    if _decodable(customer_id) != customer_id or customer_id not in ids:
        raise UnknownCustomer(customer_id, similar_ids(ids, customer_id))
    views = current(snapshot.customer_rows(customer_id))
    customers = views[ev.CUSTOMERS]
    record = customers.loc[customers["key"] == customer_id]
    orders = views[ev.ORDERS].loc[views[ev.ORDERS][ev.CUSTOMER_FIELD] == customer_id]
    figures = rank_of(ltv_figures(snapshot), customer_id).drop("customer_id")
    return {
        "customer_id": customer_id,
        "record": record.drop(columns="key").iloc[0].to_dict() if len(record) else None,
        "record_fields": [c for c in customers.columns if c != "key"],
        "orders": orders.drop(columns=ev.CUSTOMER_FIELD).reset_index(drop=True),
        **{table: int((views[table][ev.CUSTOMER_FIELD] == customer_id).sum())
           for table in ev.customer_tables() if table != ev.ORDERS},
        "ltv": {name: figures[name] for name in figures.index},
        "customers_ranked": len(ids),
    }


def _activity(profile: dict) -> dict:
    return {table: profile[table] for table in ev.customer_tables() if table != ev.ORDERS}


def _record_frame(profile: dict) -> pd.DataFrame:
    fields = profile["record_fields"]
    record = profile["record"]
    return pd.DataFrame([record] if record else [{name: None for name in fields}], columns=fields)


def profile_data(profile: dict) -> dict:
    """The profile as JSON: the customer's fields (null without a CUSTOMER record), rank, LTV figures, activity
    and orders; numbers and instants as in every other JSON output."""
    figures = frame_records(pd.DataFrame([{name: profile["ltv"][name] for name in FIGURES}],
                                         columns=list(FIGURES)).astype("float64"))[0]
    return {
        "customer_id": profile["customer_id"],
        "record": frame_records(_record_frame(profile))[0] if profile["record"] is not None else None,
        "rank": int(profile["ltv"]["rank"]),
        "customers_ranked": profile["customers_ranked"],
        "ltv": figures,
        **_activity(profile),
        "orders": frame_records(profile["orders"]),
    }


def profile_row(profile: dict) -> pd.DataFrame:
    """The profile as one CSV row: id, fields, rank, activity, order count and LTV figures (orders: use JSON)."""
    row = pd.DataFrame({"customer_id": [profile["customer_id"]]})
    row = pd.concat([row, _record_frame(profile).reset_index(drop=True)], axis=1)
    row["rank"] = int(profile["ltv"]["rank"])
    row["customers_ranked"] = profile["customers_ranked"]
    for table, count in _activity(profile).items():
        row[table] = count
    row["orders"] = len(profile["orders"])
    for name in FIGURES:
        row[name] = pd.Series([profile["ltv"][name]], dtype="float64")
    return row
