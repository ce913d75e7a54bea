"""Simulator: reproducibility, prefix stability, a fair oracle, stationarity and scenarios."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn.errors import InputError
from churn.hazard import HazardCoefficients, hazard
from churn.raw import save_raw
from churn.simulate import SimulationConfig, simulate
from churn.temporal import build_snapshots
from tests.conftest import SMALL


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    save_raw(simulate(SMALL), tmp_path / "a")
    save_raw(simulate(SMALL), tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    save_raw(simulate(replace(SMALL, seed=SMALL.seed + 1)), tmp_path / "c")
    assert _digests(tmp_path / "a")["billing.parquet"] != _digests(tmp_path / "c")["billing.parquet"]


def test_fewer_months_is_an_exact_prefix() -> None:
    short = simulate(replace(SMALL, months=4, drift_start="2023-06"))
    long = simulate(replace(SMALL, months=8, drift_start="2023-06"))
    end = pd.Timestamp("2023-05-01", tz="UTC")
    for name, time_col in {
        "customers": "signup_at",
        "service_changes": "effective_at",
        "billing": "billed_at",
        "payments": "due_at",
        "tickets": "opened_at",
        "churn_events": "churned_at",
    }.items():
        a = short.tables[name].astype({"customer_id": str})
        b = long.tables[name].astype({"customer_id": str})
        for df in (a, b):
            for col in df.columns:
                if isinstance(df[col].dtype, pd.CategoricalDtype):
                    df[col] = df[col].astype(str)
        a = a[a[time_col] < end].reset_index(drop=True)
        b = b[b[time_col] < end].reset_index(drop=True)
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(a, b, obj=name)
    oa = short.oracle.astype(str)
    ob = long.oracle.astype(str)
    pd.testing.assert_frame_equal(oa, ob[ob.snapshot_month < "2023-05"].reset_index(drop=True))


def test_oracle_is_a_function_of_snapshot_features(small_raw, small_snapshots) -> None:
    """The hazard uses only what the snapshot holds: recomputing it from built snapshots gives it back."""
    oracle = small_raw.oracle.astype({"customer_id": str, "snapshot_month": str})
    merged = small_snapshots.features.merge(oracle, on=["customer_id", "snapshot_month"], how="inner")
    assert len(merged) == len(oracle) > 2000
    np.testing.assert_allclose(hazard(merged, HazardCoefficients()), merged["hazard"], rtol=0, atol=1e-12)


def test_the_hazard_reads_categories_as_codes_or_as_labels_alike(small_snapshots) -> None:
    """The simulator hands contract and payment over as codes; the builder's frames hold labels. Same hazard, and a
    label missing from the categories matches nothing."""
    frame = small_snapshots.features.head(3000)
    assert {"Month-to-month", "One year", "Two year"} <= set(frame["contract_type"])
    coded = {name: frame[name].to_numpy() for name in frame.columns}
    for name in ("contract_type", "payment_method"):
        coded[name] = pd.Categorical(frame[name])
    np.testing.assert_array_equal(hazard(coded, HazardCoefficients()), hazard(frame, HazardCoefficients()))
    no_checks = dict(coded, payment_method=pd.Categorical(["Mailed check"] * len(frame)))
    labels = dict(coded, payment_method=np.full(len(frame), "Mailed check", dtype=object))
    np.testing.assert_array_equal(hazard(no_checks, HazardCoefficients()), hazard(labels, HazardCoefficients()))


def test_oracle_hazard_matches_realised_churn() -> None:
    raw = simulate(SimulationConfig(customers=4000, months=12, seed=11))
    snaps = build_snapshots(raw)
    oracle = raw.oracle.astype({"customer_id": str, "snapshot_month": str})
    labels = snaps.labels.assign(snapshot_month=snaps.labels.event_timestamp.dt.strftime("%Y-%m"))
    merged = labels.merge(oracle, on=["customer_id", "snapshot_month"])
    assert len(merged) == len(labels)
    h = merged["hazard"].to_numpy()
    se = np.sqrt(np.sum(h * (1 - h))) / len(h)
    assert abs(merged["churned"].mean() - h.mean()) < 4 * se
    # and per hazard decile: the realised rate follows the hazard
    merged["decile"] = pd.qcut(merged["hazard"], 10, labels=False)
    by = merged.groupby("decile").agg(rate=("churned", "mean"), hz=("hazard", "mean"), n=("churned", "size"))
    tol = 4 * np.sqrt(by.hz * (1 - by.hz) / by.n)
    assert ((by.rate - by.hz).abs() < tol).all()
    assert 0.015 <= h.mean() <= 0.03


def test_stable_population_does_not_drift_by_itself() -> None:
    raw = simulate(SimulationConfig(customers=6000, months=24, seed=5))
    f = build_snapshots(raw).features
    first, last = f[f.snapshot_month == "2023-01"], f[f.snapshot_month == "2024-12"]
    assert abs(len(last) / len(first) - 1) < 0.05
    for name in ("tenure_months", "monthly_charges", "num_support_tickets_3m", "num_services_total"):
        a, b = first[name].astype(float).mean(), last[name].astype(float).mean()
        assert abs(b / a - 1) < 0.08, (name, a, b)
    for value in ("Month-to-month", "Two year"):
        a = (first.contract_type == value).mean()
        b = (last.contract_type == value).mean()
        assert abs(b - a) < 0.03, (value, a, b)
    h = raw.oracle.groupby("snapshot_month", observed=True).hazard.mean()
    assert abs(h.iloc[-3:].mean() / h.iloc[:3].mean() - 1) < 0.05


@pytest.fixture(scope="module")
def scenario_months() -> dict[str, pd.DataFrame]:
    out = {}
    for scenario in ("stable", "price_shock", "service_outage", "concept_drift"):
        cfg = SimulationConfig(customers=3000, months=9, seed=3, scenario=scenario, drift_start="2023-06")
        raw = simulate(cfg)
        feats = build_snapshots(raw).features
        out[scenario] = feats
        out[scenario + ":oracle"] = raw.oracle.astype({"snapshot_month": str, "customer_id": str})
    return out


def test_price_shock_raises_charges_from_drift_start(scenario_months) -> None:
    base, shock = scenario_months["stable"], scenario_months["price_shock"]
    mean = lambda df, m: df[df.snapshot_month == m].monthly_charges.mean()  # noqa: E731
    assert mean(shock, "2023-06") == pytest.approx(mean(base, "2023-06"))
    assert mean(shock, "2023-07") > 1.12 * mean(base, "2023-07")


def test_outage_raises_tickets_of_fiber_customers(scenario_months) -> None:
    base, outage = scenario_months["stable"], scenario_months["service_outage"]

    def tickets(df: pd.DataFrame, month: str) -> float:
        rows = df[(df.snapshot_month == month) & df.has_fiber_optic]
        return float(rows.num_support_tickets_3m.astype(float).mean())

    assert tickets(outage, "2023-06") == pytest.approx(tickets(base, "2023-06"))
    # two outage months (06, 07) known by 08's snapshot, +1.5 tickets each per fiber customer (a few arrive late)
    assert 2.4 < tickets(outage, "2023-08") - tickets(base, "2023-08") < 3.2


def test_concept_drift_changes_the_hazard_not_the_customers(scenario_months) -> None:
    base, drift = scenario_months["stable"], scenario_months["concept_drift"]
    before = base[base.snapshot_month < "2023-06"].reset_index(drop=True)
    pd.testing.assert_frame_equal(before, drift[drift.snapshot_month < "2023-06"].reset_index(drop=True))
    oracle = scenario_months["concept_drift:oracle"]
    merged = drift.merge(oracle, on=["customer_id", "snapshot_month"])
    after = merged[merged.snapshot_month >= "2023-06"]
    np.testing.assert_allclose(hazard(after, HazardCoefficients().drifted(1.0)), after.hazard, atol=1e-12)
    assert not np.allclose(hazard(after, HazardCoefficients()), after.hazard)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0}, "customers: must be at least 1"),
        ({"months": 0}, "months: must be at least 1"),
        ({"scenario": "meteor"}, "scenario: must be one of"),
        ({"start": "2023-13"}, "start: expected a month"),
        ({"drift_start": "soon"}, "drift_start: expected a month"),
    ],
)
def test_bad_configuration_names_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        SimulationConfig(**kwargs).validate()  # type: ignore[arg-type]
