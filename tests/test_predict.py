"""The predictive CLV library: BG/NBD and Gamma-Gamma fits, predictions, holdout and rendering."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.optimize import check_grad
from scipy.special import hyp2f1

from clv import predict as pr
from clv import predict_view as pv
from clv.errors import ClvError, UsageError

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT / "sample_input" / "cdnow" / "CDNOW_sample.txt"


def _module(path: Path, name: str):
    """A script of the repository imported by its path (neither folder is a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


to_events = _module(ROOT / "sample_input" / "cdnow" / "to_events.py", "cdnow_to_events")
bench = _module(ROOT / "bench" / "predict.py", "bench_predict")


def orders_frame(events: list[dict]) -> pd.DataFrame:
    """The orders of a list of events as the frame predict() takes, the way the caller builds it from the store."""
    orders = [e for e in events if e["type"] == "ORDER"]
    return pd.DataFrame({
        "customer_id": pd.array([e["customer_id"] for e in orders], dtype="str"),
        "time": pd.to_datetime([e["event_time"] for e in orders], utc=True).as_unit("us"),
        "amount": [float(e["total_amount"].split()[0]) for e in orders],
    })


def orders(*rows: tuple[str, str, float]) -> pd.DataFrame:
    """A frame of hand-written (customer, ISO time, amount) orders."""
    return orders_frame([{"type": "ORDER", "customer_id": c, "event_time": t, "total_amount": f"{a} USD"}
                         for c, t, a in rows])


@pytest.fixture(scope="module")
def cdnow_orders() -> pd.DataFrame:
    return orders_frame(to_events.events(CDNOW))


@pytest.fixture(scope="module")
def cdnow(cdnow_orders: pd.DataFrame) -> pr.Prediction:
    return pr.predict(cdnow_orders, calibration_end="1997-09-30")


# The data and the converter


def test_converter_makes_one_customer_per_id_and_one_order_per_line(tmp_path: Path) -> None:
    events = to_events.events(CDNOW)
    customers = [e for e in events if e["type"] == "CUSTOMER"]
    placed = [e for e in events if e["type"] == "ORDER"]
    assert (len(customers), len(placed)) == (2357, 6919)
    assert customers[0] == {"type": "CUSTOMER", "verb": "NEW", "key": "00004", "event_time": "1997-01-01T00:00:00Z"}
    assert placed[:2] == [
        {"type": "ORDER", "verb": "NEW", "key": "00004-1", "event_time": "1997-01-01T00:00:00Z",
         "customer_id": "00004", "total_amount": "29.33 USD"},
        {"type": "ORDER", "verb": "NEW", "key": "00004-2", "event_time": "1997-01-18T00:00:00Z",
         "customer_id": "00004", "total_amount": "29.73 USD"},
    ]
    assert len({e["key"] for e in placed}) == 6919
    out = tmp_path / "cdnow.jsonl"
    assert to_events.main([str(out)]) == 0
    assert [orjson.loads(line) for line in out.read_text().splitlines()] == events


# 1. CDNOW: the published maximum-likelihood estimates


def test_cdnow_bgnbd_matches_the_published_estimates(cdnow: pr.Prediction) -> None:
    model = cdnow.bgnbd
    assert model.converged
    assert (round(model.r, 3), round(model.alpha, 3), round(model.a, 3), round(model.b, 3)) == \
        (0.243, 4.414, 0.793, 2.426)
    assert round(model.log_likelihood, 1) == -9582.4
    assert len(cdnow.customers) == 2357
    assert cdnow.repeat_customers == 946
    # The published calibration summary has 2,457 repeat purchases in all: the per-day convention gives the same.
    assert int(cdnow.customers["frequency"].sum()) == 2457
    assert cdnow.warnings == []


def test_cdnow_gamma_gamma_matches_the_published_estimates(cdnow: pr.Prediction) -> None:
    # Fader & Hardie's Gamma-Gamma note fits the 946 repeat customers of the calibration period and reports
    # p = 6.25, q = 3.74, gamma = 15.44. Counting per day (same-day orders summed) gives the same 946 customers
    # and agrees to the two decimals published; the fit lands at p = 6.2496, q = 3.7442, gamma = 15.4435.
    spend = cdnow.gamma_gamma
    assert spend is not None and spend.converged and spend.customers == 946
    assert (round(spend.p, 2), round(spend.q, 2), round(spend.gamma, 2)) == (6.25, 3.74, 15.44)
    assert cdnow.population_spend == pytest.approx(spend.p * spend.gamma / (spend.q - 1))


def test_cdnow_customer_one_prediction(cdnow: pr.Prediction) -> None:
    # The first customer of the sample: x = 2, t_x = 30.43, T = 38.86 weeks.
    row = cdnow.customers.set_index("customer_id").loc["00004"]
    assert (row["frequency"], row["recency"], row["T"]) == (2, 213 / 7, 272 / 7)
    ahead = pr.expected_purchases(cdnow.bgnbd, 39.0, [2], [213 / 7], [272 / 7])
    assert ahead[0] == pytest.approx(1.2259, abs=1e-4)
    assert row["p_alive"] == pytest.approx(0.7266, abs=1e-4)


# 2. CDNOW holdout


def test_cdnow_holdout_totals(cdnow: pr.Prediction, cdnow_orders: pd.DataFrame) -> None:
    # Actual repeat purchase days in weeks 40-78 (1997-10-01 to 1998-06-30) are 1,882 (1,959 order lines,
    # 77 of them on a day the same customer had already bought). The model, conditioned on each customer's
    # calibration history, expects 1,653.4: 12% under. The figures quoted in the brief for this comparison
    # (about 1,788 actual against about 1,729 predicted) could not be reproduced from these data under any
    # counting tried; the calibration fit above, which matches the paper to every published decimal, shows
    # that the data and the conventions are the paper's. docs/predict.md discusses the gap.
    holdout = cdnow.holdout
    assert holdout is not None
    assert (str(holdout.start.date()), str(holdout.end.date()), holdout.weeks) == ("1997-09-30", "1998-06-30", 39.0)
    assert holdout.actual == 1882
    assert holdout.predicted == pytest.approx(1653.4, abs=0.1)
    assert abs(holdout.predicted - holdout.actual) / holdout.actual < 0.15
    tracking = holdout.tracking
    assert tracking["week"].tolist() == list(range(1, 40))
    assert tracking["actual"].iloc[-1] == holdout.actual
    assert tracking["predicted"].iloc[-1] == pytest.approx(holdout.predicted)
    assert tracking["actual"].is_monotonic_increasing and tracking["predicted"].is_monotonic_increasing
    groups = holdout.by_frequency
    assert groups["frequency"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert groups["customers"].sum() == 2357
    assert (groups["customers"] * groups["actual"]).sum() == pytest.approx(1882)
    same = pr.predict(cdnow_orders, holdout_weeks=39)
    assert same.calibration_end == cdnow.calibration_end
    assert same.holdout.actual == holdout.actual
    assert same.holdout.predicted == pytest.approx(holdout.predicted)


# 3. Hand-built cases: the conventions


def test_orders_on_one_utc_day_are_one_purchase_and_their_values_add_up() -> None:
    summary = pr.summarise(orders(
        ("a", "2024-01-01T10:00:00Z", 10.0), ("a", "2024-01-01T18:00:00Z", 5.0),
        ("a", "2024-01-08T00:00:00Z", 20.0), ("a", "2024-01-08T23:59:59Z", 4.0),
        # 2024-01-08 20:00 in New York is 2024-01-09 01:00 UTC: another day.
        ("a", "2024-01-08T20:00:00-05:00", 6.0),
    ), "2024-01-15")
    row = summary.loc["a"]
    assert row["frequency"] == 2
    assert row["monetary_value"] == pytest.approx((24.0 + 6.0) / 2)
    assert row["recency"] == pytest.approx(8 / 7)
    assert row["T"] == pytest.approx(14 / 7)


def test_orders_on_the_calibration_end_date_count_and_later_ones_do_not() -> None:
    frame = orders(("a", "2024-01-01T09:00:00Z", 10.0), ("a", "2024-01-29T23:59:59Z", 7.0),
                   ("a", "2024-01-30T00:00:00Z", 99.0), ("b", "2024-01-30T08:00:00Z", 5.0))
    summary = pr.summarise(frame, "2024-01-29")
    assert summary.index.tolist() == ["a"]
    assert summary.loc["a"].tolist() == [1, 4.0, 4.0, 7.0]


def test_recency_and_age_are_exact_weeks() -> None:
    summary = pr.summarise(orders(("a", "2024-01-01T12:00:00Z", 1.0), ("a", "2024-01-11T01:00:00Z", 2.0),
                                  ("b", "2024-01-15T00:00:00Z", 3.0)), "2024-01-29")
    assert summary.loc["a", "recency"] == 10 / 7
    assert summary.loc["a", "T"] == 4.0
    assert summary.loc["b"].tolist() == [0, 0.0, 2.0, 0.0]


def test_calibration_end_defaults_to_the_last_order_day() -> None:
    summary = pr.summarise(orders(("a", "2024-01-01T12:00:00Z", 1.0), ("b", "2024-01-08T23:00:00Z", 2.0)))
    assert summary.loc["a", "T"] == 1.0
    assert summary.loc["b", "T"] == 0.0


# 4. Properties of the closed forms

# Parameters anywhere the fit may put them, e^-9 to e^9: thin data drive estimates far out.
PARAMETER = st.floats(-9, 9).map(math.exp)
MODELS = st.builds(lambda r, alpha, a, b: pr.BGNBD(r, alpha, a, b, 0.0, True, 0),
                   PARAMETER, PARAMETER, PARAMETER, PARAMETER)
HISTORIES = st.tuples(st.integers(0, 60), st.floats(0, 1), st.floats(0.1, 200))


@settings(max_examples=60, deadline=None)
@given(MODELS, HISTORIES)
def test_p_alive_is_a_probability(model: pr.BGNBD, history: tuple[int, float, float]) -> None:
    x, share, age = history
    alive = pr.p_alive(model, [x], [share * age if x else 0.0], [age])[0]
    assert 0.0 <= alive <= 1.0


@settings(max_examples=60, deadline=None)
@given(MODELS, HISTORIES, st.floats(0.1, 100), st.floats(0.1, 100))
@example(pr.BGNBD(148.4131591025766, 148.4131591025766, 2980.9579870417283, 1.0, 0.0, True, 0), (0, 0.0, 1.0),
         18.0, 43.0)  # extreme parameters: the hypergeometric series moves the 8th significant digit
def test_expected_purchases_grow_with_the_horizon(model: pr.BGNBD, history: tuple[int, float, float],
                                                  first: float, second: float) -> None:
    x, share, age = history
    recency = share * age if x else 0.0
    short, long = sorted((first, second))
    values = pr.expected_purchases(model, np.array([short, long]), np.array([x, x]), np.array([recency, recency]),
                                   np.array([age, age]))
    assert np.all(np.isfinite(values)) and values[0] >= 0
    assert values[1] >= values[0] - 1e-7 * max(1.0, values[0])  # a longer horizon never loses beyond rounding


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.floats(0, 1), st.floats(0, 1), st.floats(0.1, 200))
def test_a_later_last_purchase_is_not_less_alive(cdnow: pr.Prediction, x: int, first: float, second: float,
                                                 age: float) -> None:
    early, late = sorted((first * age, second * age))
    alive = pr.p_alive(cdnow.bgnbd, [x, x], [early, late], [age, age])
    assert alive[1] >= alive[0] - 1e-12


def test_expected_purchases_agree_with_the_textbook_form(cdnow: pr.Prediction) -> None:
    # predict.py evaluates 2F1 after Euler's transformation; the untransformed form must agree where it is finite.
    m = cdnow.bgnbd
    x, recency, age, t = np.array([0, 1, 3, 8, 20]), np.array([0, 5, 20, 30, 35]), np.full(5, 38.0), 39.0
    ratio = (m.alpha + age) / (m.alpha + age + t)
    hyper = hyp2f1(m.r + x, m.b + x, m.a + m.b + x - 1, t / (m.alpha + age + t))
    lean = np.where(x > 0, m.a / (m.b + np.maximum(x, 1) - 1) * ((m.alpha + age) / (m.alpha + recency)) ** (m.r + x), 0)
    textbook = (m.a + m.b + x - 1) / (m.a - 1) * (1 - ratio ** (m.r + x) * hyper) / (1 + lean)
    assert pr.expected_purchases(m, t, x, recency, age) == pytest.approx(textbook, rel=1e-9)


def test_the_numerical_integral_agrees_with_the_closed_form(cdnow: pr.Prediction) -> None:
    # The integral stands in where the closed form fails; where both work they must agree.
    x, age = np.array([0.0, 1, 2, 5, 10, 30]), np.full(6, 38.86)
    for weeks in (1.0, 39.0, 52.0):
        closed = pr._closed_form(cdnow.bgnbd, np.full(6, weeks), x, age)
        assert pr._by_quadrature(cdnow.bgnbd, np.full(6, weeks), x, age) == pytest.approx(closed, rel=1e-5)


def test_extreme_parameters_still_give_numbers() -> None:
    # Fits on a handful of customers land here: the closed form's 2F1 has a pole (a + b = 1) or fails (a huge).
    for r, alpha, a, b in [(4.5e-5, 4.5e-5, 0.5, 0.5), (2.8, 22.8, 4377.0, 22026.0), (0.96, 38.2, 18087.0, 5.5e-5)]:
        model = pr.BGNBD(r, alpha, a, b, 0.0, False, 0)
        values = pr.expected_purchases(model, 52.0, [0, 1, 5, 30], [0.0, 2, 20, 38], [5.0, 5, 38.86, 38.86])
        assert np.all(np.isfinite(values)) and np.all(values >= 0)


def test_analytic_gradients_match_finite_differences(cdnow: pr.Prediction) -> None:
    summary = cdnow.customers
    data = pr._Profiles.of(summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy())
    point = np.log([0.3, 5.0, 0.7, 2.0])
    assert check_grad(lambda v: pr._bgnbd_objective(v, data)[0], lambda v: pr._bgnbd_objective(v, data)[1],
                      point) < 1e-5
    repeat = pr.spenders(summary)
    x, m = repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy()
    point = np.log([5.0, 3.0, 12.0])
    assert check_grad(lambda v: pr._gamma_gamma_objective(v, x, m)[0],
                      lambda v: pr._gamma_gamma_objective(v, x, m)[1], point) < 1e-5


def test_a_simulated_population_gives_back_its_parameters() -> None:
    result = pr.predict(bench.synthetic_orders(20_000, seed=11))
    truth = bench.TRUE
    fitted = {"r": result.bgnbd.r, "alpha": result.bgnbd.alpha, "a": result.bgnbd.a, "b": result.bgnbd.b,
              "p": result.gamma_gamma.p, "q": result.gamma_gamma.q, "gamma": result.gamma_gamma.gamma}
    for name, value in fitted.items():
        assert value == pytest.approx(truth[name], rel=0.2), name


# The CLV figures


def test_clv_is_discounted_expected_revenue_ranked(cdnow: pr.Prediction, cdnow_orders: pd.DataFrame) -> None:
    table = cdnow.customers
    assert table.columns.tolist() == pr.COLUMNS
    assert table["rank"].tolist() == list(range(1, 2358))
    assert table["predicted_clv"].is_monotonic_decreasing
    assert (table["predicted_clv"] < table["expected_revenue"]).all()
    assert table["expected_revenue"].to_numpy() == pytest.approx(
        (table["expected_purchases"] * table["expected_spend"]).to_numpy())
    one_shot = table[table["frequency"] == 0]
    assert (one_shot["expected_spend"] == cdnow.population_spend).all()
    plain = pr.predict(cdnow_orders, calibration_end="1997-09-30", discount=0.0, horizon_weeks=13)
    assert plain.customers["predicted_clv"].to_numpy() == pytest.approx(plain.customers["expected_revenue"].to_numpy())
    ties = plain.customers[plain.customers["predicted_clv"].duplicated(keep=False)]
    for _, group in ties.groupby("predicted_clv"):
        assert group["customer_id"].is_monotonic_increasing


# 5. Thin and bad data


def test_ten_customers_give_numbers_and_a_warning() -> None:
    rows = [(f"c{i}", f"2024-01-{1 + i:02d}T10:00:00Z", 10.0 + i) for i in range(10)]
    rows += [(f"c{i}", f"2024-02-{1 + i:02d}T10:00:00Z", 12.0 + i) for i in range(0, 10, 2)]
    result = pr.predict(orders(*rows))
    assert len(result.customers) == 10
    assert any("fewer than 50" in w for w in result.warnings)
    assert result.gamma_gamma is not None or any("spend model" in w for w in result.warnings)
    assert result.customers["p_alive"].between(0, 1).all()


ORDER_ROWS = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 150), st.floats(0.01, 500)), min_size=1,
                      max_size=40)


