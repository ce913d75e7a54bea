"""Does EV targeting pay? Targeting policies compared on the same customers, budget and simulated outcomes.

On simulated data each customer's realised churn this month is known, and so
is how they would respond to each offer (``u_save < p_save_<action>``: common
random numbers, so every policy faces the same customers and the same luck).
A targeted customer who would have churned is saved when the offer works; a
saved customer is worth their CLV (:func:`churn.economics.default_clv`, the
same valuation for every policy); every targeted customer costs the action's
price. Policies:

- ``rule_based`` — the design's rule (month-to-month with tenure < 12 or charges
  in the top quartile, ranked by charges), top 10% of customers, one fixed action;
- ``top10_probability`` — the model's top 10% by probability, the same action;
- ``ev_positive`` — the best action per customer where its EV > 0;
- ``ev_budget`` — EV targeting within the top-10% policy's spend;
- ``oracle_top10`` — the top 10% by true hazard (the physical limit of ranking), the fixed action.

The fixed action is the catalogue's action open to everyone with the highest
success rate (a discount by default): what a team without a model would send.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from churn.actions import NO_ACTION, Catalogue, action_economics, best_actions
from churn.decisions import budget_greedy
from churn.economics import default_clv
from churn.errors import InputError
from churn.metrics import emp

NEEDED = ("customer_id", "probability", "churned", "monthly_charges", "contract_type", "tenure_months", "u_save")


def charges_quartile(frame: pd.DataFrame) -> float:
    """The 75th percentile of monthly charges (missing charges ignored): the rule's "top quartile" bound."""
    charges = pd.to_numeric(frame["monthly_charges"], errors="coerce").to_numpy(np.float64)
    return float(np.nanquantile(charges, 0.75)) if np.isfinite(charges).any() else np.inf


def rule_score(frame: pd.DataFrame, top_quartile: float | None = None) -> np.ndarray:
    """The design's rule as a score in (0, 1): month-to-month customers with tenure under 12 months or monthly
    charges in the top quartile first, each group ranked by monthly charges (missing charges count as 0).

    ``top_quartile`` is the charges bound; by default the frame's own (what a team without a model computes on the
    month it targets); a model baseline fixes it on its training months.
    """
    charges = pd.to_numeric(frame["monthly_charges"], errors="coerce").fillna(0.0).to_numpy(np.float64)
    bound = charges_quartile(frame) if top_quartile is None else top_quartile
    mtm = (frame["contract_type"] == "Month-to-month").to_numpy()
    tenure = pd.to_numeric(frame["tenure_months"], errors="coerce").fillna(0.0).to_numpy()
    chosen = mtm & ((tenure < 12) | (charges >= bound))
    return np.asarray((chosen + charges / (charges.max(initial=0.0) + 1.0)) / 2.0, dtype=np.float64)


def fixed_action(catalogue: Catalogue) -> int:
    """Index of the highest-success action that every customer may receive."""
    open_to_all = [k for k, a in enumerate(catalogue.actions) if a.name != NO_ACTION and not a.eligible]
    if not open_to_all:
        raise InputError("action catalogue: needs one action without `eligible` for the fixed-action policies")
    return max(open_to_all, key=lambda k: catalogue.actions[k].success_rate)


def _outcome(
    name: str,
    frame: pd.DataFrame,
    clv: np.ndarray,
    chosen: np.ndarray,
    action: np.ndarray,
    cost: np.ndarray,
    ranking: np.ndarray,
) -> dict[str, Any]:
    """Realised results of targeting ``chosen`` with ``action`` (action names per row)."""
    y = frame["churned"].to_numpy(bool)
    p_save = np.zeros(len(frame))
    for a in np.unique(action[chosen]):
        rows = chosen & (action == a)
        column = f"p_save_{a}"
        if column not in frame:
            raise InputError(f"offer responses: no column {column!r} for action {a!r}")
        p_save[rows] = frame.loc[rows, column].to_numpy(float)
    saved = chosen & y & (frame["u_save"].to_numpy(float) < p_save)
    spend = float(cost[chosen].sum())
    value = float(clv[saved].sum())
    net = value - spend
    k = max(1, math.ceil(0.10 * len(frame)))
    top = np.argsort(-ranking, kind="mergesort")[:k]
    return {
        "policy": name,
        "targeted": int(chosen.sum()),
        "spend": round(spend, 2),
        "churners_targeted": int((chosen & y).sum()),
        "saved": int(saved.sum()),
        "saved_value": round(value, 2),
        "net_value": round(net, 2),
        "cost_per_saved": round(spend / saved.sum(), 2) if saved.sum() else None,
        "roi": round(net / spend, 4) if spend else None,
        "precision_at_10": round(float(y[top].mean()), 4),
        "emp": round(emp(y.astype(int), ranking, max_cuts=2000)["emp"], 6),
    }


