"""The straightforward per-snapshot builder: filter what was known before T, then compute.

Slow (a pass over the raw data per snapshot month) and obviously correct. It is
the twin the vectorised builder is checked against in tests and in
``churn validate`` (on a sample of customers), and the benchmark's baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churn.declared import METERED_PREFIX, Declared, features_of
from churn.fresh import encode_times, window_records
from churn.labels import labels_of
from churn.raw import RawData
from churn.schema import (
    ADDON_SERVICES,
    ENTITY,
    EVENT_TIMESTAMP,
    FEATURE_NAMES,
    PARTITION,
    TIMES_COLUMNS,
    WINDOWED_FEATURES,
    Feature,
)
from churn.timeutil import month_index_of, month_label, month_start, parse_month


def _months_between(since: pd.Timestamp, t: pd.Timestamp) -> int:
    months = (t.year - since.year) * 12 + (t.month - since.month)
    if (since.day, since.hour, since.minute, since.second, since.microsecond, since.nanosecond) != (1, 0, 0, 0, 0, 0):
        months -= 1
    return months


def _utc(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    df = df.copy()
    for col in cols:
        df[col] = pd.to_datetime(df[col], utc=True)
    df["customer_id"] = df["customer_id"].astype(str)
    return df


def _window(records: pd.DataFrame | None, cid: str, ts: pd.Timestamp, feature: Feature) -> tuple[Any, Any]:
    """One row's windowed count and its times, filtered the plain way."""
    if records is None or feature.window is None:
        return np.nan, None
    t_ms = ts.value // 1_000_000
    low = (ts - pd.Timedelta(days=feature.window.days)).value // 1_000_000
    mine = records[(records.customer_id == cid) & (records.known_ms < t_ms) & (records.at_ms < t_ms)]
    mine = mine[mine.at_ms >= low]
    return len(mine), encode_times(mine.at_ms)


def _declared_value(d: Declared, cust: pd.Series, readings: pd.DataFrame | None, cid: str, ts: Any, m: int) -> Any:
    """One declared feature at one snapshot, the plain way: the customer's row, or the readings of the window."""
    if d.kind == "attribute":
        return cust[d.name]
    assert readings is not None and d.months is not None
    mine = readings[(readings.customer_id == cid) & (readings.known_at < ts) & (readings.period < m)]
    mine = mine[mine.period >= m - d.months].sort_values(["at", "known_at"])
    if d.aggregate == "count":
        return len(mine)
    values = mine[d.column].to_numpy(dtype=float)
    if d.aggregate == "sum":
        return float(values.sum())
    if not len(values):
        return np.nan
    if d.aggregate == "mean":
        return float(values.mean())
    if d.aggregate == "max":
        return float(values.max())
    if d.aggregate == "last":
        return float(values[-1])
    if mine.period.nunique() < 2:
        return np.nan
    return float(np.polyfit(mine.period.to_numpy(float), values, 1)[0])