@settings(max_examples=10, deadline=None)
@given(ORDER_ROWS, st.sampled_from([None, 1, 4]))
def test_any_handful_of_orders_gives_finite_numbers(rows: list[tuple[int, int, float]], holdout: int | None) -> None:
    frame = orders(*((f"c{c}", str(pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=d)), a)
                     for c, d, a in rows))
    try:
        result = pr.predict(frame, holdout_weeks=holdout)
    except pr.PredictError as error:
        assert holdout is not None and "no orders on or before" in str(error)
        return
    numbers = result.customers[["p_alive", "expected_purchases", "expected_spend", "predicted_clv"]].to_numpy()
    assert np.all(np.isfinite(numbers))
    assert result.warnings
    orjson.dumps(pv.as_dict(result, None))
    assert all(len(line) <= 80 for line in pv.render_text(result, 10).splitlines())


def test_a_single_repeat_customer_falls_back_to_the_population_mean_spend() -> None:
    result = pr.predict(orders(("a", "2024-01-01T00:00:00Z", 10.0), ("a", "2024-01-05T00:00:00Z", 30.0),
                               ("b", "2024-01-02T00:00:00Z", 20.0)))
    assert result.gamma_gamma is None
    assert any("spend model not fitted" in w for w in result.warnings)
    assert result.population_spend == pytest.approx(20.0)
    assert (result.customers["expected_spend"] == 20.0).all()
    pv.render_text(result, 10)
    orjson.dumps(pv.as_dict(result, 10))


