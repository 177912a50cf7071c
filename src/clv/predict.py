"""Predictive customer lifetime value: BG/NBD for how often, Gamma-Gamma for how much.

Both models are fitted by maximum likelihood with scipy, vectorised over customers, and
follow the conventions of the published models (Fader, Hardie & Lee 2005; Fader & Hardie
2013) so that their CDNOW figures are reproduced: time in weeks, purchases counted per UTC
calendar day, the first purchase day not a repeat. docs/predict.md explains the choices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaincinv, betaln, digamma, expit, gammaln, hyp2f1

from .errors import ClvError, UsageError

DAYS_PER_WEEK = 7
WEEKS_PER_YEAR = 52
DEFAULT_HORIZON_WEEKS = 52
# Forecasts are week by week: a century is far beyond any use and still quick.
MAX_WEEKS = 5200
DEFAULT_DISCOUNT = 0.10
MIN_REPEAT_CUSTOMERS = 50
# Holdout groups by calibration frequency: 0, 1, ..., TOP_FREQUENCY - 1, and TOP_FREQUENCY or more.
TOP_FREQUENCY = 7
# The optimiser works on log-parameters within ±LOG_BOUND (e^10 ≈ 22,000): an estimate on a bound is not trusted.
LOG_BOUND = 10.0
# Nodes of the numerical integration that stands in for the closed form of E[Y(t)] where that fails.
QUADRATURE_NODES = 64
SUMMARY_COLUMNS = ["frequency", "recency", "T", "monetary_value"]
COLUMNS = ["rank", "customer_id", *SUMMARY_COLUMNS, "p_alive", "expected_purchases", "expected_spend",
           "expected_revenue", "predicted_clv"]


class PredictError(ClvError):
    """The orders cannot support a prediction at all (nothing to fit, or not a frame of orders)."""


@dataclass(frozen=True)
class BGNBD:
    """Fitted BG/NBD: purchase rates Gamma(r, alpha) per week, drop-out probabilities Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    converged: bool
    iterations: int


@dataclass(frozen=True)
class GammaGamma:
    """Fitted Gamma-Gamma: spend per purchase Gamma(p, nu), with nu ~ Gamma(q, gamma) across customers."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    converged: bool
    customers: int

    @property
    def mean_spend(self) -> float:
        """The population mean spend per purchase the model implies; infinite unless q > 1."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")


@dataclass(frozen=True)
class Holdout:
    """Actual repeat purchases after calibration against what the model predicted for them."""

    start: pd.Timestamp
    end: pd.Timestamp
    weeks: float
    actual: int
    predicted: float
    by_frequency: pd.DataFrame
    tracking: pd.DataFrame


@dataclass(frozen=True)
class Prediction:
    """Per-customer predictions, ranked, with the models and what to be wary of."""

    customers: pd.DataFrame
    bgnbd: BGNBD
    gamma_gamma: GammaGamma | None
    calibration_end: pd.Timestamp
    horizon_weeks: int
    discount: float
    population_spend: float
    holdout: Holdout | None
    warnings: list[str] = field(default_factory=list)

    @property
    def repeat_customers(self) -> int:
        return int((self.customers["frequency"] > 0).sum())


@dataclass(frozen=True)
class _Purchases:
    """Purchase days: one row per (customer, UTC day), sorted by customer code then day."""

    ids: np.ndarray
    code: np.ndarray
    day: np.ndarray
    value: np.ndarray


def _utc_days(times: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of each UTC instant: numpy's cast to days floors, so each lands on its own day."""
    return times.dt.tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)


def _purchases(orders: pd.DataFrame) -> _Purchases:
    """Orders merged into purchase days (UTC; a naive time is taken as UTC).

    Rows without a customer or a time are left out; an order without a usable amount counts as a
    purchase worth 0.
    """
    missing = [c for c in ("customer_id", "time", "amount") if c not in getattr(orders, "columns", [])]
    if missing:
        raise PredictError(f"orders lack the column(s) {', '.join(missing)}")
    try:
        times = pd.to_datetime(orders["time"], utc=True)
        amounts = pd.to_numeric(orders["amount"], errors="coerce").fillna(0.0).astype("float64")
    except (TypeError, ValueError) as error:
        raise PredictError(f"orders have times that are not instants: {error}") from None
    keep = orders["customer_id"].notna().to_numpy() & times.notna().to_numpy()
    codes, ids = pd.factorize(orders["customer_id"][keep].astype(str))
    days = pd.DataFrame({"code": codes, "day": _utc_days(times[keep]), "value": amounts[keep].to_numpy()})
    merged = days.groupby(["code", "day"], sort=True)["value"].sum()
    return _Purchases(ids=np.asarray(ids, dtype=object), code=merged.index.get_level_values(0).to_numpy(np.int64),
                      day=merged.index.get_level_values(1).to_numpy(np.int64), value=merged.to_numpy(np.float64))


