"""One customer: fields, orders, activity and LTV rank (the Customer option and the `customer` command)."""
from __future__ import annotations

import pandas as pd

from . import events as ev
from .errors import ClvError
from .ltv import customer_ids, ltv_table
from .store import Snapshot

SUGGESTIONS = 10


class UnknownCustomer(ClvError):
    """An id the store does not know; carries the known ids that start like it."""

    def __init__(self, customer_id: str, suggestions: list[str]) -> None:
        hint = f"; ids that start like it: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"no customer {customer_id!r} in the store{hint}")
        self.suggestions = suggestions


def similar_ids(ids: pd.Index, text: str) -> list[str]:
    """Known ids sharing the longest prefix with text (case-insensitive), best first."""
    lowered = pd.Series(ids, dtype="str").str.lower()
    needle = text.strip().lower()
    for length in range(len(needle), 0, -1):
        hits = sorted(ids[lowered.str.startswith(needle[:length]).to_numpy()].tolist())
        if hits:
            return hits[:SUGGESTIONS]
    return []


def customer_profile(snapshot: Snapshot, customer_id: str) -> dict:
    """Everything the store knows about one customer id."""
    customer_id = customer_id.strip()
    views = snapshot.current()
    ids = customer_ids(views)
    if customer_id not in ids:
        raise UnknownCustomer(customer_id, similar_ids(ids, customer_id))
    record = views[ev.CUSTOMERS].loc[views[ev.CUSTOMERS]["key"] == customer_id]
    orders = views[ev.ORDERS].loc[views[ev.ORDERS][ev.CUSTOMER_FIELD] == customer_id]
    figures = ltv_table(snapshot).set_index("customer_id").loc[customer_id]
    return {
        "customer_id": customer_id,
        "record": record.drop(columns="key").iloc[0].to_dict() if len(record) else None,
        "orders": orders.drop(columns=ev.CUSTOMER_FIELD).reset_index(drop=True),
        **{table: int((views[table][ev.CUSTOMER_FIELD] == customer_id).sum())
           for table in ev.customer_tables() if table != ev.ORDERS},
        "ltv": {name: figures[name] for name in figures.index},
        "customers_ranked": len(ids),
    }