def test_one_order_only_still_answers() -> None:
    result = pr.predict(orders(("a", "2024-01-01T00:00:00Z", 10.0)))
    assert len(result.customers) == 1 and result.warnings
    orjson.dumps(pv.as_dict(result, None))


def test_no_orders_before_the_calibration_end_is_a_clear_error() -> None:
    frame = orders(("a", "2024-03-01T00:00:00Z", 10.0))
    with pytest.raises(pr.PredictError, match="no orders on or before the calibration end 2024-02-01"):
        pr.predict(frame, calibration_end="2024-02-01")
    assert issubclass(pr.PredictError, ClvError)
    with pytest.raises(pr.PredictError):
        pr.predict(frame, holdout_weeks=52)
    with pytest.raises(pr.PredictError, match="no orders"):
        pr.predict(frame.iloc[:0])
    with pytest.raises(pr.PredictError, match="amount"):
        pr.predict(frame.drop(columns="amount"))


@pytest.mark.parametrize("arguments", [{"horizon_weeks": 0}, {"horizon_weeks": 2.5}, {"horizon_weeks": True},
                                       {"discount": float("nan")}, {"discount": "ten"}, {"discount": -1},
                                       {"holdout_weeks": 0}, {"calibration_end": "not a date"}])
def test_bad_arguments_are_usage_errors(arguments: dict) -> None:
    with pytest.raises(UsageError):
        pr.predict(orders(("a", "2024-01-01T00:00:00Z", 10.0)), **arguments)


