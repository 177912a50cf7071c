"""Overview, customer look-up, LTV distribution and export."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from clv.errors import ClvError, NoDataError
from clv.export import export
from clv.ingest import ingest
from clv.ltv import distribution, ltv_table
from clv.overview import overview
from clv.profile import UnknownCustomer, customer_profile

from helpers import MESSY, customer, order, run, visit, write_json


@pytest.fixture
def loaded(store):
    ingest(store, [MESSY])
    return store


def test_overview_counts_what_the_store_holds(loaded):
    store = loaded
    info = overview(store.snapshot(), store.snapshot().held)
    assert info["rows"] == {"customers": 1, "site_visits": 2, "images": 1, "orders": 2}
    assert info["customers"] == {"total": 2, "with_record": 1, "without_record": 1}
    assert (info["first_event"], info["last_event"], info["weeks"]) == \
        ("2017-01-02T10:00:00Z", "2017-01-20T09:00:00Z", 3)
    assert (info["orders"], info["total_revenue"], info["site_visits_per_customer"]) == (2, 32.5, 1.0)
    assert info["rejected_held"] == 9 and next(iter(info["rejected_held_by_reason"])) == "malformed"
    assert info["last_ingest"]["sources"] == [str(MESSY)]


def test_overview_of_an_empty_store(store):
    info = overview(store.snapshot(), [])
    assert info["store_size"] == 0 and info["weeks"] is None and info["site_visits_per_customer"] is None


def test_customer_profile_has_fields_orders_activity_and_rank(loaded):
    store = loaded
    profile = customer_profile(store.snapshot(), " c1 ")
    assert profile["record"]["adr_city"] == "Springfield" and profile["record"]["versions"] == 3
    assert profile["orders"][["key", "amount", "versions"]].values.tolist() == [["o1", 25.0, 2]]
    assert (profile["site_visits"], profile["images"], profile["ltv"]["rank"]) == (1, 1, 1)
    orphan = customer_profile(store.snapshot(), "c2")
    assert orphan["record"] is None and orphan["ltv"]["rank"] == 2


def test_unknown_customer_suggests_ids_sharing_a_prefix(loaded):
    store = loaded
    with pytest.raises(UnknownCustomer) as error:
        customer_profile(store.snapshot(), "C7")
    assert error.value.suggestions == ["c1", "c2"] and "ids that start like it: c1, c2" in str(error.value)
    with pytest.raises(UnknownCustomer) as error:
        customer_profile(store.snapshot(), "zz")
    assert error.value.suggestions == []


def test_distribution_by_hand(store, tmp_path):
    events = [order(f"o{i}", "2017-01-02T00:00:00Z", f"c{i}", f"{amount} USD")
              for i, amount in enumerate([1, 2, 3, 4, 90])]
    ingest(store, [write_json(tmp_path / "e.json", events)])
    spread = distribution(ltv_table(store.snapshot()), 1)
    assert spread["customers"] == 5 and spread["top"] == 1
    assert spread["top_share"] == pytest.approx(0.9)
    assert spread["median"] == pytest.approx(3 * 520)
    assert sum(n for _, _, n in spread["histogram"]) == 5
    assert spread["histogram"][0][2] == 4 and spread["histogram"][-1][2] == 1


def test_ltv_table_shows_the_distribution_in_unicode_or_ascii(dirs):
    run([*dirs, "ingest", str(MESSY)])
    fancy = run([*dirs, "ltv", "1"], env={"PYTHONIOENCODING": "utf-8"}).stdout
    assert "the top 1 holds 76.9% of the total" in fancy and "█" in fancy and "│" in fancy
    plain = run([*dirs, "ltv", "1"], env={"PYTHONIOENCODING": "ascii"})
    assert plain.returncode == 0 and "#" in plain.stdout and "█" not in plain.stdout
    assert "median 2,816.67" in plain.stdout


def test_export_writes_five_files_and_never_overwrites_without_force(loaded, tmp_path):
    store = loaded
    written = export(store.snapshot(), tmp_path / "out")
    assert [p.name for p in written] == ["customers.csv", "site_visits.csv", "images.csv", "orders.csv", "ltv.csv"]
    ltv = pd.read_csv(tmp_path / "out" / "ltv.csv")
    assert ltv["customer_id"].tolist() == ["c1", "c2"] and ltv.loc[0, "ltv"] == 4333.33  # money in cents, as in every CSV
    visits = pd.read_csv(tmp_path / "out" / "site_visits.csv")
    assert json.loads(visits.loc[0, "tags"]) == {"campaign": "winter"}
    assert visits.loc[0, "event_time"] == "2017-01-05T11:00:00.000000Z"
    before = (tmp_path / "out" / "ltv.csv").read_bytes()
    with pytest.raises(ClvError, match="already exists; use --force"):
        export(store.snapshot(), tmp_path / "out")
    assert (tmp_path / "out" / "ltv.csv").read_bytes() == before
    export(store.snapshot(), tmp_path / "out", force=True)
    parquet = export(store.snapshot(), tmp_path / "out", fmt="parquet")
    assert pd.read_parquet(parquet[-1])["rank"].tolist() == [1, 2]


def test_export_errors(loaded, store, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ClvError, match="cannot write to"):
        export(loaded.snapshot(), blocker / "sub")


def test_export_of_an_empty_store_says_no_data(store, tmp_path):
    with pytest.raises(NoDataError):
        export(store.snapshot(), tmp_path)


def test_stats_customer_and_export_commands(dirs, tmp_path):
    run([*dirs, "ingest", str(MESSY)])
    stats = run([*dirs, "stats", "--format", "json"])
    assert stats.returncode == 0 and json.loads(stats.stdout)["store_size"] == 6
    assert "weeks (LTV timeframe)" in run([*dirs, "stats"]).stdout
    shown = run([*dirs, "customer", "c1"])
    assert shown.returncode == 0 and "rank 1 of 2 by LTV" in shown.stdout and "Springfield" in shown.stdout
    missing = run([*dirs, "customer", "c"])
    assert missing.returncode == 1 and "ids that start like it: c1, c2" in missing.stderr
    out = tmp_path / "report"
    assert run([*dirs, "export", str(out)]).returncode == 0
    again = run([*dirs, "export", str(out)])
    assert again.returncode == 1 and "use --force" in again.stderr
    assert run([*dirs, "export", str(out), "--force", "--format", "parquet"]).returncode == 0


def test_new_menu_options(dirs, tmp_path):
    out = tmp_path / "menu export"
    script = f"1\n{MESSY}\n6\n7\nc1\ncustomer\nnobody\n\n8\n'{out}'\n\n8\n{out}\ncsv\nn\n8\n{out}\n\ny\n4\n"
    result = run(dirs, stdin=script)
    assert result.returncode == 0
    assert "customers                 2 (1 with a CUSTOMER record, 1 without)" in result.stdout
    assert "rank 1 of 2 by LTV" in result.stdout and "no customer 'nobody'" in result.stderr
    assert result.stderr.count("wrote ") == 10 and (out / "ltv.csv").exists()


def test_visits_only_customer_profile(store, tmp_path):
    ingest(store, [write_json(tmp_path / "v.json", [visit("v1", "2017-01-02T00:00:00Z", "walker"),
                                                    customer("c1", "2017-01-02T00:00:00Z")])])
    profile = customer_profile(store.snapshot(), "walker")
    assert profile["orders"].empty and profile["site_visits"] == 1 and profile["ltv"]["ltv"] == 0.0
