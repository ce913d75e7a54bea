"""Temporalization: raw records -> one snapshot per active customer per month start.

The rule everything here obeys: the snapshot at month start T sees a record only
if the record was known strictly before T (``known_at < T``) and what it
describes happened before T. Because T is a month start, "known strictly before
T" is "T ≥ month(known_at) + 1", so every record contributes to a contiguous
range of snapshot months. The builder turns each record into such a range and
adds them all with one difference array per feature: no per-snapshot filtering
(the straightforward ``data[data.known_at < T]`` loop lives in
``churn.temporal_reference`` as the slow, obviously-correct twin that tests and
the benchmark compare against).

Money is summed in integer cents so window sums are exact and rebuilds are
byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churn.declared import METERED_PREFIX, Declared, FeatureSet, features_of
from churn.entity_index import positions
from churn.errors import InputError
from churn.fresh import fresh_features
from churn.labels import labels_of
from churn.raw import RawData
from churn.schema import (
    ADDON_SERVICES,
    CREATED_TIMESTAMP,
    ENTITY,
    EVENT_TIMESTAMP,
    FEATURE_NAMES,
    LABEL,
    PARTITION,
    TIMES_COLUMNS,
    WINDOWED_FEATURES,
)
from churn.timeutil import month_index_of_ns, month_label, month_starts_ns, parse_month, utc_ns


@dataclass
class Snapshots:
    """Built snapshots (one row per customer-month) and labels for the months already observed."""

    features: pd.DataFrame  # ENTITY, EVENT_TIMESTAMP, CREATED_TIMESTAMP, features..., PARTITION
    labels: pd.DataFrame  # ENTITY, EVENT_TIMESTAMP, LABEL


def _codes(series: pd.Series, categories: pd.Index, table: str) -> np.ndarray:
    if isinstance(series.dtype, pd.CategoricalDtype) and series.cat.categories.equals(categories):
        codes = series.cat.codes.to_numpy()
    else:
        codes = positions(series, categories)
    if (codes < 0).any():
        missing = series[codes < 0].astype(str).iloc[0]
        raise InputError(f"{table}.customer_id: {missing!r} is not in customers")
    return np.asarray(codes, dtype=np.int64)


def _period_index(series: pd.Series) -> np.ndarray:
    """Month numbers of YYYY-MM labels, each distinct label parsed once (a few dozen among millions of rows)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes, labels = series.cat.codes.to_numpy(), series.cat.categories
        if (codes < 0).any():
            raise InputError("period_month: a missing month (expected YYYY-MM)")
    else:
        codes, labels = pd.factorize(series, use_na_sentinel=False)
    lookup = np.array([parse_month(str(c), field="period_month") for c in labels], dtype=np.int64)
    return lookup[codes]


