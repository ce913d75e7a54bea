"""Month arithmetic on integer month indices (months since 1970-01).

Snapshots sit on month starts, so almost every temporal rule reduces to integer
comparisons of month indices, which vectorise and never suffer from time zones.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from churn.errors import InputError

_MONTH_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$")  # ASCII digits only: "\d" would take full-width ones
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def parse_month(text: str, field: str = "month") -> int:
    """'YYYY-MM' -> month index; raises InputError naming ``field``."""
    match = _MONTH_RE.match(str(text).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InputError(f"{field}: expected a month as YYYY-MM, got {text!r}")
    return (int(match.group(1)) - 1970) * 12 + int(match.group(2)) - 1


def parse_date(text: str, field: str = "date") -> pd.Timestamp:
    """'YYYY-MM-DD' (a UTC calendar day) -> its midnight UTC; anything else (other formats, times, time zones that
    would quietly move the day) is an InputError naming ``field``."""
    value = str(text).strip()
    try:
        if not _DATE_RE.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{field}: expected a date as YYYY-MM-DD, got {text!r}") from None
    return pd.Timestamp(day).tz_localize("UTC")


def month_label(index: int) -> str:
    return f"{1970 + index // 12:04d}-{index % 12 + 1:02d}"


def month_labels(times: pd.Series) -> pd.Series:
    """YYYY-MM of each time (None where unreadable), formatting each distinct month once: ``strftime`` formats
    every row, 8 s for a training set of 1.2M rows."""
    valid = times.notna().to_numpy()
    out = np.full(len(times), None, dtype=object)
    index = ((times.dt.year - 1970) * 12 + times.dt.month - 1).to_numpy()[valid].astype(np.int64)
    months, inverse = np.unique(index, return_inverse=True)
    out[valid] = np.array([month_label(int(m)) for m in months], dtype=object)[inverse]
    return pd.Series(out, index=times.index)


def month_start(index: int) -> pd.Timestamp:
    return pd.Timestamp(year=1970 + index // 12, month=index % 12 + 1, day=1, tz="UTC")


def month_starts_ns(index: np.ndarray) -> np.ndarray:
    """Vectorised month start (UTC) as int64 nanoseconds."""
    months = np.asarray(index, dtype=np.int64).astype("datetime64[M]")
    return months.astype("datetime64[ns]").astype(np.int64)


def month_index_of_ns(ns: np.ndarray) -> np.ndarray:
    """Month index of int64-nanosecond UTC times."""
    months = np.asarray(ns, dtype="int64").astype("datetime64[ns]").astype("datetime64[M]")
    return months.astype(np.int64)


def month_index_of(ts: pd.Timestamp) -> int:
    ts = pd.Timestamp(ts)
    return (ts.year - 1970) * 12 + ts.month - 1


def utc_ns(series: pd.Series) -> np.ndarray:
    """Any datetime column as int64 nanoseconds since the epoch, UTC."""
    values = pd.to_datetime(series, utc=True)
    return np.asarray(values.dt.tz_convert("UTC").dt.tz_localize(None), dtype="datetime64[ns]").astype(np.int64)
