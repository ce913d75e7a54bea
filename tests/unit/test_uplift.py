"""Uplift: the Qini coefficient and the T-learner that learns who responds from randomised campaigns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn.errors import InputError
from churn.uplift_metrics import qini, qini_curve
from training.encoding import FeatureEncoder
from training.uplift import MIN_TREATED, fit_uplift


def test_the_qini_curve_counts_the_churners_a_ranking_prevents() -> None:
    # ranked a, b, c, d: a treated stayer, a control churner, a treated churner, a control stayer
    score = np.array([4.0, 3.0, 2.0, 1.0])
    treated = np.array([True, False, True, False])
    churned = np.array([False, True, True, False])
    x, g = qini_curve(score, treated, churned)
    assert x.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert g.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]
    assert qini(score, treated, churned) == pytest.approx(0.5 / 4)
    # reversed: d, c, b, a gives g = 0, 0, -1, -0.5, 0 (the control's rate is scaled to the treated count so far)
    assert qini_curve(-score, treated, churned)[1].tolist() == [0.0, 0.0, -1.0, -0.5, 0.0]
    assert qini(-score, treated, churned) == pytest.approx(-0.375 / 4)


def _campaign(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A randomised campaign where the action helps high-charge customers, harms long-tenure ones, and the
    control's churn depends on tenure alone."""
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(0, 72, n)
    charges = rng.uniform(20, 120, n)
    base = 0.25 - 0.002 * tenure
    effect = np.where(charges > 80, 0.12, 0.0) - np.where(tenure > 60, 0.06, 0.0)  # churn prevented
    arm = np.where(rng.random(n) < 0.3, "control", "treated")
    p = np.where(arm == "treated", base - effect, base)
    frame = pd.DataFrame({"tenure_months": tenure, "monthly_charges": charges, "arm": arm, "action": "discount",
                          "churned": rng.random(n) < p})  # fmt: skip
    return frame, effect


ENCODER = FeatureEncoder(features=("tenure_months", "monthly_charges"), categories={})


def test_the_t_learner_finds_whom_an_action_helps_and_whom_it_harms() -> None:
    train, _ = _campaign(30_000, 1)
    test, effect = _campaign(20_000, 2)
    model = fit_uplift(train, ENCODER, seed=3)
    assert model.actions == ("discount",) and not model.skipped
    learned = model.uplift(test)["uplift_discount"].to_numpy()
    treated = (test["arm"] == "treated").to_numpy()
    y = test["churned"].to_numpy()
    q_learned, q_true = qini(learned, treated, y), qini(effect, treated, y)
    assert q_true > 0.01
    assert q_learned >= 0.7 * q_true
    assert qini(np.random.default_rng(4).random(len(y)), treated, y) < 0.3 * q_true
    # the segments come out in the right order: helped > untouched > harmed
    helped, harmed = effect > 0.1, effect < 0
    assert learned[helped].mean() > learned[~helped & ~harmed].mean() > learned[harmed].mean()


def test_an_action_with_too_few_treated_customers_is_not_learned_and_says_why() -> None:
    frame, _ = _campaign(20_000, 5)
    few = frame[(frame["arm"] == "control") | (frame.index < 2 * MIN_TREATED // 3)]
    rare = frame.assign(action=np.where(frame.index < 300, "loyalty_call", "discount"))
    model = fit_uplift(rare, ENCODER, seed=1)
    assert model.actions == ("discount",)
    treated_calls = int(((rare["action"] == "loyalty_call") & (rare["arm"] == "treated")).sum())
    assert model.skipped["loyalty_call"].startswith(f"{treated_calls} treated customers")
    with pytest.raises(InputError, match="control group has 0 customers"):
        fit_uplift(frame[frame["arm"] == "treated"], ENCODER, seed=1)
    assert fit_uplift(few, ENCODER, seed=1).actions == ()


def test_inverse_propensity_recovers_a_policy_never_run_from_randomised_logs() -> None:
    from churn.off_policy import policy_value

    rng = np.random.default_rng(11)
    n = 40_000
    p = np.array([0.2, 0.5, 0.3])  # none, call, discount
    logged = np.asarray(["none", "call", "discount"], dtype=object)[rng.choice(3, n, p=p)]
    probability = np.select([logged == "none", logged == "call"], [p[0], p[1]], p[2])
    high = rng.random(n) < 0.5  # the discount pays for half of the customers, the call for the other half
    mean = np.select([logged == "none", logged == "call"], [0.0, np.where(high, 0.5, 2.0)], np.where(high, 3.0, -1.0))
    reward = mean + rng.normal(0, 1, n)
    best = np.where(high, "discount", "call").astype(object)
    out = policy_value(logged, probability, reward, best)
    truth = 0.5 * 3.0 + 0.5 * 2.0
    low, up = out["value_ci95"]
    assert low < truth < up and up - low < 0.2
    assert out["self_normalised"] == pytest.approx(truth, abs=0.1) and out["support"] == 1.0
    # the logs' own value, and a partial support reported as such
    everyone_call = policy_value(logged, probability, reward, np.full(n, "call", dtype=object))
    assert everyone_call["value"] == pytest.approx(1.25, abs=0.1)
    half = policy_value(logged, probability, reward, best, supported=high)
    assert half["support"] == pytest.approx(0.5, abs=0.01) and half["value"] == pytest.approx(3.0, abs=0.15)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        policy_value(logged, np.zeros(n), reward, best)