def _whole_months(since_ns: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Whole months from an instant to the month start ``t`` (both as given; month starts count exactly)."""
    mi = month_index_of_ns(since_ns)
    exact = since_ns == month_starts_ns(mi)
    return t - mi - np.where(exact, 0, 1)


class _Grid:
    """Snapshot rows: customer c owns rows offset[c] .. offset[c]+count[c]-1 for months t0[c] .. t1[c]."""

    def __init__(self, t0: np.ndarray, t1: np.ndarray) -> None:
        self.t0 = t0
        self.t1 = t1
        self.count = np.maximum(t1 - t0 + 1, 0)
        self.offset = np.concatenate([[0], np.cumsum(self.count)[:-1]]).astype(np.int64)
        self.n = int(self.count.sum())
        self.cust = np.repeat(np.arange(len(t0)), self.count)
        self.t = self.t0[self.cust] + (np.arange(self.n) - self.offset[self.cust])

    def range_sum(self, cust: np.ndarray, lo: np.ndarray, hi: np.ndarray, weight: np.ndarray | int = 1) -> np.ndarray:
        """For every row (c, T): the sum of weights of records of c with lo ≤ T ≤ hi (exact int64)."""
        lo = np.maximum(lo, self.t0[cust])
        hi = np.minimum(hi, self.t1[cust])
        keep = lo <= hi
        w = np.broadcast_to(np.asarray(weight, dtype=np.float64), cust.shape)[keep]
        c, lo, hi = cust[keep], lo[keep], hi[keep]
        start = self.offset[c] + (lo - self.t0[c])
        stop = self.offset[c] + (hi - self.t0[c]) + 1
        # float64 holds these integer sums exactly (all far below 2**53)
        diff = np.bincount(start, w, minlength=self.n + 1) - np.bincount(stop, w, minlength=self.n + 1)
        return np.rint(np.cumsum(diff[: self.n])).astype(np.int64)

    def pairs(self, cust: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(record, row) for every row (c, T) a record of c reaches with lo ≤ T ≤ hi: the expansion behind
        aggregates a difference array cannot take (a float sum without drift, a max, the latest reading)."""
        lo = np.maximum(lo, self.t0[cust])
        hi = np.minimum(hi, self.t1[cust])
        keep = np.flatnonzero(lo <= hi)
        span = (hi - lo + 1)[keep]
        record = np.repeat(keep, span)
        step = np.arange(len(record)) - np.repeat(np.cumsum(span) - span, span)
        c = cust[record]
        row = self.offset[c] + (lo[record] - self.t0[c]) + step
        return record, row

    def latest(self, cust: np.ndarray, avail: np.ndarray, order: tuple[np.ndarray, ...]) -> np.ndarray:
        """Per row: index of the record of c with the greatest ``order`` among those with avail ≤ T (-1: none)."""
        if len(cust) == 0:
            return np.full(self.n, -1, dtype=np.int64)
        rank = np.empty(len(cust), dtype=np.int64)
        rank[np.lexsort(order[::-1])] = np.arange(len(cust))
        by_avail = np.lexsort((rank, avail, cust))
        c_sorted, a_sorted, r_sorted = cust[by_avail], avail[by_avail], rank[by_avail]
        big = np.int64(len(cust) + 1)
        best = np.maximum.accumulate(c_sorted * big + r_sorted) - c_sorted * big
        record_of_rank = np.empty(len(cust), dtype=np.int64)
        record_of_rank[rank] = np.arange(len(cust))
        span = np.int64(1 << 24)
        keys = c_sorted * span + a_sorted
        pos = np.searchsorted(keys, self.cust * span + self.t, side="right") - 1
        found = (pos >= 0) & (c_sorted[np.maximum(pos, 0)] == self.cust)
        return np.where(found, record_of_rank[best[np.maximum(pos, 0)]], -1)


def high_value(monthly_charges: np.ndarray) -> np.ndarray:
    """``is_high_value`` for the customers active at one snapshot: charges in the month's top 25%.

    The one feature that depends on other customers: a distributed build runs it
    again over the whole month once every bucket is built.
    """
    values = np.asarray(monthly_charges, dtype=np.float64)
    valid = values[~np.isnan(values)]
    if not len(valid):
        return np.zeros(len(values), dtype=bool)
    return np.nan_to_num(values, nan=-np.inf) >= np.quantile(valid, 0.75)


@dataclass
class _Build:
    """What every feature group of one build shares: the customers, the snapshot grid, the month range."""

    ids: pd.Index
    grid: _Grid
    first: int
    last: int
    signup_ns: np.ndarray
    churn_at: np.ndarray  # when each customer left (int64 max: never)

    def codes(self, table: pd.DataFrame, name: str) -> np.ndarray:
        return _codes(table["customer_id"], self.ids, name)


def _population(raw: RawData) -> _Build:
    """Who is active at which month start: signed up (and known) before T, and no churn known before T."""
    first = parse_month(raw.first_snapshot_month, field="manifest.first_snapshot_month")
    last = parse_month(raw.last_snapshot_month, field="manifest.last_snapshot_month")
    customers = raw.tables.get("customers")
    if customers is None or customers.empty or "customer_id" not in customers:
        raise InputError("raw data: no customers to build snapshots from — ingest or simulate data first")
    ids = pd.Index(customers["customer_id"].astype(str))
    if ids.has_duplicates:
        raise InputError("customers.customer_id: duplicate ids")
    signup_ns = utc_ns(customers["signup_at"])
    signup_known_ns = np.maximum(signup_ns, utc_ns(customers["known_at"]))
    never = np.iinfo(np.int64).max
    churn_known = np.full(len(ids), never)
    churn_at = np.full(len(ids), never)
    churn = raw.tables.get("churn_events")
    if churn is not None and len(churn):
        cc = _codes(churn["customer_id"], ids, "churn_events")
        np.minimum.at(churn_known, cc, utc_ns(churn["known_at"]))
        np.minimum.at(churn_at, cc, utc_ns(churn["churned_at"]))
    t0 = np.maximum(month_index_of_ns(signup_known_ns) + 1, first)
    has_churn = churn_known < never
    t1 = np.minimum(np.where(has_churn, month_index_of_ns(np.where(has_churn, churn_known, 0)), last), last)
    return _Build(ids, _Grid(t0, t1), first, last, signup_ns, churn_at)


def _state_features(b: _Build, raw: RawData) -> dict[str, np.ndarray]:
    """Tenure, contract, services, payment and demographics: the latest service state known before T."""
    c, t = b.grid.cust, b.grid.t
    out: dict[str, np.ndarray] = {"tenure_months": _whole_months(b.signup_ns[c], t)}
    sc = raw.tables["service_changes"]
    eff, known = utc_ns(sc["effective_at"]), utc_ns(sc["known_at"])
    avail = np.maximum(month_index_of_ns(eff), month_index_of_ns(known)) + 1
    rec = b.grid.latest(b.codes(sc, "service_changes"), avail, (eff, known))
    if (rec < 0).any():
        bad = b.ids[c[rec < 0][0]]
        raise InputError(f"service_changes: customer {bad!r} has no service state known before a snapshot")

    def state(col: str) -> np.ndarray:
        return sc[col].to_numpy()[rec]

    contract = state("contract").astype(str)
    internet = state("internet_service").astype(str)
    out["contract_type"] = contract
    terms = labels_of(raw.manifest).contract_terms  # the platform's contract kinds and the source's own
    kinds = list(terms)
    codes = pd.Categorical(contract, categories=kinds).codes
    if (codes < 0).any():
        raise InputError(f"service_changes.contract: {contract[codes < 0][0]!r} is not a contract kind of this source "
                         f"({', '.join(kinds)})")  # fmt: skip
    term = np.array([terms[x] for x in kinds])[codes]
    since = np.maximum(_whole_months(utc_ns(sc["contract_start"])[rec], t), 0)
    out["contract_remaining_months"] = np.where(term > 0, term - np.mod(since, np.maximum(term, 1)), 0)
    phone = state("phone_service").astype(bool)
    has_internet = internet != "No"
    addons = sum(state(name).astype(bool).astype(np.int64) for name in ADDON_SERVICES)
    out["num_services_total"] = (
        phone.astype(np.int64)
        + (state("multiple_lines").astype(bool) & phone)
        + has_internet
        + np.where(has_internet, addons, 0)
    )
    out["has_fiber_optic"] = internet == "Fiber optic"
    out["payment_method"] = state("payment_method").astype(str)
    out["paperless_billing"] = state("paperless_billing").astype(bool)
    customers = raw.tables["customers"]
    out["gender"] = customers["gender"].astype(str).to_numpy()[c]
    for name in ("senior_citizen", "partner", "dependents"):
        out[name] = customers[name].to_numpy(dtype=bool)[c]
    return out


def _billing_features(b: _Build, raw: RawData) -> dict[str, np.ndarray]:
    """Invoices: period p known at K contributes to snapshots T in [max(p + 1, K), ...]; money in integer cents."""
    grid = b.grid
    bills = raw.tables["billing"]
    b_c = b.codes(bills, "billing")
    p = _period_index(bills["period_month"])
    b_known = utc_ns(bills["known_at"])
    lo = np.maximum(p + 1, month_index_of_ns(b_known) + 1)
    cents = np.rint(bills["amount"].to_numpy(dtype=np.float64) * 100).astype(np.int64)
    out: dict[str, np.ndarray] = {}
    last_bill = grid.latest(b_c, lo, (p, b_known))
    out["monthly_charges"] = np.where(last_bill >= 0, cents[np.maximum(last_bill, 0)] / 100.0, np.nan)
    n3 = grid.range_sum(b_c, lo, p + 3)
    s3 = grid.range_sum(b_c, lo, p + 3, cents)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["avg_monthly_charges_3m"] = np.where(n3 > 0, s3 / np.maximum(n3, 1) / 100.0, np.nan)
    x = p - b.first  # small integers keep every sum exact
    n6 = grid.range_sum(b_c, lo, p + 6)
    sx = grid.range_sum(b_c, lo, p + 6, x)
    sxx = grid.range_sum(b_c, lo, p + 6, x * x)
    sy = grid.range_sum(b_c, lo, p + 6, cents)
    sxy = grid.range_sum(b_c, lo, p + 6, x * cents)
    denom = n6 * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (n6 * sxy - sx * sy) / np.where(denom > 0, denom, 1) / 100.0
    out["charges_trend_6m"] = np.where((n6 >= 2) & (denom > 0), slope, np.nan)
    out["total_charges_to_date"] = grid.range_sum(b_c, lo, np.full_like(lo, b.last), cents) / 100.0
    # High value: top 25% of monthly charges among customers active at the same T.
    high = np.zeros(grid.n, dtype=bool)
    order = np.argsort(grid.t, kind="stable")
    for rows in np.split(order, np.flatnonzero(np.diff(grid.t[order])) + 1):
        high[rows] = high_value(out["monthly_charges"][rows])
    out["is_high_value"] = high
    return out


def _behaviour_features(b: _Build, raw: RawData) -> dict[str, np.ndarray]:
    """Tickets and late payments known before T; null where the source does not record them."""
    grid = b.grid
    out: dict[str, np.ndarray] = {}
    if "tickets" in raw.behaviour_tables and "tickets" in raw.tables:
        tk = raw.tables["tickets"]
        opened = month_index_of_ns(utc_ns(tk["opened_at"]))
        lo = np.maximum(opened + 1, month_index_of_ns(utc_ns(tk["known_at"])) + 1)
        out["num_support_tickets_3m"] = grid.range_sum(b.codes(tk, "tickets"), lo, opened + 3).astype(float)
    else:
        out["num_support_tickets_3m"] = np.full(grid.n, np.nan)
    if "payments" in raw.behaviour_tables and "payments" in raw.tables:
        pay = raw.tables["payments"]
        pay = pay[pay["paid_late"].to_numpy(dtype=bool)]
        pp = _period_index(pay["period_month"])
        lo = np.maximum(pp + 1, month_index_of_ns(utc_ns(pay["known_at"])) + 1)
        out["num_late_payments_6m"] = grid.range_sum(b.codes(pay, "payments"), lo, pp + 6).astype(float)
    else:
        out["num_late_payments_6m"] = np.full(grid.n, np.nan)
    return out


@dataclass
class _Readings:
    """A metered table's records, their customers and months, read once for all the aggregates declared on it."""

    table: pd.DataFrame
    cust: np.ndarray
    at: np.ndarray
    known: np.ndarray
    p: np.ndarray  # the month of each reading
    lo: np.ndarray  # the first snapshot month that may see it
    reach: dict[int, tuple[np.ndarray, np.ndarray]]  # window length → (record, row) pairs

    @classmethod
    def of(cls, b: _Build, table: pd.DataFrame, name: str) -> _Readings:
        at, known = utc_ns(table["at"]), utc_ns(table["known_at"])
        p = month_index_of_ns(at)
        lo = np.maximum(p + 1, month_index_of_ns(known) + 1)
        return cls(table, b.codes(table, name), at, known, p, lo, {})

    def pairs(self, grid: _Grid, months: int) -> tuple[np.ndarray, np.ndarray]:
        if months not in self.reach:
            self.reach[months] = grid.pairs(self.cust, self.lo, self.p + months)
        return self.reach[months]


def _aggregate(b: _Build, r: _Readings, d: Declared) -> np.ndarray:
    """One declared aggregate at every snapshot: the readings of the ``months`` whole months before T, known by T.

    A reading of month p known at K reaches the snapshots T in [max(p + 1, month(K) + 1), p + months], the
    invoices' rule. Count and sum are 0 where no reading falls in the window; mean, max, last and trend are null.
    """
    grid = b.grid
    n = grid.n
    if r.table.empty:
        return np.zeros(n) if d.aggregate in ("count", "sum") else np.full(n, np.nan)
    assert d.months is not None
    record, row = r.pairs(grid, int(d.months))
    count = np.bincount(row, minlength=n).astype(np.float64)
    if d.aggregate == "count":
        return count
    if not len(row):  # readings, but none reaches a snapshot
        return np.zeros(n) if d.aggregate == "sum" else np.full(n, np.nan)
    v = r.table[d.column].to_numpy(dtype=np.float64)[record]
    empty = count == 0
    if d.aggregate == "sum":
        return np.bincount(row, v, minlength=n)
    if d.aggregate == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(empty, np.nan, np.bincount(row, v, minlength=n) / np.maximum(count, 1))
    if d.aggregate == "max":
        out = np.full(n, -np.inf)
        np.maximum.at(out, row, v)
        return np.where(empty, np.nan, out)
    if d.aggregate == "last":  # the latest reading by (at, known_at), as the reference's sort
        order = np.lexsort((r.known[record], r.at[record], row))
        ends = np.flatnonzero(np.append(np.diff(row[order]) != 0, True))
        out = np.full(n, np.nan)
        out[row[order][ends]] = v[order][ends]
        return out
    x = (r.p[record] - b.first).astype(np.float64)  # trend: least-squares slope per month, null under two months
    sx, sy = np.bincount(row, x, minlength=n), np.bincount(row, v, minlength=n)
    sxx, sxy = np.bincount(row, x * x, minlength=n), np.bincount(row, x * v, minlength=n)
    denom = count * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (count * sxy - sx * sy) / np.where(denom > 0, denom, 1)
    return np.where((count >= 2) & (denom > 1e-9), slope, np.nan)


def _declared_features(b: _Build, raw: RawData, features: FeatureSet) -> dict[str, np.ndarray]:
    """The deployment's declared features: attributes held from signup, aggregates over metered tables."""
    out: dict[str, np.ndarray] = {}
    customers = raw.tables["customers"]
    readings: dict[str, _Readings] = {}
    for d in features.declared:
        if d.kind == "attribute":
            if d.name not in customers:
                raise InputError(f"customers.{d.name}: the declared attribute is not in the raw data — ingest again")
            out[d.name] = customers[d.name].to_numpy()[b.grid.cust]
            continue
        name = f"{METERED_PREFIX}{d.table}"
        table = raw.tables.get(name)
        if table is None:
            raise InputError(f"{name}: the metered table of {d.name} is not in the raw data — ingest again")
        if name not in readings:
            readings[name] = _Readings.of(b, table, name)
        out[d.name] = _aggregate(b, readings[name], d)
    return out


def _frames(b: _Build, out: dict[str, np.ndarray], declared: FeatureSet) -> Snapshots:
    """The snapshot rows (typed, sorted by month then customer) and the labels of the months already observed."""
    c, t = b.grid.cust, b.grid.t
    event_ts = pd.to_datetime(month_starts_ns(t), utc=True)
    month_labels = np.array([month_label(i) for i in range(b.first, b.last + 1)], dtype=object)
    frame = pd.DataFrame(
        {
            ENTITY: b.ids.to_numpy()[c],
            EVENT_TIMESTAMP: event_ts,
            CREATED_TIMESTAMP: event_ts,
            **{name: out[name] for name in FEATURE_NAMES},
            **{name: out[name] for name in TIMES_COLUMNS},
            **{name: out[name] for name in declared.declared_names},
            PARTITION: month_labels[t - b.first],
        }
    )
    for name in ("num_support_tickets_3m", "num_late_payments_6m", *(f.name for f in WINDOWED_FEATURES)):
        frame[name] = frame[name].astype("Int64")
    for d in declared.declared:  # counts of readings are nullable like the platform's; attributes never null
        dtype = {"int": "Int64" if d.kind == "aggregate" else "int64", "float": "float64", "bool": bool}
        frame[d.name] = frame[d.name].astype(dtype.get(d.feature.dtype, object))
    for name in ("tenure_months", "contract_remaining_months", "num_services_total"):
        frame[name] = frame[name].astype("int64")
    features = frame.sort_values([PARTITION, ENTITY], kind="stable", ignore_index=True)
    # Labels: churn before the end of the month that starts at T; only months fully observed.
    labelled = t < b.last
    labels = pd.DataFrame(
        {
            ENTITY: b.ids.to_numpy()[c[labelled]],
            EVENT_TIMESTAMP: event_ts[labelled],
            LABEL: (b.churn_at[c] < month_starts_ns(t + 1))[labelled].astype(np.int8),
        }
    ).sort_values([EVENT_TIMESTAMP, ENTITY], kind="stable", ignore_index=True)
    return Snapshots(features=features, labels=labels)


def build_snapshots(raw: RawData, progress: Callable[[str], None] | None = None) -> Snapshots:
    """Every active customer at every month start in the raw data's snapshot range, with labels."""
    say = progress or (lambda _name: None)
    b = _population(raw)
    say("grid")
    out = _state_features(b, raw)
    say("state")
    out.update(_billing_features(b, raw))
    say("billing")
    out.update(_behaviour_features(b, raw))
    out.update(fresh_features(b.grid, b.codes, raw.tables, raw.behaviour_tables))
    say("behaviour")
    declared = features_of(raw.manifest)
    out.update(_declared_features(b, raw, declared))
    snapshots = _frames(b, out, declared)
    say("labels")
    return snapshots
