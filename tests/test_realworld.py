"""The shapes real dumps use (tests/data/), conflicts never dropped silently, and input from pipes and archives."""
from __future__ import annotations

import gzip
import io
import json

import pytest

from clv.ingest import ingest
from clv.ltv import ltv_table

from helpers import DATA, MESSY, order, run, write_json

TAGS = DATA / "shapes_tags.json"
AMOUNTS = DATA / "shapes_amounts_times.jsonl"
CONFLICTS = DATA / "conflicts.json"


def held_by_key(store) -> dict[str, tuple[str, str]]:
    return {h["event"]["key"]: (h["reason"], h["message"]) for h in store.snapshot().held if "event" in h}


def test_every_tags_shape_is_kept_in_order_with_repeats(store):
    total = ingest(store, [TAGS]).total
    assert (total.ingested, total.rejected) == (7, 2)
    tags = store.snapshot().current()["site_visits"].set_index("key")["tags"]
    assert list(tags["visit-1"]) == [("campaign", "spring")]
    assert list(tags["visit-2"]) == [("page", "home"), ("page", "cart"), ("ab", "7")]
    assert list(tags["visit-3"]) == [("referrer", "mail")]
    assert list(tags["visit-4"]) == [("device", "phone")]
    held = held_by_key(store)
    for key in ("visit-6", "visit-7"):
        assert held[key][0] == "invalid_field"
        assert "an array of one-pair objects or {\"name\": …, \"value\": …} objects" in held[key][1]


def test_visits_in_the_array_shape_count_for_ltv(store):
    ingest(store, [TAGS])
    row = ltv_table(store.snapshot()).iloc[0]
    # Sunday 2017-03-05 to Saturday 2017-03-11: one week; five visits, one order of 51.26 written without a space.
    assert (row["site_visits"], row["total_revenue"]) == (5, 51.26)
    assert row["ltv"] == pytest.approx(51.26 * 52 * 10)


def test_amount_spellings_limits_and_instants(store):
    ingest(store, [AMOUNTS])
    orders = store.snapshot().current()["orders"].set_index("key")
    assert orders.loc["order-10", "amount"] == 7.5 and orders.loc["order-11", "amount"] == 100.0
    assert orders.loc["order-13", "amount"] == 999999999999.99
    assert str(orders.loc["order-11", "created"]) == "2017-04-03 08:00:00.123456+00:00"
    held = held_by_key(store)
    assert held["order-12"] == ("invalid_field", "total_amount '1000000000000 USD' is not below 1,000,000,000,000")
    assert "outside the years 0001-9999" in held["order-14"][1]
    assert "outside the years 0001-9999" in held["order-15"][1]
    assert held["order-16"] == ("invalid_field", "total_amount '12 GBP' is not in USD")


def test_after_hostile_instants_every_read_still_works(dirs):
    assert run([*dirs, "ingest", AMOUNTS]).returncode == 0
    for command in (["stats"], ["display"], ["customer", "cust-b"], ["ltv", "3"]):
        result = run([*dirs, *command])
        assert result.returncode == 0 and result.stderr == "", (command, result.stderr)


def test_same_identity_same_content_is_a_duplicate_other_content_a_conflict(store):
    total = ingest(store, [CONFLICTS]).total
    assert (total.ingested, total.duplicates, total.rejected_by_reason) == (2, 1, {"conflict": 1})
    reason, message = store.snapshot().held[0]["reason"], store.snapshot().held[0]["message"]
    assert reason == "conflict"
    assert message == ("ORDER NEW key 'order-20' at 2017-05-01T10:00:00Z was already accepted with a different "
                       "customer_id, amount")
    order_20 = store.snapshot().current()["orders"].set_index("key").loc["order-20"]
    assert (order_20["customer_id"], order_20["amount"]) == ("cust-c", 20.0)  # the first stays


def test_a_conflict_with_an_earlier_ingestion_is_held_and_the_store_keeps_the_first(store, tmp_path):
    first = order("o1", "2017-05-01T10:00:00Z", "c1", "10 USD")
    ingest(store, [write_json(tmp_path / "a.json", [first, order("o1", "2017-05-03T10:00:00Z", "c1", "11 USD",
                                                                 "UPDATE")])])
    later = [order("o1", "2017-05-01T10:00:00.000+00:00", "c1", "10.00USD"),  # same instant, same amount
             order("o1", "2017-05-01T10:00:00Z", "c9", "10 USD"),
             order("o1", "2017-05-03T10:00:00Z", "c1", "12 USD", "UPDATE")]
    total = ingest(store, [write_json(tmp_path / "b.json", later)]).total
    assert (total.duplicates, total.rejected_by_reason) == (1, {"conflict": 2})
    messages = [h["message"] for h in store.snapshot().held]
    assert messages == ["ORDER NEW key 'o1' at 2017-05-01T10:00:00Z was already accepted with a different customer_id",
                        "ORDER UPDATE key 'o1' at 2017-05-03T10:00:00Z was already accepted with a different amount"]
    assert store.snapshot().current()["orders"].set_index("key").loc["o1", "amount"] == 11.0


def test_a_folder_run_says_what_it_skipped(dirs):
    result = run([*dirs, "ingest", DATA / "folder_dump", "--format", "json"])
    figures = json.loads(result.stdout)
    assert figures["ingested"] == 4
    assert figures["notes"] == [f"{DATA / 'folder_dump'}/: skipped 1 subfolder (old) and 1 other file (README.md)"]
    assert "skipped: " in run([*dirs, "ingest", DATA / "folder_dump"]).stdout


def test_compressed_files_and_standard_input(dirs, tmp_path, monkeypatch):
    packed = tmp_path / "dump.json.gz"
    packed.write_bytes(gzip.compress(MESSY.read_bytes()))
    assert json.loads(run([*dirs, "ingest", packed, "--format", "json"]).stdout)["ingested"] == 6

    class Stdin(io.StringIO):
        buffer = io.BytesIO(gzip.compress(CONFLICTS.read_bytes()))

    monkeypatch.setattr("sys.stdin", Stdin())
    figures = json.loads(run([*dirs, "ingest", "-", "--format", "json"]).stdout)
    assert (figures["ingested"], figures["rejected_by_reason"]) == (2, {"conflict": 1})
