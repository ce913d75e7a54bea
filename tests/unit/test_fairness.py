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
