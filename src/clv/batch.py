"""Apply one batch of events to the stored tables (docs/contract.md, "Batches" and "Duplicates and conflicts").

A batch is a set: an UPDATE may come before its NEW, and among clashing NEWs
the first in file order wins. Events whose identity (type, verb, key,
event_time) is already accepted are duplicates. Everything here is a
vectorised join or group over the whole batch.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import events as ev
from . import tables as tb
from .timefmt import iso_utc
from .validation import validate

INGESTED, UPDATED, DUPLICATE, REJECTED = "ingested", "updated", "duplicate", "rejected"


@dataclass
class Applied:
    """The tables after a batch, and what happened to each event of it."""

    tables: dict[str, pd.DataFrame]
    events: pd.DataFrame  # the validated batch with status, reason and message
    orphans: int


def _creating(batch: pd.DataFrame, rows: pd.Index, stored: pd.DataFrame, status: np.ndarray,
              reason: np.ndarray, message: np.ndarray) -> pd.Index:
    """Settle NEW/UPLOAD events of one type; return the accepted ones."""
    new = batch.loc[rows, ["key", "event_time"]]
    existing = stored.loc[tb.creating_rows(stored)]
    in_store = tb.member(new["key"], existing["key"])
    if in_store.any():
        known = new.loc[in_store]
        stored_time = pd.Series(existing.set_index("key")["event_time"].reindex(known["key"].to_numpy()).to_numpy(),
                                index=known.index)
        same_as_store = (known["event_time"] == stored_time).to_numpy()
        status[known.index[same_as_store]] = DUPLICATE
        clash = known.index[~same_as_store]
        reason[clash] = "duplicate_key"
        message[clash] = [
            f"{batch.at[i, 'type']} key {batch.at[i, 'key']!r} already exists with event_time "
            f"{iso_utc(stored_time.at[i])}; this {batch.at[i, 'verb']} has {iso_utc(batch.at[i, 'event_time'])}"
            for i in clash
        ]
    fresh = new.loc[~in_store]
    # Only keys that occur more than once need the first-in-file-order rule.
    shared = fresh.loc[fresh["key"].duplicated(keep=False).to_numpy()]
    first_time = shared.groupby("key", sort=False, observed=True)["event_time"].transform("first")
    later = (shared["event_time"] != first_time).to_numpy()
    repeat = shared.duplicated(["key", "event_time"]).to_numpy()
    status[shared.index[~later & repeat]] = DUPLICATE
    clash = shared.index[later]
    reason[clash] = "duplicate_key"
    message[clash] = [
        f"{batch.at[i, 'type']} key {batch.at[i, 'key']!r} was already created earlier in this batch with "
        f"event_time {iso_utc(first_time.at[i])}; this {batch.at[i, 'verb']} has "
        f"{iso_utc(batch.at[i, 'event_time'])}"
        for i in clash
    ]
    return fresh.index.difference(shared.index[later | repeat])


def _updates(batch: pd.DataFrame, rows: pd.Index, stored: pd.DataFrame, created: pd.Index,
             status: np.ndarray, reason: np.ndarray, message: np.ndarray) -> pd.Index:
    """Settle UPDATE events of one type; return the accepted ones."""
    updates = batch.loc[rows, ["key", "event_time"]]
    known = tb.member(updates["key"], stored["key"], batch.loc[created, "key"])
    unknown = rows[~known]
    reason[unknown] = "unknown_key"
    message[unknown] = [
        f"UPDATE for {batch.at[i, 'type']} key {batch.at[i, 'key']!r}, which neither the store nor this batch creates"
        for i in unknown
    ]
    updates = updates.loc[known]
    stored_updates = stored.loc[stored["verb"] == ev.UPDATE, ["key", "event_time"]]
    seen = pd.MultiIndex.from_frame(updates).isin(pd.MultiIndex.from_frame(stored_updates))
    repeat = seen | updates.duplicated().to_numpy()
    status[updates.index[repeat]] = DUPLICATE
    return updates.index[~repeat]


def apply(tables: dict[str, pd.DataFrame], entries: list, first_seq: int,
          on_chunk: Callable[[int], None] | None = None) -> Applied:
    """Validate entries and add the accepted ones to (copies of) the tables.

    Arrival order is first_seq + position in the batch; it breaks event_time ties.
    """
    batch = validate(entries, on_chunk)
    n = len(batch)
    reason = batch["reason"].to_numpy(dtype=object, na_value=None)
    message = batch["message"].to_numpy(dtype=object, na_value=None)
    status = np.where(pd.isna(reason), None, REJECTED).astype(object)
    valid = pd.isna(reason)
    seq = pd.Series(np.arange(first_seq, first_seq + n, dtype="int64"), index=batch.index)
    accepted_new: dict[str, pd.Index] = {}
    result = dict(tables)
    for event_type in ev.types():
        table = event_type.table
        stored = tables[table]
        of_type = valid & (batch["type"] == event_type.name).to_numpy()
        creating = batch.index[of_type & batch["verb"].isin(event_type.creating_verbs).to_numpy()]
        created = _creating(batch, creating, stored, status, reason, message)
        status[created] = INGESTED
        updating = batch.index[of_type & (batch["verb"] == ev.UPDATE).to_numpy()]
        updated = _updates(batch, updating, stored, created, status, reason, message)
        status[updated] = UPDATED
        accepted_new[table] = created
        accepted = created.union(updated)
        if len(accepted):
            added = batch.loc[accepted].assign(seq=seq.loc[accepted])
            result[table] = pd.concat([stored, tb.conform(added, table)], ignore_index=True)
    status[pd.isna(status)] = REJECTED
    batch["status"] = status
    batch["reason"] = pd.Series(reason, index=batch.index, dtype="str")
    batch["message"] = pd.Series(message, index=batch.index, dtype="str")
    return Applied(result, batch, _orphans(batch, accepted_new, result[ev.CUSTOMERS]))


def _orphans(batch: pd.DataFrame, accepted_new: dict[str, pd.Index], customers: pd.DataFrame) -> int:
    """New rows of this batch whose customer has no CUSTOMER record (yet)."""
    rows = pd.Index([], dtype="int64")
    for table in ev.customer_tables():
        rows = rows.union(accepted_new[table])
    return int((~tb.member(batch.loc[rows, ev.CUSTOMER_FIELD], customers["key"])).sum())
