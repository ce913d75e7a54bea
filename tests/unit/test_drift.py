"""Drift statistics: hand-computed PSI/KL, quiet on identical data, growing with the shift, categories and nulls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn.drift import binned_shares, concept_drift, feature_drift, kl_divergence, psi, score_shift
from churn.drift_thresholds import DriftThresholds


def test_psi_and_kl_match_a_hand_computation() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 50)
    cur = pd.Series(["a"] * 80 + ["b"] * 20)
    # bins: a, b, (missing); the empty missing bin gets epsilon in both windows and cancels
    expected_psi = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    expected_kl = 0.8 * np.log(0.8 / 0.5) + 0.2 * np.log(0.2 / 0.5)
    assert psi(ref, cur) == pytest.approx(expected_psi, rel=1e-3)
    assert kl_divergence(ref, cur) == pytest.approx(expected_kl, rel=1e-3)


def test_identical_windows_are_quiet_and_shifts_grow() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=50_000)
    assert psi(ref, rng.normal(size=50_000)) < 0.005
    values = [psi(ref, rng.normal(loc=shift, size=50_000)) for shift in (0.1, 0.3, 0.6)]
    assert values == sorted(values) and values[-1] > 0.2 and values[0] < 0.1


def test_quantile_bins_collapse_for_discrete_features_and_nulls_are_a_bin() -> None:
    ref = pd.Series([0, 0, 0, 1, 1, 2] * 100, dtype="float64")
    r, c = binned_shares(ref, ref)
    assert (r > 1e-3).sum() == 3 and np.allclose(r, c)  # one bin per value, however many quantile edges repeat
    cur = ref.copy()
    cur[:300] = np.nan  # half the rows start arriving empty
    assert psi(ref, cur) > 0.2


def test_a_new_category_is_drift() -> None:
    ref = pd.Series(["DSL"] * 500 + ["Fiber optic"] * 500)
    cur = pd.Series(["DSL"] * 400 + ["Fiber optic"] * 400 + ["5G"] * 200)
    assert psi(ref, cur) > 0.2


def test_feature_table_levels_and_thresholds() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=20_000), "y": rng.normal(size=20_000), "flag": rng.random(20_000) < 0.3})
    cur = pd.DataFrame(
        {"x": rng.normal(loc=1.0, size=20_000), "y": rng.normal(size=20_000), "flag": rng.random(20_000) < 0.3}
    )
    table = feature_drift(ref, cur, ["x", "y", "flag"])
    assert table.loc["x", "level"] == "significant" and table.loc["y", "level"] == "none"
    assert table.loc["flag", "level"] == "none"
    strict = feature_drift(ref, cur, ["y"], DriftThresholds(psi_significant=0.0001, psi_moderate=0.00005))
    assert strict.loc["y", "level"] == "significant"


def test_score_shift_and_concept_drift_verdicts() -> None:
    rng = np.random.default_rng(2)
    ref = rng.beta(1, 30, 10_000)
    same = score_shift(ref, rng.beta(1, 30, 10_000))
    assert not same["flagged"] and abs(same["relative_change"]) < 0.05
    up = score_shift(ref, ref * 1.2)
    assert up["flagged"] and up["relative_change"] == pytest.approx(0.2)
    assert concept_drift(0.70, 0.80)["flagged"] and not concept_drift(0.75, 0.80)["flagged"]
    assert concept_drift(0.70, 0.80)["relative_drop"] == pytest.approx(0.125)


def test_a_count_mostly_zero_is_binned_by_value_so_a_spike_is_seen() -> None:
    # 92% zeros: every quantile edge is 0, so quantile bins would lump 0 with 1, 2, ... and see nothing
    ref = pd.Series([0] * 920 + [1] * 60 + [2] * 20)
    cur = pd.Series([0] * 600 + [1] * 250 + [2] * 100 + [3] * 50)
    r, c = binned_shares(ref, cur)
    assert len(r) == len(c) == 5  # 0, 1, 2, 3 (new in current) and missing
    assert psi(ref, cur) > 0.2
    # int in one window and float (nulls) in the other are the same values
    assert psi(ref, ref.astype(float)) == pytest.approx(0.0, abs=1e-9)


def test_calibration_drift_needs_both_a_large_z_and_a_large_miss() -> None:
    from churn.drift import calibration_drift

    p = np.full(10_000, 0.025)
    calm = calibration_drift(np.r_[np.ones(260), np.zeros(9_740)], p)  # 260 observed vs 250 expected
    assert calm["observed_churners"] == 260 and calm["expected_churners"] == pytest.approx(250.0)
    assert calm["z"] == pytest.approx(10 / np.sqrt(10_000 * 0.025 * 0.975)) and not calm["flagged"]
    loud = calibration_drift(np.r_[np.ones(500), np.zeros(9_500)], p)  # twice the expected
    assert loud["observed_to_expected"] == pytest.approx(2.0) and loud["flagged"]
    huge = np.full(4_000_000, 0.025)  # 3% over on four million rows: significant, but not a drift worth an alarm
    y = np.zeros(4_000_000)
    y[: int(4_000_000 * 0.025 * 1.03)] = 1
    assert calibration_drift(y, huge)["z"] > 4 and not calibration_drift(y, huge)["flagged"]


def test_matured_labels_stop_a_month_before_the_clock() -> None:
    from churn.offline import matured_labels
    from churn.timeutil import parse_month

    labels = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "event_timestamp": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"], utc=True),
            "label": [0, 1, 0],
        }
    )
    # at the start of 2024-03 the outcomes of January and February are known, March's is not
    assert matured_labels(labels, parse_month("2024-03")).customer_id.tolist() == ["a", "b"]
    assert matured_labels(labels, parse_month("2024-01")).empty


def test_evidently_judges_columns_with_our_psi_and_threshold() -> None:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from monitoring.evidently_psi import churn_psi_stattest

    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=4000), "b": rng.integers(0, 3, 4000).astype(float)})
    ref["c"] = rng.choice(["x", "y"], 4000)
    cur = ref.assign(a=ref["a"] + 0.8, c=rng.choice(["x", "y"], 4000, p=[0.8, 0.2]))
    t = DriftThresholds()
    preset = DataDriftPreset(
        columns=list(ref.columns), method=churn_psi_stattest(t), threshold=t.psi_significant, drift_share=0.5 / 3
    )
    values = {str(m["metric_name"]): m["value"] for m in Report([preset]).run(cur, ref).dict()["metrics"]}
    ours = feature_drift(ref, cur, list(ref.columns), t)
    for column in ref.columns:
        theirs = next(v for k, v in values.items() if k.startswith(f"ValueDrift(column={column},"))
        assert theirs == pytest.approx(ours.loc[column, "psi"], abs=1e-9)
    drifted = next(v for k, v in values.items() if k.startswith("DriftedColumnsCount"))
    assert drifted["count"] == (ours.level == "significant").sum() == 2  # a shifted mean and a new category mix
    assert churn_psi_stattest(t) is churn_psi_stattest(t)  # registered once
