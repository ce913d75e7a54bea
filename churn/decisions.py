"""The decision engine: scores -> an action plan (who, which action, at what expected value), with a control group.

Every customer gets the best eligible action of the catalogue and is targeted
where its EV > 0 (:func:`churn.actions.best_actions`, the same function the
API uses). With a budget, targets are taken greedily by EV per unit of cost;
the linear-relaxation (fractional knapsack) bound says how far that greedy
choice can be from the best possible spend. A seeded random share of the
would-be targets is held out as a control group that receives nothing, so the
plan's real effect can be measured later rather than assumed.

Exploration (``exploration`` = F, default 0): a share F of the spend goes to
customers the plan would not target, drawn in a seeded random order, each given
an action drawn at random among those eligible for them (with the same control
share held out), so every action keeps being tried on every kind of customer and
an uplift model keeps learning where the current policy would never look. With a
budget, F × budget is set aside for it; without one, exploration spends F / (1 −
F) × the plan's own spend, so it is F of the total. Each explored row carries the
probability with which it was assigned its action (logged by `churn campaign
launch`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from churn.actions import NO_ACTION, Catalogue, action_economics, with_learned_rates
from churn.assessment import assess
from churn.errors import InputError
from churn.hashing import stable_hash
from churn.schema import CUSTOMER_ID_PATTERN, ENTITY

PLAN_COLUMNS = (
    ENTITY,
    "status",
    "probability",
    "clv",
    "clv_basis",
    "best_action",
    "cost",
    "success_rate",
    "expected_value",
    "rank",
    "targeted",
    "control",
    "explored",
    "assignment_probability",
    "reasons",
)
# what ``status`` says, row by row (docs/decisions.md repeats it): the plan file explains itself
STATUS = {
    "target": "target: act (best action's EV > 0, within the budget)",
    "control": "control: would be targeted, held out on purpose (no action) to measure the plan's effect",
    "explore": "explore: an action drawn at random among the eligible ones, so every action keeps being learned",
    "explore_control": "control: drawn for exploration, held out on purpose (no action)",
    "over_budget": "not targeted: EV > 0 but outside the budget",
    "no_gain": "not targeted: no action's EV is above 0 (best_action is the best one considered)",
    "no_value": "excluded: no value known (no charges and no peers on the same plan)",
    "objected": "excluded: objected to direct marketing (never targeted, whatever the EV)",
}
FACTORS = 3


class Plan:
    """The summary at once; the frame (``PLAN_COLUMNS``, one row per scored customer, ranked targets first) when
    first asked: building and sorting a million rows costs more than deciding them, and a console re-deciding at
    a new budget needs only the totals."""

    def __init__(self, summary: dict[str, Any], build: Callable[[], pd.DataFrame]) -> None:
        self.summary = summary
        self._build = build

    @cached_property
    def frame(self) -> pd.DataFrame:
        return self._build()


def check_scores(scores: pd.DataFrame, catalogue: Catalogue) -> None:
    """Refuse scores the engine cannot decide on, naming the column and the problem."""
    if scores.empty:
        raise InputError("scores: the file has no rows")
    missing = [c for c in (ENTITY, "probability") if c not in scores]
    if "clv" not in scores and "monthly_charges" not in scores:
        missing.append("clv or monthly_charges (for the default CLV)")
    missing += sorted(c for c in catalogue.columns if c not in scores)
    if missing:
        raise InputError(f"scores: missing column(s) {missing}")
    p = pd.to_numeric(scores["probability"], errors="coerce")
    if p.isna().any():
        raise InputError(f"scores: probability is missing or not a number in {int(p.isna().sum())} row(s)")
    outside = (p < 0) | (p > 1)
    if outside.any():
        first = scores.loc[outside, ENTITY].iloc[0]
        raise InputError(f"scores: probability outside [0, 1] in {int(outside.sum())} row(s), e.g. customer {first}")
    if scores[ENTITY].isna().any() or scores[ENTITY].duplicated().any():
        raise InputError("scores: customer_id must be present and unique")
    malformed = ~scores[ENTITY].astype(str).str.match(CUSTOMER_ID_PATTERN)
    if malformed.any():
        first = scores.loc[malformed, ENTITY].astype(str).iloc[0]
        raise InputError(
            f"scores: customer_id {first!r} (and {int(malformed.sum()) - 1} more) is not an id: 1-64 letters, "
            "digits and _ . : -, starting with a letter or digit"
        )
    if "clv" in scores:
        clv = pd.to_numeric(scores["clv"], errors="coerce")
        if clv.isna().any() or not np.isfinite(clv).all() or (clv < 0).any():
            raise InputError("scores: clv must be a non-negative number in every row")


def control_draw(customer_ids: pd.Series, seed: int) -> np.ndarray:
    """A uniform number per customer from (seed, id): the same customer gets the same draw whatever the row order."""
    out = np.empty(len(customer_ids))
    for i, cid in enumerate(customer_ids.astype(str)):
        out[i] = stable_hash(f"{seed}:{cid}") / 2.0**64
    return out


def budget_greedy(ev: np.ndarray, cost: np.ndarray, candidates: np.ndarray, budget: float) -> tuple[np.ndarray, float]:
    """Targets within ``budget`` by EV per unit of cost (free actions first), and the LP-relaxation bound on EV."""
    idx = np.flatnonzero(candidates)
    with np.errstate(divide="ignore"):
        ratio = np.where(cost[idx] > 0, ev[idx] / np.where(cost[idx] > 0, cost[idx], 1.0), np.inf)
    order = idx[np.argsort(-ratio, kind="stable")]
    spend = np.cumsum(cost[order])
    fits = spend <= budget + 1e-9
    chosen = np.zeros(len(ev), dtype=bool)
    # Greedy keeps scanning past an item that does not fit, taking cheaper ones that still do.
    left = budget
    for i in order:
        if cost[i] <= left + 1e-9:
            chosen[i] = True
            left -= cost[i]
    whole = order[fits]
    bound = float(ev[whole].sum())
    nxt = order[len(whole)] if len(whole) < len(order) else None
    if nxt is not None and cost[nxt] > 0:
        room = budget - (float(spend[len(whole) - 1]) if len(whole) else 0.0)
        bound += float(ev[nxt]) * max(room, 0.0) / float(cost[nxt])
    return chosen, bound


def _status(
    targeted: np.ndarray,
    control: np.ndarray,
    would: np.ndarray,
    gains: np.ndarray,
    basis: np.ndarray,
    refused: np.ndarray,
    explored: np.ndarray,
) -> np.ndarray:
    out = np.full(len(targeted), STATUS["no_gain"], dtype=object)
    out[gains & ~would] = STATUS["over_budget"]
    out[(basis == "none") & ~would] = STATUS["no_value"]
    out[refused] = STATUS["objected"]
    out[control] = STATUS["control"]
    out[targeted] = STATUS["target"]
    out[explored & control] = STATUS["explore_control"]
    out[explored & targeted] = STATUS["explore"]
    return out


def _factor_text(names: pd.Series, contributions: pd.Series, prefix: str = "") -> np.ndarray:
    """``prefix + name (+0.25)`` per row ("" where unknown), formatted once per distinct (name, rounded value):
    a million rows hold few of those, and Python string formatting per row would cost seconds."""
    hundredths = np.rint(pd.to_numeric(contributions, errors="coerce").to_numpy(np.float64) * 100)
    ok = names.notna().to_numpy() & np.isfinite(hundredths)
    name_codes, name_values = pd.factorize(names.astype(str))
    value_codes, value_values = pd.factorize(np.where(ok, hundredths, 0.0))
    width = len(value_values) + 1
    pair_codes, pairs = pd.factorize(name_codes.astype(np.int64) * width + value_codes)
    texts = np.array(
        [f"{prefix}{name_values[p // width]} ({value_values[p % width] / 100:+.2f})" for p in pairs] + [""],
        dtype=object,
    )
    return texts[np.where(ok, pair_codes, len(texts) - 1)]


def reasons(scores: pd.DataFrame, top_k: int = FACTORS) -> np.ndarray:
    """The scores' top factors as one readable cell, ``feature (+0.25); ...`` (empty where the scores carry none)."""
    out = np.full(len(scores), "", dtype=object)
    first_unknown = None
    for k in range(1, top_k + 1):
        if f"factor_{k}" not in scores or f"factor_{k}_contribution" not in scores:
            break
        text = _factor_text(scores[f"factor_{k}"], scores[f"factor_{k}_contribution"], "; " if k > 1 else "")
        first_unknown = text == "" if k == 1 else first_unknown
        out = out + text
    if first_unknown is not None and first_unknown.any():  # a later factor known without the first: rare
        out[first_unknown] = [t[2:] if t.startswith("; ") else t for t in out[first_unknown]]
    return out


