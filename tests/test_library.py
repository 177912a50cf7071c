"""The library API the README shows, used from Python without the command line."""
from __future__ import annotations

import clv

from helpers import SAMPLE


def test_the_readme_example_works_from_python(tmp_path):
    store = clv.open_store(tmp_path / "data")
    run = clv.ingest(store, [SAMPLE], clv.open_rejects(tmp_path / "logs"))
    assert run.total.ingested == 4 and run.as_dict()["store_size_after"] == 4
    top = clv.top_customers(store.snapshot(), 10)
    assert top["customer_id"].tolist() == ["96f55c7d8f42"]
    assert clv.overview(store.snapshot(), [])["store_size"] == 4
    assert clv.customer_profile(store.snapshot(), "96f55c7d8f42")["ltv"]["rank"] == 1
    assert clv.distribution(clv.ltv_table(store.snapshot()), 1)["customers"] == 1
    assert [p.name for p in clv.export(store.snapshot(), tmp_path / "out")][-1] == "ltv.csv"
    assert clv.reprocess(store, clv.open_rejects(None)).still_held == 0
