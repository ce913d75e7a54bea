"""The decision engine: the design's worked examples, budgets and their bound, the control group, bad scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batch.plan import make_plan
from churn.actions import load_catalogue, parse_catalogue
from churn.decisions import decide
from churn.errors import InputError
from churn.settings import Settings

OFFER = parse_catalogue({"actions": [{"name": "offer", "cost": 50, "success_rate": 0.4}]}, "test")


def test_worked_examples_of_the_design() -> None:
    scores = pd.DataFrame({"customer_id": ["a", "b"], "probability": [0.8, 0.5], "clv": [100.0, 2000.0]})
    cat = parse_catalogue({"actions": [{"name": "offer", "cost": 50, "success_rate": 0.4}]}, "t")
    plan = decide(scores, cat, control_fraction=0.0).frame.set_index("customer_id")
    assert plan.loc["a", "expected_value"] == pytest.approx(-18.0) and not plan.loc["a", "targeted"]
    cat75 = parse_catalogue({"actions": [{"name": "offer", "cost": 75, "success_rate": 0.4}]}, "t")
    plan = decide(scores, cat75, control_fraction=0.0).frame.set_index("customer_id")
    assert plan.loc["b", "expected_value"] == pytest.approx(325.0) and plan.loc["b", "targeted"]
    assert plan.loc["b", "rank"] == 1 and plan.loc["a", "rank"] == 0


def _scores(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(n)],
            "probability": rng.beta(1, 6, n),
            "monthly_charges": rng.uniform(20, 120, n),
            "contract_type": rng.choice(["Month-to-month", "One year", "Two year"], n),
        }
    )


def test_control_group_is_seeded_order_free_and_receives_nothing() -> None:
    scores = _scores(20_000)
    cat = load_catalogue()
    a = decide(scores, cat, seed=7).frame.set_index("customer_id")
    b = decide(scores.sample(frac=1.0, random_state=3), cat, seed=7).frame.set_index("customer_id")
    pd.testing.assert_series_equal(a.control, b.control.loc[a.index])
    would = a.targeted | a.control
    assert would.sum() > 1000
    assert a.control.sum() / would.sum() == pytest.approx(0.10, abs=0.02)
    assert not (a.control & a.targeted).any()
    c = decide(scores, cat, seed=8).frame.set_index("customer_id")
    assert not c.control.equals(a.control)


def test_budget_is_respected_and_near_its_bound() -> None:
    scores = _scores(5000)
    cat = load_catalogue()
    free = decide(scores, cat, control_fraction=0.0)
    total = free.frame.loc[free.frame.targeted, "cost"].sum()
    budget = total / 4
    plan = decide(scores, cat, budget=budget, control_fraction=0.0)
    s = plan.summary
    assert s["spend"] <= budget + 1e-6 and 0 < s["targeted"] < free.summary["targeted"]
    # the classic fractional-knapsack bound: greedy by value per cost is within one item's value of the LP optimum
    candidates = free.frame[free.frame.targeted]
    assert s["lp_bound"] >= s["greedy_value"] > 0
    assert s["gap_to_bound"] <= candidates["expected_value"].max() + 1e-6

    # the greedy order itself: walking the candidates by EV per unit of cost, each one is taken exactly when the
    # ones taken before it leave room for it
    chosen = set(plan.frame.loc[plan.frame.targeted, "customer_id"])
    order = candidates.assign(ratio=candidates.expected_value / candidates.cost).sort_values(
        ["ratio"], ascending=False, kind="stable"
    )
    spent = 0.0
    for row in order.itertuples():
        fits = spent + row.cost <= budget + 1e-9
        assert (row.customer_id in chosen) == fits, row
        spent += row.cost if fits else 0.0
    everything = decide(scores, cat, budget=total * 2, control_fraction=0.0)
    assert everything.summary["targeted"] == free.summary["targeted"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.iloc[0:0], "no rows"),
        (lambda s: s.drop(columns="probability"), "missing column"),
        (lambda s: s.drop(columns=["monthly_charges"]), "clv or monthly_charges"),
        (lambda s: s.drop(columns=["contract_type"]), "contract_type"),
        (lambda s: s.assign(probability=[1.5] + [0.1] * (len(s) - 1)), r"outside \[0, 1\]"),
        (lambda s: s.assign(probability=[np.nan] + [0.1] * (len(s) - 1)), "not a number"),
        (lambda s: s.assign(customer_id="same"), "unique"),
        (lambda s: s.assign(clv=-1.0), "clv must be"),
    ],
)
def test_bad_scores_are_refused_with_the_reason(change, message: str) -> None:
    with pytest.raises(InputError, match=message):
        decide(change(_scores(10)), load_catalogue())


def test_a_bad_input_leaves_the_previous_plan_in_place(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    good = tmp_path / "batch_scores_2024-03-01.parquet"
    _scores(200).assign(snapshot_date=pd.Timestamp("2024-03-01").date()).to_parquet(good)
    _, summary = make_plan(settings, good)
    latest = Path(summary["latest"])
    before = latest.read_bytes()
    assert Path(summary["plan"]).name == "action_plan_2024-03-01.csv"
    bad = tmp_path / "batch_scores_2024-04-01.parquet"
    _scores(200).assign(probability=2.0).to_parquet(bad)
    with pytest.raises(InputError):
        make_plan(settings, bad)
    assert latest.read_bytes() == before and not (settings.outputs_dir / "action_plan_2024-04-01.csv").exists()
    with pytest.raises(InputError, match="no such file"):
        make_plan(settings, tmp_path / "missing.parquet")
    broken = tmp_path / "actions.yaml"
    broken.write_text("actions: [{name: x, cost: -1, success_rate: 0.1}]")
    with pytest.raises(InputError, match="cost"):
        make_plan(settings, good, actions=broken)


def test_new_customers_are_valued_from_peers_on_their_plan_and_every_row_says_what_it_is() -> None:
    scores = pd.DataFrame(
        {
            "customer_id": ["old1", "old2", "old3", "new1", "new2"],
            "probability": [0.05, 0.05, 0.05, 0.6, 0.6],
            "monthly_charges": [100.0, 60.0, 20.0, np.nan, np.nan],
            "contract_type": ["Month-to-month", "Month-to-month", "Two year", "Month-to-month", "One year"],
            "factor_1": ["tenure_months", "tenure_months", None, "tenure_months", "contract_type"],
            "factor_1_contribution": [0.31, -0.2, np.nan, 1.234, 0.5],
        }
    )
    frame = decide(scores, OFFER, control_fraction=0.0).frame.set_index("customer_id")
    expected = decide(scores.fillna({"monthly_charges": 80.0}), OFFER, control_fraction=0.0).frame
    # the month-to-month newcomer is valued as the median month-to-month customer; no one-year peer exists,
    # so the other is valued on everyone's median (60)
    assert frame.loc["new1", "clv"] == expected.set_index("customer_id").loc["new1", "clv"]
    assert frame.loc["new1", "clv_basis"] == "plan median (contract_type)"
    assert frame.loc["new2", "clv_basis"] == "plan median (all customers)" and frame.loc["new2", "clv"] > 0
    assert frame.loc["new1", "targeted"] and frame.loc["new1", "status"].startswith("target:")
    assert frame.loc["old1", "clv_basis"] == "charges" and frame.loc["old3", "status"].startswith("not targeted")
    assert frame.loc["new1", "reasons"] == "tenure_months (+1.23)" and frame.loc["old3", "reasons"] == ""


def test_a_customer_with_no_value_and_no_peers_is_excluded_and_says_so() -> None:
    scores = pd.DataFrame({"customer_id": ["x"], "probability": [0.9], "monthly_charges": [np.nan]})
    plan = decide(scores, OFFER, control_fraction=0.0)
    row = plan.frame.iloc[0]
    assert row["clv"] == 0 and row["clv_basis"] == "none" and row["status"].startswith("excluded")
    assert plan.summary["excluded_no_value"] == 1


def test_exploration_spends_its_share_on_random_eligible_actions_with_logged_probabilities() -> None:
    scores = _scores(20_000, seed=4)
    cat = load_catalogue()
    plain = decide(scores, cat, budget=16_000.0, seed=5)  # the plan's own part: 80% of the budget
    plan = decide(scores, cat, budget=20_000.0, seed=5, exploration=0.2)
    f = plan.frame.set_index("customer_id")
    explored = f[f["explored"].astype(bool)]
    treated = explored[explored["targeted"].astype(bool)]
    assert len(treated) > 100 and plan.summary["explored"] == len(treated)
    # within the budget: the plan's own part gets 80% of it, exploration the rest
    cost = {a.name: a.cost for a in cat.actions}
    assert plan.summary["spend"] <= 20_000.0 + 1e-6
    assert plan.summary["exploration_spend"] == pytest.approx(treated["best_action"].map(cost).sum())
    assert 0.15 * 20_000 < plan.summary["exploration_spend"] <= 0.2 * 20_000 + 1e-6
    # explored customers are ones the plan would not have chosen; every real action is tried, only where eligible
    own = plain.frame.set_index("customer_id")
    mine = f[~f["explored"].astype(bool)]
    pd.testing.assert_series_equal(
        mine["targeted"] | mine["control"], (own["targeted"] | own["control"]).loc[mine.index]
    )
    assert not (own.loc[explored.index, "targeted"] | own.loc[explored.index, "control"]).any()
    assert set(treated["best_action"]) == {"loyalty_call", "discount", "contract_upgrade"}
    upgrades = treated[treated["best_action"] == "contract_upgrade"]
    assert (scores.set_index("customer_id").loc[upgrades.index, "contract_type"] == "Month-to-month").all()
    # each row says how likely its assignment was; the control share is held out among the explored too
    assert explored["assignment_probability"].between(0, 1, inclusive="right").all()
    assert f.loc[~f["explored"].astype(bool) & f["targeted"].astype(bool), "assignment_probability"].eq(0.9).all()
    assert 0.0 < explored["control"].astype(bool).mean() < 0.25  # about 0.10 (148 explored here)
    # seeded: the same plan again, another seed another draw
    again = decide(scores, cat, budget=20_000.0, seed=5, exploration=0.2).frame
    pd.testing.assert_frame_equal(plan.frame, again)
    other = decide(scores, cat, budget=20_000.0, seed=6, exploration=0.2).frame.set_index("customer_id")
    assert set(other.index[other["explored"].astype(bool)]) != set(explored.index)
    with pytest.raises(InputError, match="--exploration"):
        decide(scores, cat, exploration=1.0)


def test_a_launched_exploration_is_logged_as_its_own_arm_with_its_probability(tmp_path: Path) -> None:
    from churn.campaigns import campaign_rows

    plan = decide(_scores(5_000, seed=2), load_catalogue(), budget=5_000.0, seed=1, exploration=0.3).frame
    rows = campaign_rows(plan, "c1", pd.Timestamp("2024-01-01", tz="UTC"), 0.10)
    assert set(rows["arm"]) == {"treated", "control", "exploration"}
    explored = plan.set_index("customer_id")["explored"].astype(bool)
    logged = rows.set_index("customer_id")
    assert (logged.loc[logged["arm"] == "exploration"].index.map(explored)).all()
    expected = plan.set_index("customer_id").loc[logged.index, "assignment_probability"]
    np.testing.assert_allclose(logged["assignment_probability"], expected)
