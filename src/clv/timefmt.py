"""How instants are written everywhere: ISO 8601 in UTC with a Z, one precision per column."""
from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

MISSING = "-"


def precision(moments: pd.Series) -> str:
    """The coarsest precision that shows every instant of a column exactly."""
    micros = moments.dropna().dt.microsecond
    if (micros == 0).all():
        return "seconds"
    return "milliseconds" if (micros % 1000 == 0).all() else "microseconds"


def iso_utc(moment: object, timespec: str | None = None) -> str:
    """One instant; with no timespec, the precision it needs."""
    if moment is None or pd.isna(moment):
        return MISSING
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    spec = timespec or precision(pd.Series([stamp]))
    return stamp.isoformat(timespec=spec).replace("+00:00", "Z")


DIGITS = {"seconds": 0, "milliseconds": 3, "microseconds": 6}


def iso_column(moments: pd.Series, timespec: str | None = None) -> pd.Series:
    """A column of instants as text, all at one precision: timespec, or the one the column needs."""
    digits = DIGITS[timespec or precision(moments)]
    text = moments.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%f").astype("str")
    return text.str.slice(0, 19 + (digits + 1 if digits else 0)) + "Z"


def now() -> str:
    """The current time, to the second."""
    return iso_utc(datetime.now(UTC), "seconds")
