"""Who responds to which action: per-action uplift learned from randomised campaigns.

A churn model says who will leave; the decision needs whom an action changes.
Randomised campaigns show it: within a campaign, treated and control customers
differ only by the treatment. The learner here is a T-learner on XGBoost: for
the control group and for each action's treated customers, a churn model of the
outcome window on the features at assignment; an action's uplift for a customer
is the control model's churn probability less the action's (positive: churn the
action prevents; negative: churn it causes). Why this meta-learner: it needs no
library beyond the XGBoost the risk model already uses, it keeps each arm's own
response surface (a discount and a call act on different customers), and with
a shared control group every action is compared with the same baseline. Shallow,
strongly regularised trees with early stopping on each arm's held-out fifth keep
the difference of two noisy models from being mostly noise.

An action with fewer than ``MIN_TREATED`` treated customers, a control group
under ``MIN_CONTROL`` or fewer than ``MIN_CHURNERS`` churners in either is not
learned: the decision falls back to the catalogue's rate for it and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churn.errors import InputError
from training.candidates import XGBoostCandidate
from training.encoding import FeatureEncoder

MIN_TREATED = 400
MIN_CONTROL = 400
MIN_CHURNERS = 25
TREE_PARAMS: dict[str, Any] = {
    "max_depth": 3,
    "eta": 0.05,
    "min_child_weight": 20,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambda": 5.0,
    "eval_metric": "logloss",
}
MAX_TREES = 400
TREATED_ARMS = ("treated", "exploration")


@dataclass
class UpliftModel:
    encoder: FeatureEncoder
    control: XGBoostCandidate
    arms: dict[str, XGBoostCandidate]
    skipped: dict[str, str] = field(default_factory=dict)  # action -> why it was not learned

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(self.arms)

    def uplift(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``uplift_<action>`` for each learned action: the drop in window churn the action brings."""
        X = self.encoder.transform(frame)
        base = self.control.score(X)
        return pd.DataFrame({f"uplift_{a}": base - model.score(X) for a, model in self.arms.items()},
                            index=frame.index)  # fmt: skip


def _fit_arm(X: np.ndarray, y: np.ndarray, seed: int) -> XGBoostCandidate:
    """One arm's churn model, early-stopped on a seeded fifth of the arm's rows."""
    rng = np.random.default_rng(seed)
    valid = rng.random(len(y)) < 0.2
    model = XGBoostCandidate(TREE_PARAMS, seed=seed, n_estimators=MAX_TREES)
    model.fit(X[~valid], y[~valid], valid=(X[valid], y[valid]))
    return model


def fit_uplift(frame: pd.DataFrame, encoder: FeatureEncoder, seed: int) -> UpliftModel:
    """Learn from ``frame``: one row per assignment with the encoder's features at assignment, ``arm`` (treated,
    exploration or control), ``action`` and ``churned`` (within the outcome window)."""
    missing = [c for c in ("arm", "action", "churned") if c not in frame]
    if missing:
        raise InputError(f"uplift: missing column(s) {', '.join(missing)}")
    arm = frame["arm"].astype(str).to_numpy()
    y = frame["churned"].astype(bool).to_numpy()
    control = arm == "control"
    if control.sum() < MIN_CONTROL or y[control].sum() < MIN_CHURNERS:
        raise InputError(f"uplift: the control group has {int(control.sum())} customers and {int(y[control].sum())} "
                         f"churners; learning needs at least {MIN_CONTROL} and {MIN_CHURNERS}")  # fmt: skip
    X = encoder.transform(frame)
    arms: dict[str, XGBoostCandidate] = {}
    skipped: dict[str, str] = {}
    action = frame["action"].astype(str).to_numpy()
    for k, name in enumerate(sorted(set(action[np.isin(arm, TREATED_ARMS)]))):
        rows = np.isin(arm, TREATED_ARMS) & (action == name)
        if rows.sum() < MIN_TREATED or y[rows].sum() < MIN_CHURNERS:
            skipped[name] = (f"{int(rows.sum())} treated customers and {int(y[rows].sum())} churners; learning needs "
                             f"at least {MIN_TREATED} and {MIN_CHURNERS}")  # fmt: skip
            continue
        arms[name] = _fit_arm(X[rows], y[rows].astype(np.float64), seed + 1 + k)
    return UpliftModel(encoder, _fit_arm(X[control], y[control].astype(np.float64), seed), arms, skipped)
