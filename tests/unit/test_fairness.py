"""The fairness audit: rates and gaps per group with intervals, the four-fifths rule, the calibration rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn.errors import InputError
from training.fairness import audit, check_protected


def test_rates_per_group_and_both_rules_warn_by_name() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    group = np.where(np.arange(n) < n // 2, "A", "B")
    p = np.full(n, 0.10)
    y = (rng.random(n) < np.where(group == "A", 0.10, 0.25)).astype(int)  # B churns far more than predicted
    selected = (rng.random(n) < np.where(group == "A", 0.30, 0.12)).astype(int)  # B is offered far less
    cost = np.where(group == "A", 20.0, 5.0)
    out = audit(pd.DataFrame({"segment": group}), selected, cost, ["segment"], y, p, n_boot=60, seed=1)
    groups = out["attributes"]["segment"]["groups"]
    assert groups["A"]["customers"] == groups["B"]["customers"] == n // 2
    assert groups["A"]["selection_rate"] == pytest.approx(selected[group == "A"].mean())
    assert groups["B"]["mean_offer_value"] == 5.0 and groups["A"]["mean_offer_value"] == 20.0
    churners_b = (group == "B") & (y == 1)
    assert groups["B"]["missed_churners"] == pytest.approx(1 - selected[churners_b].mean())
    lo, hi = groups["B"]["selection_rate_ci95"]
    assert lo < groups["B"]["selection_rate"] < hi
    ratio = out["attributes"]["segment"]["selection_ratio"]
    assert ratio == pytest.approx(groups["B"]["selection_rate"] / groups["A"]["selection_rate"])
    assert any(w.startswith(f"segment: selection rate ratio {ratio:.2f}") for w in out["warnings"])
    differs = [w for w in out["warnings"] if w.startswith("segment: calibration differs between groups")]
    assert len(differs) == 1 and "for B against" in differs[0] and differs[0].endswith("for A, 95% intervals apart")
    # a model miscalibrated for everyone alike raises no fairness warning: only a difference between groups does
    same = (rng.random(n) < 0.10).astype(int)
    alike = audit(pd.DataFrame({"segment": group}), selected, cost, ["segment"], same, np.full(n, 0.30), n_boot=60)
    assert not any("calibration" in w for w in alike["warnings"])
    assert all(r["calibration_gap_ci95"][1] < 0 for r in alike["attributes"]["segment"]["groups"].values())


def test_an_even_plan_without_outcomes_raises_nothing() -> None:
    # almost nobody selected: a ratio of noise, no warning
    few = np.zeros(4000, dtype=int)
    few[[3, 10, 2500]] = 1
    sparse = audit(pd.DataFrame({"g": np.where(np.arange(4000) < 2000, "A", "B")}), few, np.full(4000, 10.0), ["g"],
                   n_boot=40)  # fmt: skip
    assert sparse["attributes"]["g"]["selection_ratio"] == 0.5 and sparse["warnings"] == []
    rng = np.random.default_rng(4)
    n = 3000
    frame = pd.DataFrame({"gender": rng.choice(["Female", "Male"], n)})
    out = audit(frame, rng.random(n) < 0.2, np.full(n, 10.0), ["gender", "senior_citizen"], n_boot=40)
    assert set(out["attributes"]) == {"gender"} and out["warnings"] == []
    assert "calibration_gap" not in out["attributes"]["gender"]["groups"]["Male"]


def test_a_protected_attribute_must_be_a_declared_feature() -> None:
    assert check_protected(["gender", "senior_citizen"]) == ("gender", "senior_citizen")
    with pytest.raises(InputError, match=r"\['favourite_colour'\] are not declared features"):
        check_protected(["gender", "favourite_colour"])


def test_group_measures_equal_fairlearns_metric_frame() -> None:
    """The audit computes each group's measures itself (fairlearn's per-row loop cost 8 s per attribute); they are
    the values fairlearn's MetricFrame gives for the same functions and rows."""
    from fairlearn.metrics import MetricFrame

    from training import fairness

    rng = np.random.default_rng(5)
    n = 3000
    group = rng.choice(["F", "M", "X"], n, p=[0.5, 0.45, 0.05])
    p = rng.uniform(0.01, 0.6, n)
    y = (rng.random(n) < p).astype(int)
    selected = (rng.random(n) < 0.2).astype(int)
    cost = rng.choice([5.0, 20.0, 50.0], n)
    out = audit(pd.DataFrame({"segment": group}), selected, cost, ["segment"], y, p, n_boot=20, seed=2)
    metrics = {"selection_rate": fairness._selection_rate, "mean_offer_value": fairness._mean_offer_value,
               "missed_churners": fairness._missed_churners, "calibration_gap": fairness._calibration_gap,
               "ece": fairness._ece}  # fmt: skip
    params = {"mean_offer_value": {"cost": cost}, "calibration_gap": {"prob": p}, "ece": {"prob": p}}
    frame = MetricFrame(metrics=metrics, y_true=y, y_pred=selected, sensitive_features=group, sample_params=params)
    groups = out["attributes"]["segment"]["groups"]
    assert sorted(groups) == sorted(frame.by_group.index)
    for g, row in groups.items():
        for metric in metrics:
            assert row[metric] == pytest.approx(float(frame.by_group.loc[g, metric]), rel=1e-12), (g, metric)