def _day_of(moment: str | date | datetime | pd.Timestamp) -> int:
    """The UTC day (days since 1970-01-01) holding a date or an instant."""
    try:
        stamp = pd.Timestamp(moment)
    except (TypeError, ValueError) as error:
        raise UsageError(f"not a date: {moment!r} ({error})") from None
    if stamp is pd.NaT:
        raise UsageError(f"not a date: {moment!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(np.datetime64(stamp.date(), "D").astype(np.int64))


def _timestamp(day: int) -> pd.Timestamp:
    return pd.Timestamp(np.datetime64(day, "D"))


def _summary(purchases: _Purchases, calibration_day: int) -> tuple[pd.DataFrame, np.ndarray]:
    """frequency, recency, T (weeks) and monetary_value of every customer who bought by the calibration day.

    Also gives each row's customer code in `purchases`, to find the same customers' later purchases.
    """
    within = purchases.day <= calibration_day
    code, day, value = purchases.code[within], purchases.day[within], purchases.value[within]
    if code.size == 0:
        raise PredictError(f"no orders on or before the calibration end {_timestamp(calibration_day).date()}")
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], code.size] - 1
    frequency = ends - starts
    repeat_value = np.add.reduceat(value, starts) - value[starts]
    monetary = np.divide(repeat_value, frequency, out=np.zeros(frequency.size), where=frequency > 0)
    frame = pd.DataFrame({
        "frequency": frequency.astype(np.int64),
        "recency": (day[ends] - day[starts]) / DAYS_PER_WEEK,
        "T": (calibration_day - day[starts]) / DAYS_PER_WEEK,
        "monetary_value": monetary,
    }, index=pd.Index(purchases.ids[code[starts]], name="customer_id", dtype="str"))
    return frame, code[starts]


def summarise(orders: pd.DataFrame, calibration_end: str | date | pd.Timestamp | None = None) -> pd.DataFrame:
    """Per customer: repeat purchase days, recency and age in weeks, mean repeat spend (index customer_id)."""
    purchases = _purchases(orders)
    if purchases.day.size == 0:
        raise PredictError("no orders to predict from")
    day = int(purchases.day.max()) if calibration_end is None else _day_of(calibration_end)
    return _summary(purchases, day)[0]


def _minimise(objective, start: np.ndarray) -> tuple[np.ndarray, bool, int]:
    """Minimise a (value, gradient) function of log-parameters: L-BFGS-B, polished by Nelder-Mead if it stalls."""
    bounds = [(-LOG_BOUND, LOG_BOUND)] * start.size
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9})
    iterations, converged, best = result.nit, bool(result.success), result.x
    if not converged:
        polish = minimize(lambda v: objective(v)[0], best, method="Nelder-Mead", bounds=bounds,
                          options={"xatol": 1e-9, "fatol": 1e-13})
        iterations, converged, best = iterations + polish.nit, bool(polish.success), polish.x
    on_bound = bool(np.any(np.abs(best) >= LOG_BOUND - 1e-6))
    return best, converged and not on_bound, int(iterations)


def _finite(value: float, gradient: np.ndarray) -> tuple[float, np.ndarray]:
    """A value the optimiser can step away from where the likelihood overflows."""
    if np.isfinite(value) and np.all(np.isfinite(gradient)):
        return value, gradient
    return 1e300, np.zeros_like(gradient)