@dataclass
class Prepared:
    """What a plan needs that does not depend on the budget or the control share: the valuation, the best action,
    the control draw and the reasons. A console re-deciding at another budget computes this once per scores file."""

    scores: pd.DataFrame
    catalogue: Catalogue
    probability: np.ndarray
    assessed: Any  # churn.assessment.Assessment
    refused: np.ndarray
    draw: np.ndarray
    reasons: np.ndarray
    seed: int
    basis_counts: dict[str, int]  # customers per CLV basis (charges, plan median, column, none)
    id_rank: np.ndarray  # each customer's place in id order (sorting a million strings per budget cost ~1 s)
    prevented: Mapping[str, np.ndarray] | None = None  # the learned uplift the assessment used


def prepare(
    scores: pd.DataFrame,
    catalogue: Catalogue,
    seed: int = 42,
    objected: set[str] | None = None,
    prevented: Mapping[str, np.ndarray] | None = None,
) -> Prepared:
    check_scores(scores, catalogue)
    p = pd.to_numeric(scores["probability"]).to_numpy(np.float64)
    ids = scores[ENTITY].astype(str).to_numpy()
    id_rank = np.empty(len(ids), dtype=np.int64)
    id_rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    assessed = assess(p, scores, catalogue, prevented=prevented)
    return Prepared(
        scores=scores,
        catalogue=catalogue,
        probability=p,
        assessed=assessed,
        refused=scores[ENTITY].astype(str).isin(objected or set()).to_numpy(),
        draw=control_draw(scores[ENTITY], seed),
        reasons=reasons(scores),
        seed=seed,
        basis_counts={str(k): int(v) for k, v in pd.Series(assessed.clv_basis).value_counts().items()},
        id_rank=id_rank,
        prevented=prevented,
    )