# 6. Rendering


def test_as_dict_is_json_ready(cdnow: pr.Prediction) -> None:
    data = orjson.loads(orjson.dumps(pv.as_dict(cdnow, 5)))
    assert set(data) == {"model", "customers", "holdout"}
    assert {"r", "alpha", "a", "b", "p", "q", "gamma", "log_likelihood", "customers", "repeat_customers",
            "calibration_end", "horizon_weeks", "discount", "warnings"} <= set(data["model"])
    assert data["model"]["calibration_end"] == "1997-09-30"
    assert data["model"]["r"] == cdnow.bgnbd.r
    assert [row["rank"] for row in data["customers"]] == [1, 2, 3, 4, 5]
    assert set(data["customers"][0]) == set(pr.COLUMNS)
    assert data["holdout"]["actual"] == 1882 and len(data["holdout"]["tracking"]) == 39
    assert data["holdout"]["by_frequency"][0] == {"frequency": "0", "customers": 1411,
                                                  "actual_mean": pytest.approx(334 / 1411),
                                                  "predicted_mean": pytest.approx(0.2251, abs=1e-4)}


def test_rows_for_csv_are_the_top_of_the_table(cdnow: pr.Prediction) -> None:
    rows = pv.rows_for_csv(cdnow, 3)
    assert rows.columns.tolist() == pr.COLUMNS and rows["rank"].tolist() == [1, 2, 3]
    assert len(pv.rows_for_csv(cdnow, None)) == 2357


