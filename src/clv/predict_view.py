"""How a prediction is shown: JSON-ready dict, CSV rows, text for a terminal, and a PNG chart."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from .errors import ClvError
from .predict import COLUMNS, Holdout, Prediction
from .reader import printable

TABLE_FORMAT = "psql"
MISSING = "-"
ALWAYS = ("rank", "customer_id", "predicted_clv")
# The optional columns, most important first: the last ones go first when the table is too wide.
OPTIONAL = ("p_alive", "expected_purchases", "expected_spend", "frequency", "expected_revenue", "monetary_value",
            "recency", "T")
DECIMALS = {"recency": 1, "T": 1, "monetary_value": 2, "p_alive": 3, "expected_purchases": 3, "expected_spend": 2,
            "expected_revenue": 2, "predicted_clv": 2}
MOST_CHART_ROWS = 40
def _number(value: object) -> object:
    """A float for JSON: NaN and infinities become None."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _day(moment: pd.Timestamp) -> str:
    return moment.strftime("%Y-%m-%d")


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain dicts: ints stay ints, floats are unrounded, missing or infinite values None."""
    rows = []
    for row in frame.to_dict("records"):
        rows.append({k: (int(v) if isinstance(v, (int, np.integer)) else
                         _number(v) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()})
    return rows


def _holdout_dict(holdout: Holdout | None) -> dict | None:
    if holdout is None:
        return None
    return {
        "after": _day(holdout.start), "through": _day(holdout.end), "weeks": holdout.weeks,
        "actual": holdout.actual, "predicted": _number(holdout.predicted),
        "by_frequency": _records(holdout.by_frequency.rename(columns={"actual": "actual_mean",
                                                                      "predicted": "predicted_mean"})),
        "tracking": _records(holdout.tracking),
    }


def as_dict(prediction: Prediction, top: int | None) -> dict:
    """Everything about a prediction as JSON-ready values; the top `top` customers (all when None)."""
    spend = prediction.gamma_gamma
    model = prediction.bgnbd
    return {
        "model": {
            "r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b,
            "p": None if spend is None else spend.p, "q": None if spend is None else spend.q,
            "gamma": None if spend is None else spend.gamma,
            "log_likelihood": _number(model.log_likelihood),
            "spend_log_likelihood": None if spend is None else _number(spend.log_likelihood),
            "population_spend": _number(prediction.population_spend),
            "customers": len(prediction.customers), "repeat_customers": prediction.repeat_customers,
            "calibration_end": _day(prediction.calibration_end), "horizon_weeks": prediction.horizon_weeks,
            "discount": prediction.discount, "warnings": list(prediction.warnings),
        },
        "customers": _records(rows_for_csv(prediction, top)),
        "holdout": _holdout_dict(prediction.holdout),
    }


def rows_for_csv(prediction: Prediction, top: int | None) -> pd.DataFrame:
    """The ranked per-customer table, the top `top` rows (all when None)."""
    table = prediction.customers[COLUMNS]
    return (table if top is None else table.head(top)).reset_index(drop=True)


def _model_lines(prediction: Prediction, width: int) -> list[str]:
    """What was fitted, on how many customers, and the CLV definition, wrapped to the width."""
    model, spend = prediction.bgnbd, prediction.gamma_gamma
    purchases = (f"BG/NBD purchases: r={model.r:.4g} alpha={model.alpha:.4g} a={model.a:.4g} b={model.b:.4g}, "
                 f"log-likelihood {model.log_likelihood:,.1f}.")
    fitted = ("No spend model: " if spend is None else
              f"Gamma-Gamma spend: p={spend.p:.4g} q={spend.q:.4g} gamma={spend.gamma:.4g}, ")
    scope = (f"{len(prediction.customers):,} customers ({prediction.repeat_customers:,} repeat) up to "
             f"{_day(prediction.calibration_end)}; CLV over {prediction.horizon_weeks} weeks discounted at "
             f"{prediction.discount:.1%} a year.")
    sentences = [purchases, f"{fitted}mean spend {prediction.population_spend:,.2f} per purchase day.", scope]
    # The warnings are not data: the command prints them on stderr.
    return [line for sentence in sentences for line in textwrap.wrap(sentence, width)]


def _cell(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if column in DECIMALS:
        return f"{value:,.{DECIMALS[column]}f}"
    if column in ("rank", "frequency"):
        return f"{int(value):,}"
    return printable(str(value))


def _table_text(frame: pd.DataFrame, columns: list[str]) -> str:
    rows = [[_cell(c, v) for c, v in zip(columns, values)] for values in frame[columns].itertuples(index=False)]
    align = ["left" if c == "customer_id" else "right" for c in columns]
    return tabulate(rows, headers=columns, tablefmt=TABLE_FORMAT, colalign=align, disable_numparse=True)


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _shorten(text: str, room: int, unicode: bool) -> str:
    """Text cut to `room` characters, the cut marked."""
    mark = "…" if unicode else "~"
    return text if len(text) <= room else text[:max(room - 1, 0)] + mark


def _fitted_table(frame: pd.DataFrame, width: int, unicode: bool) -> tuple[str, list[str]]:
    """The table with the least important columns dropped until it fits; (text, dropped columns)."""
    kept = [c for c in COLUMNS if c in ALWAYS or c in OPTIONAL]
    dropped: list[str] = []
    text = _table_text(frame, kept)
    for column in reversed(OPTIONAL):
        if _widest(text) <= width:
            break
        kept.remove(column)
        dropped.insert(0, column)
        text = _table_text(frame, kept)
    excess = _widest(text) - width
    if excess > 0:
        shown = frame.assign(customer_id=[printable(str(v)) for v in frame["customer_id"]])
        room = max(max(map(len, shown["customer_id"]), default=0) - excess, len("customer_id"))
        text = _table_text(shown.assign(customer_id=[_shorten(v, room, unicode) for v in shown["customer_id"]]),
                           kept)
    return text, dropped


def _customers_part(prediction: Prediction, top: int | None, width: int, unicode: bool) -> list[str]:
    frame = rows_for_csv(prediction, top)
    if frame.empty:
        return ["(no customers)"]
    text, dropped = _fitted_table(frame, width, unicode)
    lines = text.splitlines()
    if dropped:
        lines.extend(textwrap.wrap(f"columns not shown, to fit {width} characters: {', '.join(dropped)} "
                                   "(--format csv or json has them)", width))
    rest = len(prediction.customers) - len(frame)
    if rest > 0:
        lines.append(f"{rest:,} more customer{'' if rest == 1 else 's'} not shown (--top N to list more)")
    return lines


def _frequency_part(holdout: Holdout, width: int) -> list[str]:
    """Mean holdout purchase days per customer, actual and predicted, by calibration frequency."""
    rows = [[f, f"{n:,}", f"{a:.3f}", f"{p:.3f}"] for f, n, a, p in holdout.by_frequency.itertuples(index=False)]
    table = tabulate(rows, headers=["frequency", "customers", "actual", "predicted"], tablefmt=TABLE_FORMAT,
                     colalign=["right"] * 4, disable_numparse=True)
    title = "Mean repeat purchase days per customer in the holdout, by frequency in calibration:"
    return [*textwrap.wrap(title, width), *table.splitlines()]


def _chart_rows(tracking: pd.DataFrame) -> pd.DataFrame:
    """At most MOST_CHART_ROWS weeks, evenly spread, the last one always among them."""
    if len(tracking) <= MOST_CHART_ROWS:
        return tracking
    picks = np.unique(np.linspace(0, len(tracking) - 1, MOST_CHART_ROWS).round().astype(int))
    return tracking.iloc[picks]


def _chart_part(holdout: Holdout, width: int, unicode: bool) -> list[str]:
    """Cumulative repeat purchases per week: a bar for the actual count, a mark where the prediction is."""
    fill, mark, rule = ("█", "┃", "│") if unicode else ("#", "|", ":")
    rows = _chart_rows(holdout.tracking)
    labels = [f"{w:>5g} {a:>7,} {p:>9,.1f} {rule}" for w, a, p in rows.itertuples(index=False)]
    room = max(width - max(map(len, labels)), 1)
    largest = max(float(rows["actual"].max()), float(rows["predicted"].max()), 1.0)
    lines = textwrap.wrap(f"cumulative repeat purchases after {_day(holdout.start)}: {fill} actual, "
                          f"{mark} predicted", width)
    lines.append(_shorten(f"{'week':>5} {'actual':>7} {'predicted':>9}", width, unicode))
    for label, (_, actual, predicted) in zip(labels, rows.itertuples(index=False)):
        bar = [fill if i < _cells(actual, largest, room) else " " for i in range(room)]
        bar[max(_cells(predicted, largest, room) - 1, 0)] = mark
        lines.append(_shorten(label + "".join(bar).rstrip(), width, unicode))
    return lines


def _cells(value: float, largest: float, room: int) -> int:
    """How many of `room` cells a value fills on a scale that ends at `largest`."""
    return min(round(value / largest * room), room)


def _holdout_part(holdout: Holdout, width: int, unicode: bool) -> list[str]:
    gap = (holdout.predicted - holdout.actual) / holdout.actual if holdout.actual else math.nan
    head = (f"Holdout {_day(holdout.start + pd.Timedelta(days=1))} to {_day(holdout.end)} ({holdout.weeks:g} weeks): "
            f"{holdout.actual:,} repeat purchase days, {holdout.predicted:,.1f} predicted"
            + ("." if math.isnan(gap) else f" ({gap:+.1%})."))
    return [*textwrap.wrap(head, width), "", *_frequency_part(holdout, width), "", *_chart_part(holdout, width, unicode)]


def render_text(prediction: Prediction, top: int | None, width: int = 80, unicode: bool = True) -> str:
    """The model, the top customers and any holdout comparison, every line at most `width` characters."""
    lines = [*_model_lines(prediction, width), "", *_customers_part(prediction, top, width, unicode)]
    if prediction.holdout is not None:
        lines.extend(["", *_holdout_part(prediction.holdout, width, unicode)])
    return "\n".join(lines) + "\n"


def _draw(prediction: Prediction, path: Path) -> None:
    """Two panels: cumulative tracking and the mean holdout purchases per calibration frequency.

    matplotlib is imported here, as it is slow to import and only this needs it; the figure draws on
    its own Agg canvas, leaving the process's pyplot backend alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    holdout = prediction.holdout
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    tracking, groups = figure.subplots(1, 2)
    weeks = holdout.tracking["week"]
    tracking.plot(weeks, holdout.tracking["actual"], color="black", label="actual")
    tracking.plot(weeks, holdout.tracking["predicted"], color="tab:blue", linestyle="--", label="predicted (BG/NBD)")
    tracking.set(title=f"Cumulative repeat purchases after {_day(holdout.start)}", xlabel="weeks",
                 ylabel="purchase days")
    tracking.legend()
    frame = holdout.by_frequency
    place = np.arange(len(frame))
    groups.bar(place - 0.2, frame["actual"], width=0.4, color="0.3", label="actual")
    groups.bar(place + 0.2, frame["predicted"], width=0.4, color="tab:blue", label="predicted")
    groups.set_xticks(place, frame["frequency"].tolist())
    groups.set(title=f"Mean purchases in the {holdout.weeks:g}-week holdout", xlabel="calibration frequency",
               ylabel="purchase days per customer")
    groups.legend()
    figure.savefig(path, format="png", dpi=100)


def plot_png(prediction: Prediction, path: str | Path) -> None:
    """Write the holdout charts as a PNG; a ClvError with one line when there is no holdout or no way to write."""
    if prediction.holdout is None:
        raise ClvError("no holdout to chart: give a calibration end before the last order, or a holdout in weeks")
    try:
        _draw(prediction, Path(path))
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise ClvError(f"cannot write the chart to {printable(str(path))}: {reason}") from None
