"""Scores → probabilities the decision engine can multiply by money: sigmoid or isotonic, chosen by cross-fitting."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from churn.metrics import brier
from training.artifact import Calibrator, logit


def fit_calibrator(method: str, score: np.ndarray, y: np.ndarray) -> Calibrator:
    if method == "sigmoid":
        lr = LogisticRegression(C=1e6, max_iter=1000)
        lr.fit(logit(score)[:, None], y)
        return Calibrator("sigmoid", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
    iso.fit(np.asarray(score, dtype=np.float64), y)
    return Calibrator("isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())


def choose_calibrator(
    score: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int
) -> tuple[Calibrator, dict[str, float]]:
    """Sigmoid or isotonic, whichever has the lower Brier score under 2-fold cross-fitting on the holdout.

    Cross-fitting by customer keeps isotonic's flexibility from grading its own
    homework; the winner is then refitted on the whole holdout.
    """
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    half = set(rng.permutation(uniq)[: len(uniq) // 2].tolist())
    in_a = np.array([g in half for g in groups])
    scores: dict[str, float] = {}
    for method in ("sigmoid", "isotonic"):
        pred = np.empty(len(y))
        for train_mask in (in_a, ~in_a):
            cal = fit_calibrator(method, score[train_mask], y[train_mask])
            pred[~train_mask] = cal(score[~train_mask])
        scores[method] = brier(y, pred)
    best = min(scores, key=lambda m: scores[m])
    return fit_calibrator(best, score, y), scores
