"""The policy comparison on a hand-made population whose outcomes are known exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn.actions import load_catalogue
from churn.economics import default_clv
from churn.errors import InputError
from churn.policy import compare_policies, rule_score


def _population(n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    churned = rng.random(n) < 0.1
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "probability": np.where(churned, 0.6, 0.01),  # a perfect ranking
            "churned": churned,
            "monthly_charges": np.full(n, 80.0),
            "contract_type": np.where(np.arange(n) % 2 == 0, "Month-to-month", "Two year"),
            "tenure_months": rng.integers(1, 60, n),
            "u_save": np.where(np.arange(n) % 4 == 0, 0.99, 0.0),  # a quarter never respond
            "p_save_loyalty_call": 0.15,
            "p_save_discount": 0.35,
            "p_save_contract_upgrade": 0.30,
        }
    )


def test_outcomes_are_counted_exactly() -> None:
    frame = _population()
    table = compare_policies(frame, load_catalogue())
    churners = frame.churned.to_numpy()
    top = table.loc["top10_probability"]
    chosen = np.zeros(len(frame), dtype=bool)
    chosen[np.argsort(-frame.probability.to_numpy(), kind="mergesort")[:100]] = True
    saved = chosen & churners & (frame.u_save.to_numpy() < 0.35)
    assert top.targeted == 100 and top.saved == int(saved.sum()) > 0
    assert top.precision_at_10 == pytest.approx(churners[chosen].mean())
    clv = float(default_clv(80.0))
    assert top.net_value == pytest.approx(top.saved * clv - top.spend, abs=0.01)
    assert top.spend == pytest.approx(100 * 40.0)  # the fixed action: the discount, open to everyone
    ev = table.loc["ev_positive"]
    assert ev.targeted == int(churners.sum())  # p 0.6 pays, p 0.01 never does
    assert ev.net_value > top.net_value
    assert table.loc["ev_budget"].spend <= top.spend + 1e-6


def test_rule_ranks_its_own_selection_first() -> None:
    frame = _population(200)
    score = rule_score(frame)
    chosen = (frame.contract_type == "Month-to-month") & (
        (frame.tenure_months < 12) | (frame.monthly_charges >= frame.monthly_charges.quantile(0.75))
    )
    assert score[chosen.to_numpy()].min() > score[~chosen.to_numpy()].max()


def test_a_frame_without_offer_responses_is_refused() -> None:
    with pytest.raises(InputError, match="u_save"):
        compare_policies(_population().drop(columns="u_save"), load_catalogue())
