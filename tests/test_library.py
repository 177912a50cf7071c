"""The library API the README shows, used from Python without the command line."""
from __future__ import annotations

import clv

from helpers import MESSY, SAMPLE


def test_the_readme_example_works_from_python(tmp_path):
    store = clv.open_store(tmp_path / "data")
    run = clv.ingest(store, [SAMPLE])
    assert run.total.ingested == 4 and run.as_dict()["store_size_after"] == 4
    top = clv.top_customers(store.snapshot(), 10)
    assert top["customer_id"].tolist() == ["96f55c7d8f42"]
    assert clv.overview(store.snapshot(), store.snapshot().held)["store_size"] == 4
    assert clv.customer_profile(store.snapshot(), "96f55c7d8f42")["ltv"]["rank"] == 1
    assert clv.distribution(clv.ltv_table(store.snapshot()), 1)["customers"] == 1
    assert [p.name for p in clv.export(store.snapshot(), tmp_path / "out")][-1] == "ltv.csv"
    assert clv.reprocess(store).still_held == 0
    newest = clv.history(store)[0]
    assert (newest["command"], newest["ingested"]) == ("ingest", 4)


def test_every_commit_is_a_version_and_a_rollback_can_be_undone(tmp_path):
    store = clv.open_store(tmp_path / "data")
    clv.ingest(store, [SAMPLE])
    first = store.snapshot().version
    clv.ingest(store, [MESSY])
    second = store.snapshot().version
    assert [row["version"] for row in clv.history(store)][:2] == [second, first]
    assert clv.rollback(store, first)["restored"] == first
    assert (store.snapshot().size(), store.snapshot().held) == (4, [])
    clv.rollback(store, second)
    assert (store.snapshot().size(), len(store.snapshot().held)) == (10, 9)
    clv.compact(store)
    assert clv.top_customers(store.snapshot(), 1)["customer_id"].tolist() == ["c1"]


def test_the_api_names_are_the_documented_ones():
    assert "open_rejects" not in clv.__all__
    assert {"history", "rollback", "compact", "open_store", "ingest", "reprocess"} <= set(clv.__all__)
    assert clv.open_store(None).snapshot().held == []