@dataclass(frozen=True)
class _Profiles:
    """BG/NBD inputs, with the costly functions evaluated once per distinct x, t_x and T."""

    x: np.ndarray
    x_at: np.ndarray
    tx: np.ndarray
    tx_at: np.ndarray
    T: np.ndarray
    T_at: np.ndarray

    @classmethod
    def of(cls, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> _Profiles:
        x, x_at = np.unique(frequency.astype(np.float64), return_inverse=True)
        tx, tx_at = np.unique(recency, return_inverse=True)
        T, T_at = np.unique(age, return_inverse=True)
        return cls(x, x_at, tx, tx_at, T, T_at)


def _bgnbd_objective(log_params: np.ndarray, data: _Profiles) -> tuple[float, np.ndarray]:
    """Minus the mean BG/NBD log-likelihood and its gradient in the log-parameters."""
    r, alpha, a, b = np.exp(log_params)
    with np.errstate(all="ignore"):
        x = data.x
        rx = (r + x)[data.x_at]
        log_aT = np.log(alpha + data.T)[data.T_at]
        log_at = np.log(alpha + data.tx)[data.tx_at]
        per_x = gammaln(r + x) - gammaln(r) + betaln(a, b + x) - betaln(a, b)
        log_drop = np.where(x > 0, np.log(a) - np.log(b + np.maximum(x, 1) - 1), -np.inf)
        u = log_drop[data.x_at] + rx * (log_aT - log_at)
        loglik = per_x[data.x_at] + r * np.log(alpha) - rx * log_aT + np.logaddexp(0.0, u)
        s = expit(u)
        inv_aT, inv_at = np.exp(-log_aT), np.exp(-log_at)
        d_r = (digamma(r + x) - digamma(r))[data.x_at] + np.log(alpha) - log_aT + s * (log_aT - log_at)
        d_alpha = r / alpha - rx * inv_aT + s * rx * (inv_aT - inv_at)
        shared = digamma(a + b) - digamma(a + b + x)
        d_a = shared[data.x_at] + s / a
        step_b = np.where(x > 0, 1.0 / (b + np.maximum(x, 1) - 1), 0.0)
        d_b = (shared + digamma(b + x) - digamma(b))[data.x_at] - s * step_b[data.x_at]
        n = loglik.size
        gradient = -np.array([d_r.sum() * r, d_alpha.sum() * alpha, d_a.sum() * a, d_b.sum() * b]) / n
        return _finite(-loglik.sum() / n, gradient)


def fit_bgnbd(summary: pd.DataFrame) -> BGNBD:
    """Maximum-likelihood BG/NBD from frequency, recency and T (weeks) of each customer."""
    if summary.empty:
        raise PredictError("no customers to fit the purchase model to")
    data = _Profiles.of(summary["frequency"].to_numpy(), summary["recency"].to_numpy(np.float64),
                        summary["T"].to_numpy(np.float64))
    start = np.log([1.0, max(float(summary["T"].mean()), 1.0), 1.0, 1.0])
    best, converged, iterations = _minimise(lambda v: _bgnbd_objective(v, data), start)
    r, alpha, a, b = (float(v) for v in np.exp(best))
    loglik = -_bgnbd_objective(best, data)[0] * len(summary)
    return BGNBD(r, alpha, a, b, float(loglik), converged, iterations)


def _gamma_gamma_objective(log_params: np.ndarray, x: np.ndarray, m: np.ndarray) -> tuple[float, np.ndarray]:
    """Minus the mean Gamma-Gamma log-likelihood of mean spends m over x purchases, and its gradient."""
    p, q, g = np.exp(log_params)
    with np.errstate(all="ignore"):
        px = p * x
        log_m, log_x, log_sum = np.log(m), np.log(x), np.log(g + x * m)
        loglik = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g) + (px - 1) * log_m + px * log_x
                  - (px + q) * log_sum)
        both = digamma(px + q)
        d_p = x * (both - digamma(px) + log_m + log_x - log_sum)
        d_q = both - digamma(q) + np.log(g) - log_sum
        d_g = q / g - (px + q) / (g + x * m)
        n = loglik.size
        gradient = -np.array([d_p.sum() * p, d_q.sum() * q, d_g.sum() * g]) / n
        return _finite(-loglik.sum() / n, gradient)


def spenders(summary: pd.DataFrame) -> pd.DataFrame:
    """The customers the spend model learns from: at least one repeat purchase day, worth more than 0."""
    return summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]


def fit_gamma_gamma(summary: pd.DataFrame) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma from repeat customers' mean spend per repeat purchase day, weighted by x."""
    repeat = spenders(summary)
    if len(repeat) < 2:
        raise PredictError(f"the spend model needs 2 or more repeat customers with a spend above 0, "
                           f"found {len(repeat)}")
    x = repeat["frequency"].to_numpy(np.float64)
    m = repeat["monetary_value"].to_numpy(np.float64)
    start = np.log([1.0, 1.0, max(float(m.mean()), 1e-6)])
    best, converged, _ = _minimise(lambda v: _gamma_gamma_objective(v, x, m), start)
    p, q, g = (float(v) for v in np.exp(best))
    loglik = -_gamma_gamma_objective(best, x, m)[0] * len(repeat)
    return GammaGamma(p, q, g, float(loglik), converged, len(repeat))


