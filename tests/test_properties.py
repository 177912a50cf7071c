"""Invariants over generated batches (hypothesis).

A batch is a set: for batches where the spec leaves nothing to file order (no
two different NEWs for one key, no two versions of a key at one instant), any
order gives the same store. And ingesting a file again only adds duplicates.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import batches

from clv.ingest import ingest
from clv.ltv import ltv_table
from clv.store import MemoryStore


def ingest_list(events: list, folder: Path, name: str) -> tuple[MemoryStore, object]:
    store = MemoryStore()
    path = folder / name
    path.write_text(json.dumps(events), encoding="utf-8")
    return store, ingest(store, [path]).total


def views(store: MemoryStore) -> dict[str, pd.DataFrame]:
    return {name: frame.sort_values("key").reset_index(drop=True) for name, frame in store.snapshot().current().items()}


PROPERTY = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEWER = settings(PROPERTY, max_examples=6)


@PROPERTY
@given(data=st.data())
def test_any_order_of_a_batch_gives_the_same_store(tmp_path, data):
    events = data.draw(batches())
    shuffled = data.draw(st.permutations(events))
    first, first_total = ingest_list(events, tmp_path, "a.json")
    second, second_total = ingest_list(shuffled, tmp_path, "b.json")
    for name, frame in views(first).items():
        pd.testing.assert_frame_equal(frame, views(second)[name])
    assert first_total.rejected_by_reason == second_total.rejected_by_reason
    assert (first_total.ingested, first_total.updated, first_total.duplicates, first_total.orphans) == \
        (second_total.ingested, second_total.updated, second_total.duplicates, second_total.orphans)
    if first.snapshot().size():
        pd.testing.assert_frame_equal(ltv_table(first.snapshot()), ltv_table(second.snapshot()))


@PROPERTY
@given(events=batches())
def test_ingesting_a_file_twice_only_adds_duplicates(tmp_path, events):
    store, first = ingest_list(events, tmp_path, "same.json")
    tables = {name: frame.copy() for name, frame in store.snapshot().tables.items()}
    held = store.snapshot().held
    second = ingest(store, [tmp_path / "same.json"]).total
    assert (second.ingested, second.updated, second.orphans) == (0, 0, 0)
    assert second.duplicates == first.ingested + first.updated + first.duplicates
    assert second.rejected_by_reason == first.rejected_by_reason
    for name, frame in store.snapshot().tables.items():
        pd.testing.assert_frame_equal(frame, tables[name])
    assert store.snapshot().held == held


def altered(event: dict, n: int) -> dict:
    """The event with other content under the same identity."""
    field = "total_amount" if event.get("type") == "ORDER" else "last_name"
    return {**event, field: f"{n + 100} USD" if field == "total_amount" else f"Other{n}"}


def identities(events: list) -> list[dict]:
    """The valid customer and order events, one per identity."""
    seen, out = set(), []
    for e in events:
        if isinstance(e, dict) and e.get("type") in ("CUSTOMER", "ORDER") and e.get("verb") in ("NEW", "UPDATE") \
                and "key" in e and e.get("total_amount") != "5 EUR":
            identity = (e["type"], e["verb"], e["key"], e["event_time"])
            if identity not in seen:
                seen.add(identity)
                out.append(e)
    return out


@FEWER
@given(data=st.data())
def test_conflicts_in_a_file_are_held_again_but_change_nothing_when_it_is_ingested_twice(tmp_path, data):
    events = data.draw(batches())
    chosen = data.draw(st.lists(st.sampled_from(identities(events)), max_size=3, unique_by=id)) \
        if identities(events) else []
    with_conflicts = events + [altered(e, n) for n, e in enumerate(chosen)]
    store, first = ingest_list(with_conflicts, tmp_path, "conflicts.json")
    tables = {name: frame.copy() for name, frame in store.snapshot().tables.items()}
    held = store.snapshot().held
    second = ingest(store, [tmp_path / "conflicts.json"]).total
    assert second.rejected_by_reason == first.rejected_by_reason
    assert (second.ingested, second.updated) == (0, 0)
    for name, frame in store.snapshot().tables.items():
        pd.testing.assert_frame_equal(frame, tables[name])
    assert store.snapshot().held == held


@FEWER
@given(data=st.data())
def test_conflicting_repeats_of_a_stored_batch_in_any_order_change_nothing(tmp_path, data):
    events = data.draw(batches())
    store, _ = ingest_list(events, tmp_path, "base.json")
    accepted = [e for e in identities(events)
                if not any(h.get("event") == e for h in store.snapshot().held)]
    repeats = data.draw(st.permutations([altered(e, n) for n, e in enumerate(accepted)]))
    before = views(store)
    path = tmp_path / "repeats.json"
    path.write_text(json.dumps(repeats), encoding="utf-8")
    total = ingest(store, [path]).total
    assert total.ingested == total.updated == 0
    assert total.rejected_by_reason.get("conflict", 0) + total.duplicates == len(repeats)
    for name, frame in views(store).items():
        pd.testing.assert_frame_equal(frame, before[name])
