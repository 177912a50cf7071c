"""Batch rules (duplicates, duplicate_key, unknown_key, orphans), versions, and the summary."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from clv.ingest import ingest, reprocess
from clv.store import Change, open_store

from helpers import MESSY, ROOT, customer, image, order, visit, write_json, write_lines


def load(store, tmp_path: Path, events: list, name: str = "batch.json"):
    return ingest(store, [write_json(tmp_path / name, events)]).total


@pytest.fixture(params=["memory", "delta"])
def store(request, tmp_path):
    """Each rule holds in both engines: the on-disk one finds the stored rows of a batch's keys bucket by bucket."""
    return open_store(None if request.param == "memory" else tmp_path / "data")


def held_events(store) -> list[dict]:
    return store.snapshot().held


def current(store, table: str) -> pd.DataFrame:
    return store.snapshot().current()[table].set_index("key")


def test_messy_sample_gives_the_hand_counted_summary(store):
    total = ingest(store, [MESSY]).total
    assert (total.read, total.ingested, total.updated, total.duplicates, total.rejected, total.orphans) == \
        (19, 6, 3, 1, 9, 2)
    assert total.rejected_by_reason == {"malformed": 2, "unknown_type": 1, "invalid_verb": 1, "missing_field": 1,
                                        "invalid_field": 2, "duplicate_key": 1, "unknown_key": 1}
    assert (total.store_size_before, total.store_size_after) == (0, 6)
    held = held_events(store)
    assert [h["position"] for h in held] == list(range(11, 20))
    assert held[0] == {**held[0], "raw": "not json at all", "reason": "malformed"}
    assert held[2]["event"]["type"] == "PAYMENT" and held[2]["source"].endswith("messy_events.jsonl")
    c1 = current(store, "customers").loc["c1"]
    assert (c1["last_name"], c1["adr_city"], c1["adr_state"], c1["versions"]) == ("Smith", "Springfield", "IL", 3)
    assert current(store, "orders").loc["o1", "amount"] == 25.0


def test_duplicate_of_stored_identity_is_counted_not_rejected(store, tmp_path):
    load(store, tmp_path, [customer("c1", "2017-01-06T12:00:00Z")], "a.json")
    again = load(store, tmp_path, [customer("c1", "2017-01-06:12:00:00.000Z")], "b.json")
    assert (again.duplicates, again.rejected, again.ingested) == (1, 0, 0)


def test_new_for_stored_key_with_other_time_is_duplicate_key(store, tmp_path):
    load(store, tmp_path, [order("o1", "2017-01-06T12:00:00Z", "c1", "5 USD")], "a.json")
    clash = load(store, tmp_path, [order("o1", "2017-01-07T12:00:00Z", "c1", "9 USD")], "b.json")
    assert clash.rejected_by_reason == {"duplicate_key": 1}
    assert "already exists with event_time 2017-01-06T12:00:00Z" in held_events(store)[0]["message"]
    assert current(store, "orders").loc["o1", "amount"] == 5.0


def test_first_new_in_file_order_wins_and_repeats_of_it_are_duplicates(store, tmp_path):
    total = load(store, tmp_path, [
        image("i1", "2017-01-06T12:00:00Z", "c1", camera_make="Canon"),
        image("i1", "2017-01-05T12:00:00Z", "c1", camera_make="Nikon"),
        image("i1", "2017-01-06T12:00:00Z", "c1", camera_make="Canon"),
        image("i1", "2017-01-05T12:00:00Z", "c1", camera_make="Nikon"),
    ])
    assert (total.ingested, total.duplicates, total.rejected_by_reason) == (1, 1, {"duplicate_key": 2})
    assert current(store, "images").loc["i1", "camera_make"] == "Canon"


def test_update_before_its_new_in_the_same_file_is_accepted(store, tmp_path):
    total = load(store, tmp_path, [
        customer("c1", "2017-01-08T00:00:00Z", verb="UPDATE", last_name="Later"),
        customer("c1", "2017-01-06T00:00:00Z", last_name="First", adr_city="Salem"),
    ])
    assert (total.ingested, total.updated, total.rejected) == (1, 1, 0)
    row = current(store, "customers").loc["c1"]
    assert (row["last_name"], row["adr_city"]) == ("Later", "Salem")


def test_update_for_unknown_key_is_rejected_then_reprocessed_once_the_key_exists(store, tmp_path):
    first = load(store, tmp_path, [order("o1", "2017-01-08T00:00:00Z", "c1", "9 USD", verb="UPDATE")],
                 "a.json")
    assert first.rejected_by_reason == {"unknown_key": 1}
    load(store, tmp_path, [order("o1", "2017-01-06T00:00:00Z", "c1", "5 USD")], "b.json")
    result = reprocess(store)
    assert (result.summary.updated, result.still_held) == (1, 0)
    assert held_events(store) == []
    assert current(store, "orders").loc["o1", "amount"] == 9.0


def test_reprocess_keeps_still_bad_events_with_their_current_reason(store, tmp_path):
    load(store, tmp_path, [order("o9", "2017-01-08T00:00:00Z", "c1", "9 USD", verb="UPDATE"),
                           {"type": "NOPE"}])
    result = reprocess(store)
    assert (result.summary.read, result.still_held) == (2, 2)
    assert [h["reason"] for h in held_events(store)] == ["unknown_key", "unknown_type"]