def _arrays(*values: object) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def p_alive(model: BGNBD, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> np.ndarray:
    """P(still active | x, t_x, T): 1 for customers with no repeat purchase, by the model's construction."""
    x, recency, age = _arrays(frequency, recency, age)
    with np.errstate(all="ignore"):
        log_drop = np.log(model.a) - np.log(model.b + np.maximum(x, 1) - 1)
        log_odds_gone = log_drop + (model.r + x) * (np.log(model.alpha + age) - np.log(model.alpha + recency))
        return np.where(x > 0, expit(-log_odds_gone), 1.0)


def _closed_form(model: BGNBD, weeks: np.ndarray, x: np.ndarray, age: np.ndarray) -> np.ndarray:
    """E[Y(t) | alive] by the published closed form, its 2F1 taken through Euler's transformation.

    The transformed 2F1 has small parameters, so it does not overflow for frequent buyers; it can
    still fail (NaN, or a pole such as a = 1) for the extreme parameters that fits on thin data produce.
    """
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    with np.errstate(all="ignore"):
        z = weeks / (alpha + age + weeks)
        hyper = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        return (a + b + x - 1) / (a - 1) * (1 - np.exp((a - 1) * np.log1p(-z)) * hyper)


@cache
def _legendre() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1]: found once, as finding them costs more than using them."""
    return np.polynomial.legendre.leggauss(QUADRATURE_NODES)


def _by_quadrature(model: BGNBD, weeks: np.ndarray, x: np.ndarray, age: np.ndarray) -> np.ndarray:
    """E[Y(t) | alive] as the mean over the drop-out probability p ~ Beta(a, b + x) of (1 − (1 + p·s)^−(r+x)) / p.

    s = t / (alpha + T). Gauss-Legendre nodes in the quantile of p keep the integrand bounded
    whatever a and b are; the quantiles depend on x only, so they are found once per distinct x.
    """
    nodes, weights = _legendre()
    distinct, at = np.unique(x, return_inverse=True)
    p = betaincinv(model.a, model.b + distinct[:, None], (nodes[None, :] + 1) / 2)[at]
    k = (model.r + x)[:, None]
    s = (weeks / (model.alpha + age))[:, None]
    with np.errstate(all="ignore"):
        mean = np.where(p > 0, -np.expm1(-k * np.log1p(p * s)) / p, k * s)
    return mean @ (weights / 2)


def expected_purchases(model: BGNBD, weeks: float | np.ndarray, frequency: np.ndarray, recency: np.ndarray,
                       age: np.ndarray) -> np.ndarray:
    """E[repeat purchase days in the next `weeks` | x, t_x, T]: P(alive) times E[Y(t) | alive].

    The closed form serves wherever it gives a number; numerical integration covers the rest.
    """
    weeks, x, recency, age = np.broadcast_arrays(*_arrays(weeks, frequency, recency, age))
    if_alive = np.array(_closed_form(model, weeks, x, age), dtype=np.float64, ndmin=1)
    failed = ~np.isfinite(if_alive) | (if_alive < 0)
    if failed.any():
        if_alive[failed] = _by_quadrature(model, *(np.ravel(v)[failed.ravel()] for v in (weeks, x, age)))
    return if_alive.reshape(x.shape) * p_alive(model, x, recency, age)


def expected_spend(model: GammaGamma | None, population_spend: float, frequency: np.ndarray,
                   monetary_value: np.ndarray) -> np.ndarray:
    """E[spend per purchase | x, mean]: the Gamma-Gamma posterior mean, or the population mean without a model."""
    x = np.asarray(frequency, dtype=np.float64)
    if model is None:
        return np.full(x.size, population_spend)
    m = np.where(np.asarray(monetary_value) > 0, monetary_value, 0.0)
    with np.errstate(all="ignore"):
        conditional = model.p * (model.gamma + x * m) / (model.p * x + model.q - 1)
    return np.where(m > 0, conditional, population_spend)


def discounted_purchases(model: BGNBD, weeks: int, discount: float, frequency: np.ndarray, recency: np.ndarray,
                         age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(discounted, plain) expected purchases over `weeks`: each week's increment discounted to its end."""
    weekly = (1.0 + discount) ** (-1.0 / WEEKS_PER_YEAR)
    previous = np.zeros(np.size(frequency))
    total = np.zeros(np.size(frequency))
    for week in range(1, weeks + 1):
        current = expected_purchases(model, float(week), frequency, recency, age)
        total += (current - previous) * weekly**week
        previous = current
    return total, previous