@pytest.mark.parametrize("unicode", [True, False])
def test_text_fits_80_columns(cdnow: pr.Prediction, unicode: bool) -> None:
    text = pv.render_text(cdnow, 10, width=80, unicode=unicode)
    assert all(len(line) <= 80 for line in text.splitlines())
    header = next(line for line in text.splitlines() if "customer_id" in line)
    assert "rank" in header and "predicted_clv" in header
    assert "columns not shown" in text
    assert "Holdout" in text and "7+" in text and "1,882" in text
    assert text.isascii() != unicode


def test_text_escapes_control_characters_and_cuts_long_ids() -> None:
    evil, long = "evil\x1b[2J\x9b", "x" * 200
    result = pr.predict(orders((evil, "2024-01-01T00:00:00Z", 10.0), (evil, "2024-01-09T00:00:00Z", 10.0),
                               (long, "2024-01-02T00:00:00Z", 5.0)))
    text = pv.render_text(result, None, width=60)
    assert "\x1b" not in text and "\x9b" not in text and "evil\\x1b[2J\\x9b" in text
    assert all(len(line) <= 60 for line in text.splitlines())
    assert "customer_id" in text and "predicted_clv" in text


def test_plot_png_writes_a_png(cdnow: pr.Prediction, tmp_path: Path) -> None:
    path = tmp_path / "holdout.png"
    pv.plot_png(cdnow, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ClvError, match="cannot write the chart"):
        pv.plot_png(cdnow, tmp_path / "missing" / "chart.png")