def reference_snapshots(raw: RawData, customer_ids: list[str] | None = None) -> pd.DataFrame:
    """Snapshots for ``customer_ids`` (default: all), computed month by month from filtered raw data."""
    first = parse_month(raw.first_snapshot_month)
    last = parse_month(raw.last_snapshot_month)
    labels = labels_of(raw.manifest)
    t = raw.tables
    customers = _utc(t["customers"], ["signup_at", "known_at"])
    if customer_ids is not None:
        keep = set(customer_ids)
        customers = customers[customers.customer_id.isin(keep)]
    ids = set(customers.customer_id)

    def sub(name: str, cols: list[str]) -> pd.DataFrame:
        df = _utc(t[name], cols)
        return df[df.customer_id.isin(ids)]

    changes = sub("service_changes", ["effective_at", "known_at", "contract_start"])
    bills = sub("billing", ["billed_at", "known_at"])
    bills["period"] = [parse_month(str(p)) for p in bills.period_month]
    behaviour = raw.behaviour_tables
    tickets = sub("tickets", ["opened_at", "known_at"]) if "tickets" in behaviour else None
    pays = sub("payments", ["due_at", "known_at"]) if "payments" in behaviour else None
    if pays is not None:
        pays["period"] = [parse_month(str(p)) for p in pays.period_month]

    # is_high_value needs every active customer's charges, so it is computed over the full population.
    all_bills = _utc(t["billing"], ["billed_at", "known_at"])
    all_bills["period"] = [parse_month(str(p)) for p in all_bills.period_month]
    all_customers = _utc(t["customers"], ["signup_at", "known_at"])
    all_churn = _utc(t["churn_events"], ["churned_at", "known_at"]) if "churn_events" in t else None

    declared = features_of(raw.manifest)
    metered = {
        d.table: sub(f"{METERED_PREFIX}{d.table}", ["at", "known_at"]) for d in declared.declared if d.table is not None
    }
    for table in metered.values():
        table["period"] = [month_index_of(x) for x in table["at"]]
    windowed = {
        f.name: window_records(t, f) if f.window is not None and f.window.table in behaviour else None
        for f in WINDOWED_FEATURES
    }
    rows = []
    for m in range(first, last + 1):
        ts = month_start(m)
        known_churn = all_churn[all_churn.known_at < ts].customer_id if all_churn is not None else []
        active_all = all_customers[
            (all_customers.signup_at < ts)
            & (all_customers.known_at < ts)
            & ~all_customers.customer_id.isin(known_churn)
        ].customer_id
        kb = all_bills[(all_bills.known_at < ts) & (all_bills.period < m) & all_bills.customer_id.isin(active_all)]
        latest = kb.sort_values(["period", "known_at"]).groupby("customer_id").amount.last()
        q75 = latest.quantile(0.75) if len(latest) else np.inf
        active = [c for c in customers.customer_id if c in set(active_all)]
        for cid in active:
            cust = customers[customers.customer_id == cid].iloc[0]
            ch = changes[(changes.customer_id == cid) & (changes.known_at < ts) & (changes.effective_at < ts)]
            state = ch.sort_values(["effective_at", "known_at"]).iloc[-1]
            b = bills[(bills.customer_id == cid) & (bills.known_at < ts) & (bills.period < m)]
            b = b.sort_values(["period", "known_at"])
            b3 = b[b.period >= m - 3]
            b6 = b[b.period >= m - 6]
            if len(b6) >= 2 and b6.period.nunique() > 1:
                trend = float(np.polyfit(b6.period.to_numpy(float), b6.amount.to_numpy(float), 1)[0])
            else:
                trend = np.nan
            monthly = float(b.amount.iloc[-1]) if len(b) else np.nan
            term = labels.contract_terms[str(state.contract)]
            since = max(_months_between(state.contract_start, ts), 0)
            internet = str(state.internet_service) != "No"
            addons = sum(bool(state[a]) for a in ADDON_SERVICES) if internet else 0
            row = {
                ENTITY: cid,
                EVENT_TIMESTAMP: ts,
                "tenure_months": _months_between(cust.signup_at, ts),
                "contract_type": str(state.contract),
                "contract_remaining_months": term - since % term if term else 0,
                "num_services_total": int(bool(state.phone_service))
                + int(bool(state.multiple_lines) and bool(state.phone_service))
                + int(internet)
                + addons,
                "has_fiber_optic": str(state.internet_service) == "Fiber optic",
                "payment_method": str(state.payment_method),
                "paperless_billing": bool(state.paperless_billing),
                "gender": str(cust.gender),
                "senior_citizen": bool(cust.senior_citizen),
                "partner": bool(cust.partner),
                "dependents": bool(cust.dependents),
                "monthly_charges": monthly,
                "avg_monthly_charges_3m": float(b3.amount.mean()) if len(b3) else np.nan,
                "charges_trend_6m": trend,
                "total_charges_to_date": float(b.amount.sum()),
                "is_high_value": bool(monthly >= q75) if not np.isnan(monthly) else False,
                "num_support_tickets_3m": np.nan,
                "num_late_payments_6m": np.nan,
            }
            if tickets is not None:
                tk = tickets[(tickets.customer_id == cid) & (tickets.known_at < ts) & (tickets.opened_at < ts)]
                row["num_support_tickets_3m"] = int((tk.opened_at >= month_start(m - 3)).sum())
            if pays is not None:
                pk = pays[(pays.customer_id == cid) & (pays.known_at < ts) & (pays.period < m)]
                row["num_late_payments_6m"] = int(pk[(pk.period >= m - 6)].paid_late.sum())
            for feature in WINDOWED_FEATURES:
                row[feature.name], row[feature.times_column] = _window(windowed[feature.name], cid, ts, feature)
            for d in declared.declared:
                row[d.name] = _declared_value(d, cust, metered.get(d.table or ""), cid, ts, m)
            row[PARTITION] = month_label(m)
            rows.append(row)
    columns = [ENTITY, EVENT_TIMESTAMP, *FEATURE_NAMES, *TIMES_COLUMNS, *declared.declared_names, PARTITION]
    return pd.DataFrame(rows, columns=columns)