def decide(
    scores: pd.DataFrame,
    catalogue: Catalogue,
    budget: float | None = None,
    control_fraction: float = 0.10,
    seed: int = 42,
    objected: set[str] | None = None,
    prevented: Mapping[str, np.ndarray] | None = None,
    exploration: float = 0.0,
) -> Plan:
    """The plan; customers in ``objected`` (an objection to direct marketing on record) are never targeted, nor
    held out as controls: they are out of every campaign. ``prevented``: learned uplift per action."""
    check_plan_options(budget, control_fraction, exploration)
    return finish(prepare(scores, catalogue, seed, objected, prevented), budget, control_fraction, exploration)


def check_plan_options(budget: float | None, control_fraction: float, exploration: float = 0.0) -> None:
    if not 0.0 <= control_fraction < 1.0:
        raise InputError(f"--control-fraction: must be in [0, 1), got {control_fraction}")
    if not 0.0 <= exploration < 1.0:
        raise InputError(f"--exploration: must be in [0, 1), got {exploration}")
    if budget is not None and (not np.isfinite(budget) or budget < 0):
        raise InputError(f"--budget: must be a non-negative amount, got {budget}")


def _explore(prepared: Prepared, would: np.ndarray, budget: float) -> Explored:
    """Customers outside the plan in a seeded random order, each with an eligible action drawn at random, taken
    while their cost fits ``budget``."""
    scores, catalogue, n = prepared.scores, prepared.catalogue, len(prepared.probability)
    cost, rate, eligible = action_economics(catalogue, scores, n)
    with_learned_rates(rate, catalogue, prepared.probability, prepared.prevented)
    eligible &= np.array([name != NO_ACTION for name in catalogue.names])[None, :]
    k = eligible.sum(axis=1)
    candidates = ~would & ~prepared.refused & (prepared.assessed.clv_basis != "none") & (k > 0)
    idx = np.flatnonzero(candidates)
    ids = prepared.scores[ENTITY].iloc[idx]
    pick = control_draw(ids, prepared.seed + EXPLORE_ACTION_STREAM)
    order = np.argsort(control_draw(ids, prepared.seed + EXPLORE_ORDER_STREAM), kind="stable")
    nth = np.minimum((pick * k[idx]).astype(np.int64), k[idx] - 1)
    action = np.argmax(np.cumsum(eligible[idx], axis=1) > nth[:, None], axis=1)
    spent = np.cumsum(cost[idx, action][order])
    taken = order[spent <= budget + 1e-9]
    share = len(taken) / len(idx) if len(idx) else 0.0
    explored = np.zeros(n, dtype=bool)
    explored[idx[taken]] = True
    chosen = np.zeros(n, dtype=np.int64)
    chosen[idx] = action
    probability = np.full(n, np.nan)
    probability[idx] = share / k[idx]
    rows = np.arange(n)
    return Explored(explored, chosen, cost[rows, chosen], rate[rows, chosen], probability)


@dataclass(frozen=True)
class Explored:
    rows: np.ndarray  # explored customers (controls among them included)
    action: np.ndarray  # the catalogue index each was drawn
    cost: np.ndarray
    success_rate: np.ndarray
    probability: np.ndarray  # probability of being drawn with that action (NaN outside exploration)