def compare_policies(frame: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    missing = [c for c in NEEDED if c not in frame]
    if missing:
        raise InputError(f"policy comparison: missing column(s) {missing} (it needs a simulation's offer responses)")
    n = len(frame)
    if n == 0:
        raise InputError("policy comparison: no customers")
    k = max(1, math.ceil(0.10 * n))
    p = frame["probability"].to_numpy(float)
    cost, _, _ = action_economics(catalogue, frame, n)
    fixed = fixed_action(catalogue)
    fixed_name = np.full(n, catalogue.names[fixed], dtype=object)
    fixed_cost = cost[:, fixed]
    clv = default_clv(frame["monthly_charges"].to_numpy(float))  # one valuation for every policy

    def top(score: np.ndarray) -> np.ndarray:
        chosen = np.zeros(n, dtype=bool)
        chosen[np.argsort(-score, kind="mergesort")[:k]] = True
        return chosen

    rows = []
    rule = rule_score(frame)
    rows.append(_outcome("rule_based", frame, clv, top(rule), fixed_name, fixed_cost, rule))
    top10 = top(p)
    rows.append(_outcome("top10_probability", frame, clv, top10, fixed_name, fixed_cost, p))
    d = best_actions(p, clv, catalogue, frame)
    rows.append(_outcome("ev_positive", frame, clv, d.targeted, d.action, d.cost, p))
    budget = float(fixed_cost[top10].sum())
    within, _ = budget_greedy(d.expected_value, d.cost, d.targeted, budget)
    rows.append(_outcome("ev_budget", frame, clv, within, d.action, d.cost, p))
    if "hazard" in frame:
        h = frame["hazard"].to_numpy(float)
        rows.append(_outcome("oracle_top10", frame, clv, top(h), fixed_name, fixed_cost, h))
    return pd.DataFrame(rows).set_index("policy")


def compare_valuations(frame: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    """EV targeting with the formula's CLV against EV targeting with the lifetime model's (``clv_model``), each with
    and without the top-10% policy's budget, every saved customer worth their true CLV (``true_clv``, the
    simulator's): which valuation spends the budget better, judged by what customers are really worth."""
    missing = [c for c in (*NEEDED, "clv_model", "true_clv") if c not in frame]
    if missing:
        raise InputError(f"valuation comparison: missing column(s) {missing}")
    n = len(frame)
    p = frame["probability"].to_numpy(float)
    worth = frame["true_clv"].to_numpy(float)
    cost, _, _ = action_economics(catalogue, frame, n)
    fixed = fixed_action(catalogue)
    k = max(1, math.ceil(0.10 * n))
    budget = float(cost[np.argsort(-p, kind="mergesort")[:k], fixed].sum())
    rows = []
    for label, clv in (("formula", default_clv(frame["monthly_charges"].to_numpy(float))),
                       ("model", np.nan_to_num(frame["clv_model"].to_numpy(float))),
                       ("true (the limit)", worth)):  # fmt: skip
        d = best_actions(p, clv, catalogue, frame)
        rows.append(_outcome(f"ev_positive, {label} CLV", frame, worth, d.targeted, d.action, d.cost, p))
        within, _ = budget_greedy(d.expected_value, d.cost, d.targeted, budget)
        rows.append(_outcome(f"ev_budget, {label} CLV", frame, worth, within, d.action, d.cost, p))
    return pd.DataFrame(rows).set_index("policy")