def test_plot_png_needs_a_holdout() -> None:
    result = pr.predict(orders(("a", "2024-01-01T00:00:00Z", 10.0)))
    with pytest.raises(ClvError, match="no holdout"):
        pv.plot_png(result, "unused.png")


def test_nan_free_json_even_when_numbers_are_missing() -> None:
    assert pv._number(math.nan) is None and pv._number(math.inf) is None and pv._number(1.5) == 1.5


def test_the_predict_command_on_cdnow_through_the_store(dirs, tmp_path):
    from helpers import run, write_lines

    events = write_lines(tmp_path / "cdnow.jsonl", to_events.events(CDNOW))
    assert run([*dirs, "ingest", events]).returncode == 0
    result = run([*dirs, "predict", "--calibration-end", "1997-09-30", "--top", "3", "--format", "json",
                  "--plot", tmp_path / "tracking.png"])
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    model = report["model"]
    assert [round(model[k], 3) for k in ("r", "alpha", "a", "b")] == [0.243, 4.414, 0.793, 2.426]
    assert round(model["log_likelihood"], 1) == -9582.4 and model["customers"] == 2357
    assert [c["rank"] for c in report["customers"]] == [1, 2, 3]
    assert report["holdout"]["actual"] == 1882
    assert (tmp_path / "tracking.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = run([*dirs, "predict", "--holdout", "39", "--top", "5"])
    assert "predicted_clv" in table.stdout and all(len(line) <= 80 for line in table.stdout.splitlines())
    rows = run([*dirs, "predict", "--top", "2", "--format", "csv"]).stdout.splitlines()
    assert rows[0].startswith("rank,customer_id") and len(rows) == 3


def test_predict_from_the_menu_and_its_errors(dirs, tmp_path):
    from helpers import SAMPLE, run

    assert run([*dirs, "predict"]).returncode == 1  # an empty store: no orders
    assert run([*dirs, "predict", "--discount", "2"]).returncode == 2
    run([*dirs, "ingest", SAMPLE])
    result = run(dirs, stdin="predict\nzero\n3\n\n4\n")
    assert "X must be a positive whole number, got 'zero'; try again" in result.stderr
    assert "warning:" in result.stderr and "predicted_clv" in result.stdout and result.returncode == 0
