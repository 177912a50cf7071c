"""LTV by hand (docs/contract.md): weeks run Sunday 00:00 to Saturday 24:00 UTC."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clv.errors import NoDataError
from clv.ingest import ingest
from clv.ltv import LIFESPAN_YEARS, WEEKS_PER_YEAR, ltv_table, rank_of, ranked, top_customers, top_of, weeks_spanned

from helpers import MESSY, ROOT, customer, image, order, visit, write_json


def stamp(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.mark.parametrize("first, last, weeks", [
    ("2017-01-01T00:00:00", "2017-01-07T23:59:59", 1),   # Sunday 00:00 to Saturday 23:59:59: one week
    ("2017-01-07T23:59:59", "2017-01-08T00:00:00", 2),   # Saturday night to Sunday morning: two weeks
    ("2017-01-06T12:00:00", "2017-01-06T12:00:00", 1),   # a single instant still counts one week
    ("2017-01-08T00:00:00", "2017-01-21T23:59:59", 2),
    ("2016-12-31T23:59:59", "2017-01-01T00:00:00", 2),   # across a year end (Sat → Sun)
])
def test_weeks_start_on_sunday(first, last, weeks):
    assert weeks_spanned(stamp(first), stamp(last)) == weeks


def table_for(store, tmp_path, events) -> pd.DataFrame:
    ingest(store, [write_json(tmp_path / "events.json", events)])
    return ltv_table(store.snapshot()).set_index("customer_id")


def test_saturday_and_sunday_events_make_two_weeks(store, tmp_path):
    table = table_for(store, tmp_path, [
        customer("c1", "2017-01-07T23:59:59Z", last_name="Smith"),
        visit("v1", "2017-01-08T00:00:00Z", "c1"),
        order("o1", "2017-01-08T00:00:00Z", "c1", "100.00 USD"),
    ])
    row = table.loc["c1"]
    assert row["weekly_value"] == pytest.approx(50.0)
    assert row["ltv"] == pytest.approx(52 * 50.0 * 10)
    assert row["visits_per_week"] == pytest.approx(0.5)
    assert row["revenue_per_visit"] == pytest.approx(100.0)


def test_weekly_value_equals_revenue_per_visit_times_visits_per_week(store, tmp_path):
    table = table_for(store, tmp_path, [
        customer("c1", "2017-01-01T00:00:00Z"),
        visit("v1", "2017-01-03T00:00:00Z", "c1"), visit("v2", "2017-01-10T00:00:00Z", "c1"),
        visit("v3", "2017-01-20T00:00:00Z", "c1"),
        order("o1", "2017-01-03T00:00:00Z", "c1", "10.00 USD"), order("o2", "2017-01-20T00:00:00Z", "c1", "20 USD"),
    ])
    row = table.loc["c1"]
    assert row["weekly_value"] == pytest.approx(row["revenue_per_visit"] * row["visits_per_week"])
    assert row["ltv"] == pytest.approx(52 * (30 / 3) * 10)


def test_late_update_changes_revenue_and_the_timeframe(store, tmp_path):
    table = table_for(store, tmp_path, [
        customer("c1", "2017-01-02T00:00:00Z"),
        order("o1", "2017-01-02T00:00:00Z", "c1", "10 USD"),
        order("o1", "2017-01-30T00:00:00Z", "c1", "40 USD", verb="UPDATE"),   # week 5 (Jan 29 – Feb 4)
        order("o1", "2017-01-09T00:00:00Z", "c1", "99 USD", verb="UPDATE"),   # older, arrives late: ignored
    ])
    assert table.loc["c1", "total_revenue"] == 40.0
    assert table.loc["c1", "ltv"] == pytest.approx(52 * (40 / 5) * 10)


def test_an_update_moving_an_order_moves_its_revenue(store, tmp_path):
    table = table_for(store, tmp_path, [
        order("o1", "2017-01-02T00:00:00Z", "c1", "10 USD"),
        order("o1", "2017-01-03T00:00:00Z", "c2", "10 USD", verb="UPDATE"),
    ])
    assert "c1" not in table.index  # its only trace was the order's old customer_id
    assert table.loc["c2", "total_revenue"] == 10.0


def test_orphans_and_customers_without_visits_are_ranked(store, tmp_path):
    table = table_for(store, tmp_path, [
        customer("c1", "2017-01-02T00:00:00Z", last_name="NoVisits"),
        order("o1", "2017-01-02T00:00:00Z", "c1", "70 USD"),
        visit("v1", "2017-01-02T00:00:00Z", "orphan"),
        image("i1", "2017-01-02T00:00:00Z", "imageonly"),
    ])
    assert list(table.index) == ["c1", "imageonly", "orphan"]
    assert math.isnan(table.loc["c1", "revenue_per_visit"])
    assert table.loc["c1", "ltv"] == pytest.approx(52 * 70 * 10)
    assert pd.isna(table.loc["orphan", "last_name"])
    assert table.loc["orphan", "ltv"] == 0.0


def test_ties_are_broken_by_customer_id_and_x_larger_than_the_count_lists_all(store, tmp_path):
    ingest(store, [write_json(tmp_path / "e.json", [
        order("o1", "2017-01-02T00:00:00Z", "b", "5 USD"), order("o2", "2017-01-02T00:00:00Z", "a", "5 USD"),
        order("o3", "2017-01-02T00:00:00Z", "c", "9 USD")])])
    top = top_customers(store.snapshot(), 10)
    assert top["customer_id"].tolist() == ["c", "a", "b"]
    assert top["rank"].tolist() == [1, 2, 3]
    assert top_customers(store.snapshot(), 1)["customer_id"].tolist() == ["c"]


def test_empty_store_says_no_data(store):
    with pytest.raises(NoDataError, match="no data"):
        ltv_table(store.snapshot())


def test_readme_worked_example(store):
    """The README walks through this file's numbers; keep them in step."""
    ingest(store, [MESSY])
    top = top_customers(store.snapshot(), 2).set_index("customer_id")
    assert WEEKS_PER_YEAR == 52 and LIFESPAN_YEARS == 10
    assert top.loc["c1", "total_revenue"] == 25.0
    assert top.loc["c1", "visits_per_week"] == pytest.approx(1 / 3)
    assert round(top.loc["c1", "ltv"], 2) == 4333.33
    assert round(top.loc["c2", "ltv"], 2) == 1300.00
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "4,333.33" in readme and "1,300.00" in readme


