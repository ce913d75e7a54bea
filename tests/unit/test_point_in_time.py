"""Point-in-time property: what became known after month T never changes a snapshot at or before T.

The snapshot of month T is taken at the start of T, so everything known at or
after that instant is invisible to it and to every earlier snapshot. Hypothesis
picks T and a set of edits to exactly that data: changed amounts, flipped
late-payment flags, deleted rows, and late records about earlier months
(tickets, churn events, service corrections that happened before T but were
recorded after it). Every snapshot at or before T must be unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn.raw import RawData
from churn.temporal import build_snapshots
from churn.timeutil import month_start, parse_month

EDITS = ("amounts", "delete_bills", "flip_late", "delete_tickets", "late_ticket", "late_churn", "late_change")


def _known_after(df: pd.DataFrame, cutoff: pd.Timestamp) -> np.ndarray:
    return (pd.to_datetime(df["known_at"], utc=True) >= cutoff).to_numpy()


def mutate(raw: RawData, month: str, edits: set[str], seed: int) -> RawData:
    """Edit only what was known at or after the snapshot instant of ``month`` (the start of that month)."""
    rng = np.random.default_rng(seed)
    cutoff = month_start(parse_month(month))
    t = {name: df.copy() for name, df in raw.tables.items()}
    ids = t["customers"]["customer_id"].astype(str).to_numpy()
    before = cutoff - pd.Timedelta(days=20)
    late = cutoff + pd.Timedelta(days=3)

    if "amounts" in edits:
        mask = _known_after(t["billing"], cutoff)
        t["billing"].loc[mask, "amount"] = t["billing"].loc[mask, "amount"] * rng.uniform(0.5, 2.0, mask.sum())
    if "delete_bills" in edits:
        mask = _known_after(t["billing"], cutoff) & (rng.random(len(t["billing"])) < 0.3)
        t["billing"] = t["billing"][~mask]
    if "flip_late" in edits:
        mask = _known_after(t["payments"], cutoff)
        t["payments"].loc[mask, "paid_late"] = ~t["payments"].loc[mask, "paid_late"].astype(bool)
    if "delete_tickets" in edits:
        mask = _known_after(t["tickets"], cutoff) & (rng.random(len(t["tickets"])) < 0.5)
        t["tickets"] = t["tickets"][~mask]
    if "late_ticket" in edits:
        who = rng.choice(ids, size=20)
        extra = pd.DataFrame(
            {"customer_id": who, "ticket_id": [f"LATE{i}" for i in range(20)], "opened_at": before, "known_at": late}
        )
        t["tickets"] = pd.concat([t["tickets"].astype({"customer_id": str}), extra], ignore_index=True)
    if "late_churn" in edits:
        active = np.setdiff1d(ids, t["churn_events"]["customer_id"].astype(str).to_numpy())
        who = rng.choice(active, size=min(5, len(active)), replace=False)
        extra = pd.DataFrame({"customer_id": who, "churned_at": before, "known_at": late})
        t["churn_events"] = pd.concat([t["churn_events"].astype({"customer_id": str}), extra], ignore_index=True)
    if "late_change" in edits:
        sc = t["service_changes"].astype({"customer_id": str})
        last = sc.groupby("customer_id").tail(1).sample(n=10, random_state=seed).copy()
        last["effective_at"] = before
        last["known_at"] = late
        last["contract"] = "Two year"
        last["contract_start"] = before
        last["payment_method"] = "Mailed check"
        t["service_changes"] = pd.concat([sc, last], ignore_index=True)
    return RawData(tables=t, manifest=raw.manifest)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    month_offset=st.integers(min_value=0, max_value=7),
    edits=st.sets(st.sampled_from(EDITS), min_size=1),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_later_knowledge_never_changes_earlier_snapshots(small_raw, small_snapshots, month_offset, edits, seed):
    first = parse_month(small_raw.first_snapshot_month)
    month = pd.Period(ordinal=first + month_offset, freq="M").strftime("%Y-%m")
    changed = build_snapshots(mutate(small_raw, month, edits, seed)).features
    original = small_snapshots.features
    keep_o = original[original.snapshot_month <= month].reset_index(drop=True)
    keep_c = changed[changed.snapshot_month <= month].reset_index(drop=True)
    pd.testing.assert_frame_equal(keep_o, keep_c)


def test_the_edits_do_reach_later_snapshots(small_raw, small_snapshots):
    """Guard against a vacuous property: the same edits change the snapshots after T."""
    first = parse_month(small_raw.first_snapshot_month)
    month = pd.Period(ordinal=first + 3, freq="M").strftime("%Y-%m")
    changed = build_snapshots(mutate(small_raw, month, set(EDITS), seed=1)).features
    after_o = small_snapshots.features[small_snapshots.features.snapshot_month > month].reset_index(drop=True)
    after_c = changed[changed.snapshot_month > month].reset_index(drop=True)
    assert not after_o.equals(after_c)
    for name in ("monthly_charges", "num_support_tickets_3m", "num_late_payments_6m", "contract_type"):
        merged = after_o.merge(after_c, on=["customer_id", "snapshot_month"], suffixes=("_o", "_c"))
        assert (merged[f"{name}_o"].astype(str) != merged[f"{name}_c"].astype(str)).any(), name
    # Late churn removes customers from later snapshots.
    assert len(after_c) < len(after_o)


def test_editing_what_was_known_before_t_does_change_t(small_raw, small_snapshots):
    first = parse_month(small_raw.first_snapshot_month)
    month = pd.Period(ordinal=first + 3, freq="M").strftime("%Y-%m")
    raw = RawData(tables={k: v.copy() for k, v in small_raw.tables.items()}, manifest=small_raw.manifest)
    known_before = ~_known_after(raw.tables["billing"], month_start(parse_month(month)))
    raw.tables["billing"].loc[known_before, "amount"] += 1.0
    changed = build_snapshots(raw).features
    at = small_snapshots.features.snapshot_month == month
    assert not np.allclose(
        small_snapshots.features.loc[at, "total_charges_to_date"].to_numpy(),
        changed.loc[changed.snapshot_month == month, "total_charges_to_date"].to_numpy(),
    )
