"""What the store holds at a glance (the Overview option and the `stats` command)."""
from __future__ import annotations

from collections import Counter

from . import events as ev
from .ltv import timeframe
from .output import denoise
from .store import Snapshot
from .timefmt import iso_utc


def overview(snapshot: Snapshot, held: list[dict]) -> dict:
    """Counts, timeframe, revenue, visits per customer, held rejects and the last ingestion."""
    totals = snapshot.totals()
    ids = totals.ids
    rows = snapshot.rows()
    with_record = rows[ev.CUSTOMERS]
    span = timeframe(snapshot)
    visits = rows[ev.VISITS]
    reasons = Counter(h.get("reason") for h in held)
    return {
        "rows": rows,
        "store_size": sum(rows.values()),
        "customers": {"total": len(ids), "with_record": with_record, "without_record": len(ids) - with_record},
        "first_event": iso_utc(span[0]) if span else None,
        "last_event": iso_utc(span[1]) if span else None,
        "weeks": span[2] if span else None,
        "orders": rows[ev.ORDERS],
        "total_revenue": float(denoise([totals.orders_revenue])[0]),
        "site_visits_per_customer": visits / len(ids) if len(ids) else None,
        "rejected_held": len(held),
        "rejected_held_by_reason": {code: reasons[code] for code in ev.REJECTION_CODES if reasons[code]},
        "last_ingest": snapshot.last_ingest,
    }