def test_reprocess_parses_a_raw_line_fixed_by_hand(store, tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_text('{"type": "CUSTOMER", "verb": "NEW", "key": "c1", "event_time": "2017-01-06T00:00:00Z"}\n'
                    '{"type": "CUSTOMER", "verb": "NEW", "key": "c2", "event_time": "2017-01-06T00:00:00Z"\n')
    ingest(store, [path])
    held = held_events(store)
    assert held[0]["reason"] == "malformed"
    with store.writing():  # what `rejects edit` commits when the line is fixed
        store.commit(Change("rejects edit", hold=[dict(held[0], raw=held[0]["raw"] + "}")], release_held=True))
    assert reprocess(store).summary.ingested == 1
    assert set(current(store, "customers").index) == {"c1", "c2"}


def test_late_old_update_does_not_overwrite_newer_data(store, tmp_path):
    load(store, tmp_path, [customer("c1", "2017-01-02T00:00:00Z", last_name="A", adr_city="X"),
                           customer("c1", "2017-01-20T00:00:00Z", verb="UPDATE", last_name="C")], "a.json")
    load(store, tmp_path, [customer("c1", "2017-01-10T00:00:00Z", verb="UPDATE", last_name="B",
                                    adr_city="Y", adr_state="OR")], "b.json")
    row = current(store, "customers").loc["c1"]
    assert (row["last_name"], row["adr_city"], row["adr_state"]) == ("C", "Y", "OR")


def test_equal_event_times_are_settled_by_arrival(store, tmp_path):
    time = "2017-01-06T00:00:00Z"
    load(store, tmp_path, [order("o1", time, "c1", "5 USD"),
                           order("o1", "2017-01-07T00:00:00Z", "c1", "6 USD", verb="UPDATE")], "a.json")
    load(store, tmp_path, [order("o1", "2017-01-07T00:00:00Z", "c2", "7 USD", verb="UPDATE")], "b.json")
    # Same identity as the stored UPDATE: a duplicate, so nothing changes.
    assert current(store, "orders").loc["o1", "amount"] == 6.0
    load(store, tmp_path, [order("o1", "2017-01-07T00:00:00.000+00:00", "c2", "7 USD", verb="UPDATE"),
                           order("o1", "2017-01-07T01:00:00+01:00", "c3", "8 USD", verb="UPDATE")],
         "c.json")
    assert current(store, "orders").loc["o1", "amount"] == 6.0


def test_orphans_are_stored_and_counted_unless_their_customer_comes_in_the_same_batch(store, tmp_path):
    total = load(store, tmp_path, [visit("v1", "2017-01-06T00:00:00Z", "ghost"),
                                   order("o1", "2017-01-06T00:00:00Z", "c1", "5 USD"),
                                   customer("c1", "2017-01-07T00:00:00Z")])
    assert (total.ingested, total.orphans) == (3, 1)
    assert "v1" in current(store, "site_visits").index


def test_several_files_are_ingested_one_by_one_and_a_bad_one_is_skipped(store, tmp_path):
    good = write_lines(tmp_path / "good.jsonl", [customer("c1", "2017-01-06T00:00:00Z")])
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    result = ingest(store, [good, bad, tmp_path / "missing.json"])
    assert [f.error is None for f in result.files] == [False, True, False]
    assert result.total.ingested == 1
    figures = result.as_dict()
    assert figures["failed_files"] == 2 and len(figures["files"]) == 3


def test_read_is_always_the_sum_of_the_outcomes(store):
    result = ingest(store, [MESSY, ROOT / "sample_input"])
    for summary in [result.total, *result.files]:
        assert summary.read == summary.ingested + summary.updated + summary.duplicates + summary.rejected


def test_at_an_event_time_tie_the_update_beats_the_new_and_the_later_update_wins(store, tmp_path):
    time = "2017-01-06T00:00:00Z"
    load(store, tmp_path, [order("o1", time, "c1", "5 USD"), order("o1", time, "c1", "7 USD", "UPDATE"),
                           order("o2", time, "c1", "7 USD", "UPDATE"), order("o2", time, "c1", "5 USD"),
                           order("o3", time, "c1", "5 USD")])
    load(store, tmp_path, [order("o3", time, "c2", "8 USD", "UPDATE")])
    load(store, tmp_path, [order("o3", "2017-01-06T00:00:00+00:00", "c3", "9 USD", "UPDATE")])
    amounts = current(store, "orders")["amount"]
    assert (amounts["o1"], amounts["o2"]) == (7.0, 7.0)  # the NEW arriving after its UPDATE does not undo it
    # The second UPDATE of o3 repeats an accepted identity with other content: a conflict, not a newer version.
    assert amounts["o3"] == 8.0 and held_events(store)[-1]["reason"] == "conflict"


def test_each_rejected_event_is_held_once_per_place_it_stood(store, tmp_path):
    path = write_json(tmp_path / "junk.json", ["junk", "junk", {"type": "NOPE"}])
    ingest(store, [path])
    assert [h["position"] for h in held_events(store)] == [1, 2, 3]
    ingest(store, [path])
    assert len(held_events(store)) == 3
    ingest(store, [write_json(tmp_path / "copy.json", ["junk"])])
    assert len(held_events(store)) == 4