def _figures(ltv: list[float]) -> pd.DataFrame:
    """An unranked table of LTV figures, its ids in no order (as the store's figures come)."""
    n = len(ltv)
    ids = [f"c{(i * 7919) % 1000:03d}" for i in range(n)]
    return pd.DataFrame({"customer_id": pd.Series(ids, dtype="str"), "last_name": pd.Series([None] * n, dtype="str"),
                         "total_revenue": ltv, "site_visits": [0] * n, "revenue_per_visit": [math.nan] * n,
                         "visits_per_week": [0.0] * n, "weekly_value": ltv, "ltv": ltv})


@pytest.mark.parametrize("seed", range(6))
def test_the_top_and_one_rank_are_those_of_the_whole_ranking(seed):
    """Found without ranking every customer, the top x (ties at its edge included) and any one customer's rank
    are exactly those the full ranking gives, values that are not numbers last."""
    rng = np.random.default_rng(seed)
    values = rng.choice([0.0, 5.0, 5.0, 7.5, 100.0, math.nan, math.inf], size=60).tolist()
    table = _figures(values)
    whole = ranked(table)
    for x in (1, 2, 5, 17, 59, 60, 61):
        pd.testing.assert_frame_equal(top_of(table, x), whole.head(x))
    for row in whole.itertuples():
        assert rank_of(table, row.customer_id)["rank"] == row.rank
