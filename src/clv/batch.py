"""Apply one batch of events to the stored tables (docs/contract.md, "Batches" and "Duplicates and conflicts").

A batch is a set: an UPDATE may come before its NEW, and among clashing NEWs
the first in file order wins. An event whose identity (type, verb, key,
event_time) is already accepted is a duplicate when its content is the same,
and a conflict when it is not. Everything here is a vectorised join or group
over the whole batch; only the content of repeated identities is compared
value by value.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from . import events as ev
from . import tables as tb
from .timefmt import iso_utc
from .validation import validate

INGESTED, UPDATED, DUPLICATE, REJECTED = "ingested", "updated", "duplicate", "rejected"
STATUSES = (REJECTED, INGESTED, UPDATED, DUPLICATE)  # kept as codes while settling: 0, rejected, until accepted


@dataclass
class Applied:
    """What a batch adds to the stored rows it was settled against, and what happened to each event of it."""

    stored: dict[str, pd.DataFrame]
    added: dict[str, pd.DataFrame]  # the rows this batch adds to each table
    events: pd.DataFrame  # the validated batch with status, reason and message
    orphans: int

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The stored rows with the batch's added (built when asked: a store commits only what was added)."""
        return {t: _joined(frame, self.added.get(t)) for t, frame in self.stored.items()}


def _joined(stored: pd.DataFrame, added: pd.DataFrame | None) -> pd.DataFrame:
    return stored if added is None else pd.concat([stored, added], ignore_index=True)


@dataclass
class _Outcome:
    """Status (a code of STATUSES), reason and message per event of the batch, filled rule by rule."""

    status: np.ndarray
    reason: np.ndarray
    message: np.ndarray

    def mark(self, rows: pd.Index | np.ndarray, status: str) -> None:
        self.status[rows] = STATUSES.index(status)

    def reject(self, rows: pd.Index, code: str, messages: list[str]) -> None:
        self.mark(rows, REJECTED)
        self.reason[rows] = code
        self.message[rows] = messages


def _differing(batch: pd.DataFrame, rows: pd.Index, accepted: pd.DataFrame, columns: tuple[str, ...]) -> list[list[str]]:
    """Per batch row, the content columns in which it differs from the accepted row at the same position."""
    differ = [[] for _ in rows]
    for column in columns:
        mine = batch.loc[rows, column].to_numpy(dtype=object, na_value=None)
        theirs = accepted[column].to_numpy(dtype=object, na_value=None)
        for n, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            if (list(a) if isinstance(a, (list, np.ndarray)) else a) != \
                    (list(b) if isinstance(b, (list, np.ndarray)) else b):
                differ[n].append(column)
    return differ


def _repeats(batch: pd.DataFrame, rows: pd.Index, accepted: pd.DataFrame, columns: tuple[str, ...],
             outcome: _Outcome) -> None:
    """Events whose identity is accepted already: duplicates when the content is the same, else conflicts."""
    if not len(rows):
        return
    differ = _differing(batch, rows, accepted, columns)
    changed = np.array([bool(d) for d in differ])
    outcome.mark(rows[~changed], DUPLICATE)
    clash = rows[changed]
    outcome.reject(clash, "conflict", [
        f"{batch.at[i, 'type']} {batch.at[i, 'verb']} key {batch.at[i, 'key']!r} at {iso_utc(batch.at[i, 'event_time'])} "
        f"was already accepted with a different {', '.join(fields)}"
        for i, fields in zip(clash, (d for d in differ if d), strict=True)
    ])


def _first_of_each(batch: pd.DataFrame, shared: pd.DataFrame, by: list[str], rows: pd.Index,
                   columns: tuple[str, ...]) -> pd.DataFrame:
    """For each of rows, the content of the first row of shared (in batch order) with its values of `by`.

    Only the content columns of those first rows are taken from the batch, aligned to rows.
    """
    if not len(rows):
        return batch.loc[rows, list(columns)]
    first = pd.Series(shared.index, index=shared.index).groupby(
        [shared[c] for c in by], sort=False, observed=True).transform("first")
    return batch.loc[first.loc[rows].to_numpy(), list(columns)].reset_index(drop=True)