EXPLORE_ORDER_STREAM, EXPLORE_ACTION_STREAM = 1, 2  # seed offsets: the order of candidates, the action drawn


def finish(
    prepared: Prepared, budget: float | None = None, control_fraction: float = 0.10, exploration: float = 0.0
) -> Plan:
    """The plan from :func:`prepare`'s work, at this budget, control share and exploration share."""
    check_plan_options(budget, control_fraction, exploration)
    scores, catalogue, p, seed = prepared.scores, prepared.catalogue, prepared.probability, prepared.seed
    assessed, refused = prepared.assessed, prepared.refused
    clv, clv_source, d = assessed.clv, assessed.clv_source, assessed.decisions
    eligible = d.targeted & ~refused
    would = eligible.copy()
    bound = None
    if budget is not None:
        would, bound = budget_greedy(d.expected_value, d.cost, eligible, budget * (1.0 - exploration))
    action, cost = d.action.copy(), d.cost.copy()
    success_rate, expected = d.success_rate.copy(), d.expected_value.copy()
    explored = np.zeros(len(p), dtype=bool)
    probability = np.where(would, 1.0 - control_fraction, np.nan)
    if exploration > 0:
        own = float(d.cost[would].sum())
        room = exploration * budget if budget is not None else exploration / (1.0 - exploration) * own
        found = _explore(prepared, would, room)
        explored = found.rows
        action[explored] = np.asarray(catalogue.names, dtype=object)[found.action[explored]]
        cost[explored], success_rate[explored] = found.cost[explored], found.success_rate[explored]
        expected[explored] = p[explored] * clv[explored] * success_rate[explored] - cost[explored]
        probability[explored] = found.probability[explored] * (1.0 - control_fraction)
    chosen = would | explored
    control = chosen & (prepared.draw < control_fraction)
    targeted = chosen & ~control
    probability[control] = np.where(explored[control], probability[control] / (1.0 - control_fraction)
                                    * control_fraction, control_fraction)  # fmt: skip
    clv2, ev2 = np.round(clv, 2), np.round(expected, 2)  # the plan file's values, which the sums must match
    spend = float(cost[targeted].sum())
    saved_value = float((p * clv2 * success_rate)[targeted].sum())
    net = float(ev2[targeted].sum())
    summary: dict[str, Any] = {
        "customers": len(p),
        "targeted": int(targeted.sum()),
        "control": int(control.sum()),
        "explored": int((explored & targeted).sum()),
        "exploration": exploration,
        "exploration_spend": round(float(cost[explored & targeted].sum()), 2),
        "would_target_without_budget": int(eligible.sum()),
        "excluded_objected": int(refused.sum()),
        "spend": round(spend, 2),
        "expected_saved_revenue": round(saved_value, 2),
        "expected_net_value": round(net, 2),
        "roi": round(net / spend, 4) if spend > 0 else None,
        "actions": {str(k): int(v) for k, v in pd.Series(action[targeted]).value_counts().items()},
        "clv": clv_source,
        "clv_basis": prepared.basis_counts,
        "excluded_no_value": prepared.basis_counts.get("none", 0),
        "catalogue": catalogue.source,
        "control_fraction": control_fraction,
        "seed": seed,
    }
    if budget is not None:
        chosen_ev = float(ev2[would].sum())
        summary.update(
            budget=budget,
            lp_bound=round(float(bound or 0.0), 2),
            greedy_value=round(chosen_ev, 2),
            gap_to_bound=round(float(bound or 0.0) - chosen_ev, 2),
        )

    def frame() -> pd.DataFrame:
        rows = pd.DataFrame(
            {
                ENTITY: scores[ENTITY].astype(str).to_numpy(),
                "status": _status(targeted, control, would, eligible, assessed.clv_basis, refused, explored),
                "probability": p,
                "clv": clv2,
                "clv_basis": assessed.clv_basis,
                "best_action": action,
                "cost": cost,
                "success_rate": success_rate,
                "expected_value": ev2,
                "targeted": targeted,
                "control": control,
                "explored": explored,
                "assignment_probability": probability,
                "reasons": prepared.reasons,
            }
        )
        order = np.lexsort((prepared.id_rank, -d.expected_value, ~would))  # ties by id: ranks sort as the ids do
        rows = rows.iloc[order].reset_index(drop=True)
        rows.insert(rows.columns.get_loc("targeted"), "rank", np.where(would[order], np.arange(1, len(rows) + 1), 0))
        return rows[list(PLAN_COLUMNS)]

    return Plan(summary, frame)
