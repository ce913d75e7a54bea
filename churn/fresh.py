"""Event-time windows: one definition evaluated at month starts (the snapshot builder) and at any instant (online).

A windowed feature (``churn.schema.EventWindow``) counts a table's records whose
event time lies in ``[instant - days, instant)`` and that were known strictly
before the instant. At a month start T that is exactly what the snapshot builder
stores; between snapshots the online store keeps, next to the count, the event
times it was counted from (a support column), so a pushed event or the mere
passing of time moves the count without a rebuild. :func:`values_at` is the
obviously-correct evaluation at any instant from raw records, which tests hold
both the builder and the online path to.

Times are kept as epoch milliseconds, written as space-separated integers: a
Feast string value, readable by both online readers without list types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from churn.schema import WINDOWED_FEATURES, Feature
from churn.timeutil import month_index_of_ns, month_starts_ns, utc_ns

DAY_MS = 86_400_000
_MS = 1_000_000  # nanoseconds per millisecond


class Grid(Protocol):
    """The snapshot grid of ``churn.temporal``: customer c owns rows offset[c].. for months t0[c]..t1[c]."""

    t0: np.ndarray
    t1: np.ndarray
    offset: np.ndarray
    n: int

    def range_sum(self, cust: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray: ...


def window_records(tables: Mapping[str, pd.DataFrame], feature: Feature) -> pd.DataFrame | None:
    """customer_id, event time and known time (epoch ms) of the records ``feature`` counts; None: no such table."""
    window = feature.window
    assert window is not None, f"{feature.name} is not a windowed feature"
    table = tables.get(window.table)
    if table is None:
        return None
    if window.where is not None:
        table = table[table[window.where].to_numpy(dtype=bool)]
    return pd.DataFrame(
        {
            "customer_id": table["customer_id"].astype(str).to_numpy(),
            "at_ms": utc_ns(table[window.at]) // _MS,
            "known_ms": utc_ns(table["known_at"]) // _MS,
        }
    )


def encode_times(times_ms: Iterable[int]) -> str:
    return " ".join(str(int(t)) for t in sorted(times_ms))


def decode_times(text: str | None) -> list[int]:
    return [int(t) for t in text.split()] if text else []


def count_in_window(times_ms: Sequence[int], instant_ms: int, days: int) -> int:
    """How many of ``times_ms`` lie in ``[instant - days, instant)``."""
    return len(in_window(times_ms, instant_ms, days))


def in_window(times_ms: Sequence[int], instant_ms: int, days: int) -> list[int]:
    """The times a count at ``instant_ms`` still sees, and later instants may: the window's own, sorted."""
    low = instant_ms - days * DAY_MS
    return sorted(t for t in times_ms if low <= t < instant_ms)


def _ranges(records: pd.DataFrame, days: int) -> tuple[np.ndarray, np.ndarray]:
    """The month starts T that count each record: T > event and T > known (strictly), T <= event + days."""
    at_ns = records["at_ms"].to_numpy(dtype=np.int64) * _MS
    known_ns = records["known_ms"].to_numpy(dtype=np.int64) * _MS
    lo = month_index_of_ns(np.maximum(at_ns, known_ns)) + 1
    hi = month_index_of_ns(at_ns + days * DAY_MS * _MS)
    return lo, hi


def _times_per_row(grid: Grid, cust: np.ndarray, lo: np.ndarray, hi: np.ndarray, at_ms: np.ndarray) -> np.ndarray:
    """Per snapshot row: the event times its count was made of, encoded (``""`` when none)."""
    lo = np.maximum(lo, grid.t0[cust])
    hi = np.minimum(hi, grid.t1[cust])
    keep = lo <= hi
    cust, lo, hi, at_ms = cust[keep], lo[keep], hi[keep], at_ms[keep]
    out = np.full(grid.n, "", dtype=object)
    if not len(cust):
        return out
    spans = hi - lo + 1
    record = np.repeat(np.arange(len(cust)), spans)
    month = lo[record] + (np.arange(int(spans.sum())) - np.repeat(np.cumsum(spans) - spans, spans))
    row = grid.offset[cust[record]] + (month - grid.t0[cust[record]])
    pairs = pd.DataFrame({"row": row, "at": at_ms[record]}).sort_values(["row", "at"], kind="stable")
    joined = pairs["at"].astype(str).groupby(pairs["row"].to_numpy(), sort=False).agg(" ".join)
    out[joined.index.to_numpy()] = joined.to_numpy()
    return out


def fresh_features(
    grid: Grid,
    codes: Callable[[pd.DataFrame, str], np.ndarray],
    tables: Mapping[str, pd.DataFrame],
    recorded: Sequence[str],
) -> dict[str, np.ndarray]:
    """Every windowed feature and its times column for every snapshot row; null where the source lacks the table.

    ``codes`` maps a frame's customer ids to customer numbers; ``recorded`` names the behaviour tables the
    source really records (a source without tickets has unknown counts, not zero).
    """
    out: dict[str, np.ndarray] = {}
    for feature in WINDOWED_FEATURES:
        assert feature.window is not None
        records = window_records(tables, feature) if feature.window.table in recorded else None
        if records is None:
            out[feature.name] = np.full(grid.n, np.nan)
            out[feature.times_column] = np.full(grid.n, None, dtype=object)
            continue
        cust = codes(records, feature.window.table)
        lo, hi = _ranges(records, feature.window.days)
        out[feature.name] = grid.range_sum(cust, lo, hi).astype(float)
        out[feature.times_column] = _times_per_row(grid, cust, lo, hi, records["at_ms"].to_numpy(dtype=np.int64))
    return out


def values_at(tables: Mapping[str, pd.DataFrame], recorded: Sequence[str], instant_ms: int) -> pd.DataFrame:
    """Every customer's windowed features at any instant, straight from the records (the slow, plain definition).

    Index customer_id; one column per windowed feature and one per times column; customers with no record in a
    window get 0 and ``""``. A table the source does not record gives nulls.
    """
    columns: dict[str, pd.Series] = {}
    for feature in WINDOWED_FEATURES:
        assert feature.window is not None
        records = window_records(tables, feature) if feature.window.table in recorded else None
        if records is None:
            continue
        low = instant_ms - feature.window.days * DAY_MS
        seen = records[(records.known_ms < instant_ms) & (records.at_ms < instant_ms) & (records.at_ms >= low)]
        grouped = seen.groupby("customer_id")["at_ms"]
        columns[feature.name] = grouped.size()
        columns[feature.times_column] = grouped.agg(encode_times)
    return pd.DataFrame(columns)


def month_start_ms(month_index: int) -> int:
    return int(month_starts_ns(np.array([month_index]))[0]) // _MS


def online_values(row: Mapping[str, Any], instant_ms: int) -> dict[str, int]:
    """A customer's windowed features at ``instant_ms`` from the times an online row holds (tables it records)."""
    out: dict[str, int] = {}
    for feature in WINDOWED_FEATURES:
        assert feature.window is not None
        text = row.get(feature.times_column)
        if text is None:
            continue  # the source does not record this table: the count stays unknown
        out[feature.name] = count_in_window(decode_times(text), instant_ms, feature.window.days)
    return out