def _creating(batch: pd.DataFrame, rows: pd.Index, stored: pd.DataFrame, columns: tuple[str, ...],
              outcome: _Outcome) -> pd.Index:
    """Settle NEW/UPLOAD events of one type; return the accepted ones."""
    new = batch.loc[rows, ["key", "event_time"]]  # the identity decides; content is read only for repeats
    existing = stored.loc[tb.creating_rows(stored)].set_index("key")
    in_store = tb.member(new["key"], existing.index.to_series())
    if in_store.any():
        known = new.loc[in_store]
        accepted = existing.reindex(known["key"].to_numpy())
        same_time = (known["event_time"].to_numpy() == accepted["event_time"].to_numpy())
        _repeats(batch, known.index[same_time], accepted.loc[same_time], columns, outcome)
        clash = known.index[~same_time]
        outcome.reject(clash, "duplicate_key", [
            f"{batch.at[i, 'type']} key {batch.at[i, 'key']!r} already exists with event_time "
            f"{iso_utc(stored_time)}; this {batch.at[i, 'verb']} has {iso_utc(batch.at[i, 'event_time'])}"
            for i, stored_time in zip(clash, accepted["event_time"].to_numpy()[~same_time], strict=True)
        ])
    fresh = new.loc[~in_store] if in_store.any() else new
    # Only keys that occur more than once need the first-in-file-order rule.
    shared = fresh.loc[fresh["key"].duplicated(keep=False).to_numpy()]
    first_time = shared.groupby("key", sort=False, observed=True)["event_time"].transform("first")
    later = (shared["event_time"] != first_time).to_numpy()
    repeat = shared.duplicated(["key", "event_time"]).to_numpy()
    again = shared.index[~later & repeat]
    _repeats(batch, again, _first_of_each(batch, shared, ["key"], again, columns), columns, outcome)
    clash = shared.index[later]
    outcome.reject(clash, "duplicate_key", [
        f"{batch.at[i, 'type']} key {batch.at[i, 'key']!r} was already created earlier in this batch with "
        f"event_time {iso_utc(first_time.at[i])}; this {batch.at[i, 'verb']} has "
        f"{iso_utc(batch.at[i, 'event_time'])}"
        for i in clash
    ])
    return fresh.index.difference(shared.index[later | repeat])


def _updates(batch: pd.DataFrame, rows: pd.Index, stored: pd.DataFrame, created: pd.Index,
             columns: tuple[str, ...], outcome: _Outcome) -> pd.Index:
    """Settle UPDATE events of one type; return the accepted ones."""
    if not len(rows):
        return rows
    updates = batch.loc[rows, ["key", "event_time"]]
    known = tb.member(updates["key"], stored["key"], batch.loc[created, "key"])
    unknown = rows[~known]
    outcome.reject(unknown, "unknown_key", [
        f"UPDATE for {batch.at[i, 'type']} key {batch.at[i, 'key']!r}, which neither the store nor this batch creates"
        for i in unknown
    ])
    updates = updates.loc[known]
    identity = ["key", "event_time"]
    stored_updates = stored.loc[stored["verb"] == ev.UPDATE].drop_duplicates(identity).set_index(identity)
    seen = pd.MultiIndex.from_frame(updates[identity]).isin(stored_updates.index)
    _repeats(batch, updates.index[seen], stored_updates.reindex(pd.MultiIndex.from_frame(updates.loc[seen, identity])),
             columns, outcome)
    fresh = updates.loc[~seen]
    again = fresh.index[fresh.duplicated(identity).to_numpy()]
    twice = fresh.index[fresh.duplicated(identity, keep=False).to_numpy()]
    _repeats(batch, again, _first_of_each(batch, fresh.loc[twice], identity, again, columns), columns, outcome)
    return fresh.index.difference(again)


