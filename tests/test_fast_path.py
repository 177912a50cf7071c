"""The columnar fast path against a slow, obviously correct reference (tests/reference.py)."""
from __future__ import annotations

import random

import orjson
import pandas as pd
import pytest

from clv import batch as bt
from clv import events as ev
from clv import validation
from clv.columnar import ColumnarEntries
from clv.ltv import ltv_table
from clv.reader import read_file
from clv.store import Snapshot
from clv.tables import empty_tables

import reference
from bench.generate import generate
from helpers import customer, image, order, visit

ODD = [
    customer(" spaced ", "2017-02-01T10:00:00+02:00", last_name="Trim"),
    customer("spaced", "2017-02-01T08:00:00Z", verb="UPDATE", adr_state="OR"),
    customer(7, "2017-02-01T10:00:00Z"), customer("", "2017-02-01T10:00:00Z"),
    customer("late", "2017-03-01T00:00:00Z", verb="UPDATE", last_name="Newest"),
    customer("late", "2017-01-01T00:00:00Z", last_name="Oldest", adr_city="Troy"),
    customer("late", "2017-02-01T00:00:00Z", verb="UPDATE", last_name="Middle", adr_city="Salem"),
    customer("late", "2017-01-01T00:00:00Z", last_name="Clash"),
    customer("late", "2017-01-02T00:00:00Z", last_name="Clash"),
    customer("ghost", "2017-02-01T00:00:00Z", verb="UPDATE"),
    order("o-odd", "2017-02-01 10:00:00", "c-x", "0 USD"), order("o-odd", "2017-02-02:10:00:00Z", "c-y", ".5 USD",
                                                                 verb="UPDATE"),
    order("o-bad", "2017-02-01T10:00:00Z", "c", "1,000.00 USD"), order("o-bad", "2017-02-30T10:00:00Z", "c", "1 USD"),
    order("o-neg", "2017-02-01T10:00:00Z", "c", "-1 USD"), order("o-num", "2017-02-01T10:00:00Z", "c", 5),
    visit("v-tags", "2017-02-01T10:00:00Z", "c", tags={"n": 1, "nested": {"a": [1]}}),
    visit("v-list", "2017-02-01T10:00:00Z", "c", tags=[{"name": "a", "value": 2}]),
    visit("v-bad", "2017-02-01T10:00:00Z", "c", tags=[1]), visit("v-str", "2017-02-01T10:00:00Z", "c", tags="x"),
    image("i-odd", "2017-02-01T10:00:00.123456789Z", "c", camera_make=None, camera_model=3),
    image("i-ok", "2017-02-01T10:00:00.5-01:30", "c", camera_make="Leica"),
    {"type": "IMAGE", "verb": "UPLOAD"}, {"type": ["ORDER"]}, {"verb": "NEW"}, None, 3, [], "text",
    {"type": "ORDER", "verb": "NEW", "key": "o-extra", "event_time": "2017-02-01T10:00:00Z", "customer_id": "c",
     "total_amount": "3 USD", "last_name": 5, "tags": 7},
    order("o-odd", "2017-02-01T10:00:00.000Z", "c-x", "0.00USD"), order("o-odd", "2017-02-01T10:00:00Z", "c-z", "0 USD"),
    order("o-big", "2017-02-01T10:00:00Z", "c", "1000000000000 usd"), order("o-far", "9999-12-31T23:59:59-12:00", "c",
                                                                             "1 USD"),
    visit("v-pairs", "2017-02-01T10:00:00Z", "c", tags=[{"a": "1"}, {"a": "2"}]),
    visit("v-pairs", "2017-02-01T10:00:00Z", "c", tags=[{"a": "2"}, {"a": "1"}]),
    customer("spaced", "2017-02-01T08:00:00Z", verb="UPDATE", adr_state="WA"),
]


def outcomes(applied: bt.Applied) -> list[str]:
    events = applied.events
    return [reason if status == bt.REJECTED else status for status, reason in zip(events["status"], events["reason"])]


@pytest.fixture(scope="module")
def batches() -> list[list]:
    events = generate(20_000, seed=11) + ODD * 2
    random.Random(5).shuffle(events)
    return [events[:12_000], events[12_000:]]