def _population_spend(purchases: _Purchases, calibration_day: int, model: GammaGamma | None) -> float:
    """Mean spend per purchase day for customers with no usable repeat spend.

    With a usable spend model this is the mean it implies, p·gamma/(q−1); otherwise the plain mean
    value of every purchase day in calibration, first days included.
    """
    if model is not None:
        return model.mean_spend
    within = purchases.day <= calibration_day
    return float(purchases.value[within].mean()) if within.any() else 0.0


def _spend_model(summary: pd.DataFrame, warnings: list[str]) -> GammaGamma | None:
    """The fitted spend model, or None (with the reason among the warnings) when it cannot be used."""
    try:
        model = fit_gamma_gamma(summary)
    except PredictError as error:
        warnings.append(f"spend model not fitted: {error}; everyone gets the population mean spend")
        return None
    if model.q <= 1:
        warnings.append(f"spend model unusable (q = {model.q:.3g}, at most 1, gives no finite mean); "
                        "everyone gets the population mean spend")
        return None
    if not model.converged:
        warnings.append("spend model (Gamma-Gamma) fit did not converge; its estimates may be off")
    excluded = int((summary["frequency"] > 0).sum()) - model.customers
    if excluded:
        warnings.append(f"{excluded} repeat customer(s) with a mean spend of 0 or less left out of the spend model")
    return model


def _holdout(model: BGNBD, summary: pd.DataFrame, codes: np.ndarray, purchases: _Purchases, calibration_day: int,
             end_day: int) -> Holdout:
    """Repeat purchase days in (calibration end, end] per model customer, against E[Y(t)]."""
    member = np.zeros(purchases.ids.size, dtype=bool)
    member[codes] = True
    later = (purchases.day > calibration_day) & (purchases.day <= end_day) & member[purchases.code]
    actual = np.bincount(purchases.code[later], minlength=purchases.ids.size)[codes]
    x, tx, age = (summary[c].to_numpy(np.float64) for c in ("frequency", "recency", "T"))
    weeks = (end_day - calibration_day) / DAYS_PER_WEEK
    predicted = expected_purchases(model, weeks, x, tx, age)
    groups = np.minimum(summary["frequency"].to_numpy(), TOP_FREQUENCY)
    by_frequency = (pd.DataFrame({"group": groups, "actual": actual, "predicted": predicted})
                    .groupby("group").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                          predicted=("predicted", "mean")).reset_index())
    labels = [str(g) if g < TOP_FREQUENCY else f"{TOP_FREQUENCY}+" for g in by_frequency.pop("group")]
    by_frequency.insert(0, "frequency", pd.array(labels, dtype="str"))
    return Holdout(start=_timestamp(calibration_day), end=_timestamp(end_day), weeks=weeks, actual=int(actual.sum()),
                   predicted=float(predicted.sum()), by_frequency=by_frequency,
                   tracking=_tracking(model, x, tx, age, np.sort(purchases.day[later] - calibration_day), weeks))


def _tracking(model: BGNBD, x: np.ndarray, tx: np.ndarray, age: np.ndarray, offsets: np.ndarray,
              weeks: float) -> pd.DataFrame:
    """Cumulative repeat purchase days week by week after calibration: actual, and the sum of E[Y(t)]."""
    points = np.minimum(np.arange(1, int(np.ceil(weeks)) + 1, dtype=np.float64), weeks)
    actual = np.searchsorted(offsets, points * DAYS_PER_WEEK, side="right")
    predicted = [float(expected_purchases(model, t, x, tx, age).sum()) for t in points]
    return pd.DataFrame({"week": points, "actual": actual.astype(np.int64), "predicted": predicted})


def _fit_warnings(model: BGNBD, summary: pd.DataFrame) -> list[str]:
    repeat = int((summary["frequency"] > 0).sum())
    warnings = []
    if repeat < MIN_REPEAT_CUSTOMERS:
        warnings.append(f"only {repeat} repeat customer(s) (fewer than {MIN_REPEAT_CUSTOMERS}): "
                        "the estimates are unreliable")
    if not model.converged:
        warnings.append("purchase model (BG/NBD) fit did not converge; its estimates may be off")
    return warnings