def apply(tables: dict[str, pd.DataFrame], entries: list, first_seq: int,
          on_chunk: Callable[[int], None] | None = None) -> Applied:
    """Validate entries and add the accepted ones to (copies of) the tables."""
    return settle(tables, validate(entries, on_chunk), first_seq)


def wanted(batch: pd.DataFrame) -> dict[str, pd.Series]:
    """Per table, the keys whose stored rows settling this validated batch needs to see.

    Those are the keys of its valid events, and for the customers table also the
    customer ids its events name (to count orphans).
    """
    valid = batch["reason"].isna().to_numpy()
    keys = {}
    for event_type in ev.types():
        keys[event_type.table] = batch["key"][valid & (batch["type"] == event_type.name).to_numpy()]
    ids = [batch[ev.CUSTOMER_FIELD][valid & batch["type"].isin(
        [ev.table_type(t).name for t in ev.customer_tables()]).to_numpy()]]
    keys[ev.CUSTOMERS] = pd.concat([keys[ev.CUSTOMERS], *ids], ignore_index=True).dropna()
    return keys


def settle(tables: dict[str, pd.DataFrame], batch: pd.DataFrame, first_seq: int) -> Applied:
    """Apply the rules to a validated batch against the stored rows it touches (all of them will do too).

    Arrival order is first_seq + position in the batch; it breaks event_time ties.
    """
    n = len(batch)
    valid = batch["reason"].isna().to_numpy()
    reason = batch["reason"].to_numpy(dtype=object, na_value=None)
    message = batch["message"].to_numpy(dtype=object, na_value=None)
    outcome = _Outcome(np.zeros(n, dtype=np.int8), reason, message)
    update = (batch["verb"] == ev.UPDATE).to_numpy()  # a valid event's other verbs are its type's creating ones
    seq = np.arange(first_seq, first_seq + n, dtype="int64")
    accepted_new: dict[str, pd.Index] = {}
    added = {}
    for event_type in ev.types():
        table = event_type.table
        stored = tables[table]
        of_type = valid & (batch["type"] == event_type.name).to_numpy()
        created = _creating(batch, batch.index[of_type & ~update], stored, event_type.columns, outcome)
        outcome.mark(created, INGESTED)
        updated = _updates(batch, batch.index[of_type & update], stored, created, event_type.columns, outcome)
        outcome.mark(updated, UPDATED)
        accepted_new[table] = created
        accepted = created.union(updated)
        if len(accepted):
            kept = [c for c in tb.columns(table) if c != "seq"]  # only this table's columns are taken
            rows = batch.index.get_indexer(accepted)
            added[table] = tb.conform(batch[kept].take(rows).assign(seq=seq[rows]), table)
    status = pa.DictionaryArray.from_arrays(outcome.status, pa.array(STATUSES, pa.large_string()))
    batch["status"] = pd.Series(status.cast(pa.large_string()), index=batch.index, dtype="str")
    batch["reason"] = _strings(reason, batch.index)
    batch["message"] = _strings(message, batch.index)
    customers = _joined(tables[ev.CUSTOMERS], added.get(ev.CUSTOMERS))
    return Applied(tables, added, batch, _orphans(batch, accepted_new, customers))


def _strings(values: np.ndarray, index: pd.Index) -> pd.Series:
    """Objects (str or None) as a str column, built by Arrow: pandas' own conversion walks them in Python."""
    return pd.Series(pa.array(values, type=pa.large_string()), index=index, dtype="str")


def _orphans(batch: pd.DataFrame, accepted_new: dict[str, pd.Index], customers: pd.DataFrame) -> int:
    """New rows of this batch whose customer has no CUSTOMER record (yet)."""
    new = np.zeros(len(batch), dtype=bool)
    for table in ev.customer_tables():
        new[batch.index.get_indexer(accepted_new[table])] = True
    return int((~tb.member(batch[ev.CUSTOMER_FIELD][new], customers["key"])).sum())