def test_fast_path_matches_the_reference_event_by_event(batches):
    tables, seq = empty_tables(), 0
    slow = reference.Store()
    for events in batches:
        applied = bt.apply(tables, events, seq)
        assert outcomes(applied) == slow.ingest(events)
        tables, seq = applied.tables, seq + len(events)
    current = Snapshot(tables).current()
    for table, kind, fields in [("customers", "CUSTOMER", ["last_name", "adr_city", "adr_state"]),
                                ("orders", "ORDER", ["customer_id", "amount"]),
                                ("images", "IMAGE", ["customer_id", "camera_make", "camera_model"])]:
        fast = {row["key"]: [None if pd.isna(row[f]) else row[f] for f in fields]
                for row in current[table].to_dict("records")}
        expected = {key: [row.get(f) for f in fields] for key, row in slow.current(kind).items()}
        assert fast == expected, table
    fast_ltv = ltv_table(Snapshot(tables)).set_index("customer_id")["ltv"].to_dict()
    assert fast_ltv == pytest.approx(slow.ltv())


def test_a_few_odd_events_keep_the_rest_of_the_file_on_the_fast_path(monkeypatch):
    events = generate(200_000, seed=12)
    events[150_000] = customer(12345, "2017-01-01T00:00:00Z")
    slow_chunks = []
    original = validation._slow_part
    monkeypatch.setattr(validation, "_slow_part", lambda rows, field: slow_chunks.append(len(rows)) or
                        original(rows, field))
    frame = validation.validate(events)
    assert frame.at[150_000, "reason"] == "invalid_field"
    # Only the chunk holding the odd event was read field by field; the other three converted at once.
    assert slow_chunks == [validation.CHUNK] * len(ev.read_fields())
    assert frame["reason"].isna().sum() > 199_000


NOT_JSON = [b'{"type": "ORDER", "verb": "NEW", "key": "cut-sh', b"not json at all", b'{"type": "CUSTOMER",}',
            b'{"a": 1}, {"b": 2}', b'{"type": "CUSTOMER"} trailing']


def as_file(events: list, path, fmt: str, seed: int):
    """The events as a JSON array, or as JSON Lines with some lines that are not JSON at all."""
    lines = [orjson.dumps(event) for event in events]
    if fmt == "json":
        path.write_bytes(b"[" + b",\n".join(lines) + b"]\n")
        return path
    rng = random.Random(seed)
    for at in sorted(rng.sample(range(len(lines)), 40), reverse=True):
        lines.insert(at, rng.choice(NOT_JSON))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_the_native_reader_matches_the_existing_path_and_the_reference(batches, tmp_path, fmt):
    """The batches as files: read natively and through orjson, every event gets the same outcome, reason and
    message both ways and the reference's outcome; rejected events are held as the same original event."""
    native_tables, orjson_tables, seq = empty_tables(), empty_tables(), 0
    slow = reference.Store()
    for k, events in enumerate(batches):
        path = as_file(events, tmp_path / f"batch-{k}.{fmt}", fmt, seed=k)
        native, plain = read_file(path), read_file(path, native=False)
        assert isinstance(native.entries, ColumnarEntries) and not isinstance(plain.entries, ColumnarEntries)
        assert (native.shape, list(native.positions)) == (plain.shape, list(plain.positions))
        fast, slow_path = bt.apply(native_tables, native.entries, seq), bt.apply(orjson_tables, plain.entries, seq)
        assert outcomes(fast) == outcomes(slow_path) == slow.ingest(list(plain.entries))
        for column in ("reason", "message"):
            assert fast.events[column].fillna("").tolist() == slow_path.events[column].fillna("").tolist()
        rejected = fast.events.index[fast.events["status"] == bt.REJECTED]
        assert [native.entries[i] for i in rejected] == [plain.entries[i] for i in rejected]
        native_tables, orjson_tables, seq = fast.tables, slow_path.tables, seq + len(native.entries)
    for table in native_tables:
        pd.testing.assert_frame_equal(native_tables[table], orjson_tables[table])
