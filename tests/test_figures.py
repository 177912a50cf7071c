"""The per-customer figures a Delta store keeps commit by commit (src/clv/totals.py): always those its events give.

LTV and the overview read the change rows each commit appends, never every
version of every event; these tests hold them to the figures computed from the
events themselves, by hand and over generated commits.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import batches

from clv import totals as tt
from clv.errors import StoreError
from clv.ingest import ingest, reprocess
from clv.ltv import ltv_table
from clv.store import FIGURES, DeltaStore
from clv.versions import compact, rollback

from helpers import customer, image, order, visit, write_json


def kept(store: DeltaStore) -> pd.DataFrame:
    """The figures the store keeps, by customer id."""
    return store.snapshot().totals().per_customer().sort_values("customer_id", ignore_index=True)


def recomputed(store: DeltaStore) -> tuple[pd.DataFrame, list[int] | None]:
    """The figures computed again from every stored event, and their span."""
    fresh = tt.totals_of(tt.arrow_tables(DeltaStore(store.data_dir).snapshot().tables))
    return fresh.per_customer().sort_values("customer_id", ignore_index=True), fresh.span


def assert_kept_as_computed(store: DeltaStore) -> None:
    again, span = recomputed(store)
    mine = kept(store)
    pd.testing.assert_frame_equal(mine.drop(columns="total_revenue"), again.drop(columns="total_revenue"))
    assert mine["total_revenue"].tolist() == pytest.approx(again["total_revenue"].tolist(), rel=1e-12, abs=1e-9)
    assert store.snapshot().totals().span == span


def ingest_events(store: DeltaStore, folder: Path, name: str, events: list) -> None:
    ingest(store, [write_json(folder / name, events)])


def figures_of(store: DeltaStore) -> dict[str, tuple]:
    frame = kept(store)
    return {row.customer_id: (None if pd.isna(row.last_name) else row.last_name, row.total_revenue, row.site_visits)
            for row in frame.itertuples()}


# --- by hand ----------------------------------------------------------------------------------------------------------

def test_an_order_moved_to_another_customer_leaves_the_first_with_exactly_nothing(tmp_path):
    store = DeltaStore(tmp_path / "data")
    ingest_events(store, tmp_path, "1.json", [customer("c1", "2017-01-02T00:00:00Z", last_name="Ames"),
                                              order("o1", "2017-01-03T00:00:00Z", "c1", "0.10 USD"),
                                              order("o2", "2017-01-03T00:00:00Z", "c1", "0.20 USD"),
                                              order("o3", "2017-01-03T00:00:00Z", "c2", "5.00 USD")])
    assert figures_of(store) == {"c1": ("Ames", pytest.approx(0.30), 0), "c2": (None, 5.0, 0)}
    ingest_events(store, tmp_path, "2.json", [order("o1", "2017-01-04T00:00:00Z", "c2", "0.10 USD", "UPDATE"),
                                              order("o2", "2017-01-05T00:00:00Z", "c3", "0.25 USD", "UPDATE")])
    # c1 keeps its record but no order: revenue exactly 0, not what 0.1 + 0.2 - 0.1 - 0.2 comes to
    assert figures_of(store) == {"c1": ("Ames", 0.0, 0), "c2": (None, 5.1, 0), "c3": (None, 0.25, 0)}
    ingest_events(store, tmp_path, "3.json", [order("o3", "2017-01-06T00:00:00Z", "c3", "5.00 USD", "UPDATE"),
                                              order("o1", "2017-01-06T00:00:00Z", "c3", "0.10 USD", "UPDATE")])
    # c2 has no record and no current row naming it any more: it is no customer id of the store
    assert set(figures_of(store)) == {"c1", "c3"}
    assert_kept_as_computed(store)


def test_a_late_update_changes_only_what_is_newer_and_a_name_follows_its_record(tmp_path):
    store = DeltaStore(tmp_path / "data")
    ingest_events(store, tmp_path, "1.json", [customer("c1", "2017-01-02T00:00:00Z"),
                                              order("o1", "2017-01-10T00:00:00Z", "c1", "10 USD"),
                                              visit("v1", "2017-01-03T00:00:00Z", "c1"),
                                              image("i1", "2017-01-03T00:00:00Z", "c9")])
    assert figures_of(store) == {"c1": (None, 10.0, 1), "c9": (None, 0.0, 0)}
    ingest_events(store, tmp_path, "2.json", [order("o1", "2017-01-05T00:00:00Z", "c2", "99 USD", "UPDATE"),
                                              customer("c1", "2017-01-04T00:00:00Z", "UPDATE", last_name="Bo"),
                                              visit("v2", "2017-01-20T00:00:00Z", "c1")])
    # the UPDATE of o1 is older than its NEW: o1 stays c1's at 10
    assert figures_of(store) == {"c1": ("Bo", 10.0, 2), "c9": (None, 0.0, 0)}
    ingest_events(store, tmp_path, "3.json", [customer("c1", "2017-01-03T00:00:00Z", "UPDATE", last_name="Old")])
    assert figures_of(store)["c1"][0] == "Bo"
    span = store.snapshot().totals()
    assert (str(span.first), str(span.last)) == ("2017-01-02 00:00:00+00:00", "2017-01-20 00:00:00+00:00")
    assert_kept_as_computed(store)


def test_reprocessed_events_and_a_rollback_keep_the_figures_of_their_version(tmp_path):
    store = DeltaStore(tmp_path / "data")
    ingest_events(store, tmp_path, "1.json", [order("o1", "2017-01-05T00:00:00Z", "c1", "3 USD", "UPDATE")])
    assert store.snapshot().held and figures_of(store) == {}
    ingest_events(store, tmp_path, "2.json", [order("o1", "2017-01-02T00:00:00Z", "c2", "1 USD")])
    assert figures_of(store) == {"c2": (None, 1.0, 0)}
    reprocess(store)
    assert figures_of(store) == {"c1": (None, 3.0, 0)}
    assert_kept_as_computed(store)
    rollback(store, 1)
    assert figures_of(store) == {"c2": (None, 1.0, 0)}
    compact(store, 0)
    assert figures_of(store) == {"c2": (None, 1.0, 0)}
    assert_kept_as_computed(store)


# --- stores without change rows, and hand-edited ones ---------------------------------------------------------------

def _without_figures(data: Path) -> None:
    """The newest commit as an older release wrote it: no change rows, no figures of them."""
    log = max((data / "events" / "_delta_log").glob("*.json"))
    kept_lines = []
    for line in log.read_text().splitlines():
        action = json.loads(line)
        if f"table_name={FIGURES}/" in action.get("add", {}).get("path", ""):
            continue
        if "commitInfo" in action:
            meta = json.loads(action["commitInfo"]["clv"])
            for name in ("span", "figure_rows"):
                meta.pop(name)
            action["commitInfo"]["clv"] = json.dumps(meta)
        kept_lines.append(json.dumps(action))
    log.write_text("\n".join(kept_lines) + "\n")


def test_a_store_without_change_rows_is_figured_from_its_events_and_gets_them_at_its_next_commit(tmp_path):
    store = DeltaStore(tmp_path / "data")
    ingest_events(store, tmp_path, "1.json", [customer("c1", "2017-01-02T00:00:00Z", last_name="Ames"),
                                              order("o1", "2017-01-03T00:00:00Z", "c1", "4 USD"),
                                              visit("v1", "2017-01-03T00:00:00Z", "c2")])
    expected = figures_of(store)
    _without_figures(tmp_path / "data")
    store = DeltaStore(tmp_path / "data")
    assert not store.snapshot().summarised and figures_of(store) == expected
    ingest_events(store, tmp_path, "2.json", [order("o2", "2017-01-09T00:00:00Z", "c2", "6 USD")])
    assert store.snapshot().summarised
    assert figures_of(store) == {"c1": ("Ames", 4.0, 0), "c2": (None, 6.0, 1)}
    assert_kept_as_computed(store)


def test_a_commit_of_another_tool_is_counted_from_the_events(tmp_path):
    """Rows appended by another Delta writer have no change rows: the figures come from the events until the
    next commit of this tool puts them back."""
    store = DeltaStore(tmp_path / "data")
    ingest_events(store, tmp_path, "1.json", [order("o1", "2017-01-03T00:00:00Z", "c1", "4 USD")])
    schema = pa.schema(store.snapshot().delta_table.schema())
    row = {"table_name": "site_visits", "bucket": 0, "key": "v-other", "verb": "NEW",
           "event_time": pd.Timestamp("2017-01-04", tz="UTC"), "seq": 99, "customer_id": "c1"}
    write_deltalake(str(tmp_path / "data" / "events"), pa.Table.from_pylist([row]).cast(
        pa.schema([schema.field(name) for name in row])), mode="append", schema_mode="merge")
    store = DeltaStore(tmp_path / "data")
    assert not store.snapshot().summarised and figures_of(store) == {"c1": (None, 4.0, 1)}
    ingest_events(store, tmp_path, "2.json", [visit("v2", "2017-01-05T00:00:00Z", "c1")])
    assert store.snapshot().summarised and figures_of(store) == {"c1": (None, 4.0, 2)}


def test_change_rows_the_log_does_not_account_for_are_refused(tmp_path):
    store = DeltaStore(tmp_path / "data")
    ingest_events(store, tmp_path, "1.json", [order("o1", "2017-01-03T00:00:00Z", "c1", "4 USD")])
    log = max((tmp_path / "data" / "events" / "_delta_log").glob("*.json"))
    log.write_text(log.read_text().replace('\\"figure_rows\\": 1', '\\"figure_rows\\": 2'))
    with pytest.raises(StoreError, match="is damaged .*2"):
        ltv_table(DeltaStore(tmp_path / "data").snapshot())


# --- generated commits ----------------------------------------------------------------------------------------------

@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_figures_kept_over_any_commits_are_those_of_the_events(tmp_path_factory, data):
    """A batch cut into commits at any points (updates before, after and long after their NEW, customers moving
    orders, late updates), the store compacted after one of them, then its held events reprocessed: every commit
    keeps the figures its events give, and compacting folds the change rows to one per id and changes none."""
    events = data.draw(batches())
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=3)))
    compacted_after = data.draw(st.integers(0, len(cuts)))
    folder = tmp_path_factory.mktemp("commits")
    store = DeltaStore(folder / "data")
    for n, (start, stop) in enumerate(zip([0, *cuts], [*cuts, len(events)], strict=True)):
        ingest_events(store, folder, f"{n}.json", events[start:stop])
        if n == compacted_after:
            before = kept(store)
            result = compact(store, 0)
            pd.testing.assert_frame_equal(kept(store), before)
            assert store.snapshot().figure_rows == len(before)
            assert result["figure_rows_after"] in (None, len(before))
        if store.snapshot().size():
            assert_kept_as_computed(store)
    reprocess(store)
    if store.snapshot().size():
        assert_kept_as_computed(store)


def test_compact_folds_the_change_rows_of_many_commits_to_one_row_per_customer_id(tmp_path):
    store = DeltaStore(tmp_path / "data")
    for n in range(4):  # every commit moves the same customers' figures: a change row each, per commit
        ingest_events(store, tmp_path, f"{n}.json", [
            customer("c1", f"2017-01-0{n + 2}T00:00:00Z", "NEW" if n == 0 else "UPDATE", last_name=f"Name{n}"),
            order(f"o{n}", "2017-01-03T00:00:00Z", "c1", f"{n + 1}.10 USD"),
            visit(f"v{n}", "2017-01-04T00:00:00Z", "c2")])
    expected, table = figures_of(store), ltv_table(store.snapshot())
    assert store.snapshot().figure_rows == 8
    result = compact(store, 0)
    assert (result["figure_rows_before"], result["figure_rows_after"]) == (8, 2)
    assert store.snapshot().figure_rows == 2 and len(store.snapshot().scan(FIGURES)) == 2
    assert figures_of(store) == expected == {"c1": ("Name3", pytest.approx(10.4), 0), "c2": (None, 0.0, 4)}
    pd.testing.assert_frame_equal(ltv_table(store.snapshot()), table)
    again = compact(store, 0)
    assert (again["figure_rows_before"], again["figure_rows_after"]) == (None, None)
    ingest_events(store, tmp_path, "5.json", [order("o9", "2017-01-05T00:00:00Z", "c2", "2 USD")])
    assert figures_of(store)["c2"] == (None, 2.0, 4)
    assert_kept_as_computed(store)


def test_compact_leaves_a_store_without_change_rows_to_its_next_commit(tmp_path):
    store = DeltaStore(tmp_path / "data")
    ingest_events(store, tmp_path, "1.json", [order("o1", "2017-01-03T00:00:00Z", "c1", "4 USD")])
    _without_figures(tmp_path / "data")
    result = compact(DeltaStore(tmp_path / "data"), 0)
    assert result["figure_rows_before"] is None
    store = DeltaStore(tmp_path / "data")
    assert not store.snapshot().summarised and figures_of(store) == {"c1": (None, 4.0, 0)}


def test_folding_takes_the_newest_record_name_whatever_order_the_rows_come_in():
    """Compaction may put change rows of several versions in one file in any order: the name is the newest
    version's that carries one, sums and counts do not depend on the order, and folding again changes nothing."""
    rows = pa.Table.from_pylist([
        {"customer_id": "c1", "key": "c1", "last_name": "New", "amount": 0.0, "n_visits": 0, "n_orders": 0,
         "n_named": 0, "seq": 5},
        {"customer_id": "c1", "key": "c1", "last_name": None, "amount": 0.0, "n_visits": 0, "n_orders": 0,
         "n_named": 0, "seq": 1},
        {"customer_id": "c2", "key": None, "last_name": None, "amount": 2.5, "n_visits": 1, "n_orders": 1,
         "n_named": 2, "seq": 3},
        {"customer_id": "c1", "key": "c1", "last_name": "Old", "amount": 0.0, "n_visits": 2, "n_orders": 0,
         "n_named": 2, "seq": 2},
        {"customer_id": "c2", "key": None, "last_name": None, "amount": -2.5, "n_visits": 0, "n_orders": -1,
         "n_named": -1, "seq": 4},
    ], schema=tt.SCHEMA)
    def by_id(table: pa.Table) -> list[dict]:
        return sorted(table.to_pylist(), key=lambda r: r["customer_id"])

    folded = tt.fold(rows)
    assert by_id(folded) == [
        {"customer_id": "c1", "key": "c1", "last_name": "New", "amount": 0.0, "n_visits": 2, "n_orders": 0,
         "n_named": 2, "seq": 5},
        {"customer_id": "c2", "key": None, "last_name": None, "amount": 0.0, "n_visits": 1, "n_orders": 0,
         "n_named": 1, "seq": 4},
    ]
    assert by_id(tt.fold(folded)) == by_id(folded)