def _whole_weeks(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def _check_arguments(horizon_weeks: int, discount: float, holdout_weeks: int | None) -> None:
    """Arguments out of range are the caller's to fix: a UsageError, before any work."""
    if not _whole_weeks(horizon_weeks) or horizon_weeks > MAX_WEEKS:
        raise UsageError(f"the horizon must be a whole number of weeks from 1 to {MAX_WEEKS}, "
                         f"not {horizon_weeks!r}")
    if not isinstance(discount, (int, float, np.number)) or not np.isfinite(discount) or discount <= -1:
        raise UsageError(f"the yearly discount rate must be a number above -1, not {discount!r}")
    if holdout_weeks is not None and (not _whole_weeks(holdout_weeks) or holdout_weeks > MAX_WEEKS):
        raise UsageError(f"the holdout must be a whole number of weeks from 1 to {MAX_WEEKS}, "
                         f"not {holdout_weeks!r}")


def _periods(purchases: _Purchases, calibration_end: str | date | pd.Timestamp | None,
             holdout_weeks: int | None) -> tuple[int, int | None]:
    """(calibration day, last holdout day or None) from the arguments and the data."""
    last = int(purchases.day.max())
    if calibration_end is not None:
        day = _day_of(calibration_end)
    else:
        day = last - DAYS_PER_WEEK * (holdout_weeks or 0)
    if holdout_weeks is not None:
        return day, day + DAYS_PER_WEEK * holdout_weeks
    return day, (last if last > day else None)


def _table(summary: pd.DataFrame, bgnbd: BGNBD, spend: np.ndarray, horizon_weeks: int,
           discount: float) -> pd.DataFrame:
    """The per-customer predictions, ranked by predicted_clv (ties by customer_id)."""
    x, tx, age = (summary[c].to_numpy(np.float64) for c in ("frequency", "recency", "T"))
    discounted, purchases = discounted_purchases(bgnbd, horizon_weeks, discount, x, tx, age)
    table = summary.reset_index()
    table["p_alive"] = p_alive(bgnbd, x, tx, age)
    table["expected_purchases"] = purchases
    table["expected_spend"] = spend
    table["expected_revenue"] = purchases * spend
    table["predicted_clv"] = discounted * spend
    table = table.sort_values(["predicted_clv", "customer_id"], ascending=[False, True], kind="stable",
                              na_position="last", ignore_index=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table[COLUMNS]


def predict(orders: pd.DataFrame, calibration_end: str | date | pd.Timestamp | None = None,
            horizon_weeks: int = DEFAULT_HORIZON_WEEKS, discount: float = DEFAULT_DISCOUNT,
            holdout_weeks: int | None = None) -> Prediction:
    """Fit both models on orders up to calibration_end and predict each customer's next horizon_weeks.

    calibration_end (a date; an instant stands for its UTC day) defaults to the day of the latest
    order, or to holdout_weeks weeks before it. The orders after it, up to the last order day or
    for holdout_weeks weeks when both are given, are compared with what the model predicted.
    """
    _check_arguments(horizon_weeks, discount, holdout_weeks)
    purchases = _purchases(orders)
    if purchases.day.size == 0:
        raise PredictError("no orders to predict from")
    calibration_day, end_day = _periods(purchases, calibration_end, holdout_weeks)
    summary, codes = _summary(purchases, calibration_day)
    bgnbd = fit_bgnbd(summary)
    warnings = _fit_warnings(bgnbd, summary)
    gamma_gamma = _spend_model(summary, warnings)
    population = _population_spend(purchases, calibration_day, gamma_gamma)
    spend = expected_spend(gamma_gamma, population, summary["frequency"].to_numpy(),
                           summary["monetary_value"].to_numpy())
    holdout = None
    if end_day is not None:
        if end_day > purchases.day.max():
            warnings.append(f"the orders end on {_timestamp(int(purchases.day.max())).date()}, before the holdout "
                            f"ends on {_timestamp(end_day).date()}")
        holdout = _holdout(bgnbd, summary, codes, purchases, calibration_day, end_day)
    table = _table(summary, bgnbd, spend, horizon_weeks, discount)
    if not np.isfinite(table["predicted_clv"]).all():
        warnings.append(f"{int((~np.isfinite(table['predicted_clv'])).sum())} customer(s) have no finite prediction")
    return Prediction(customers=table, bgnbd=bgnbd, gamma_gamma=gamma_gamma,
                      calibration_end=_timestamp(calibration_day), horizon_weeks=horizon_weeks,
                      discount=float(discount), population_spend=float(population), holdout=holdout,
                      warnings=warnings)
