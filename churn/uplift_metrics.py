"""Qini: how well a ranking by predicted uplift finds the customers a retention action really keeps.

A churn score ranks who will leave; an uplift score ranks whom an action changes,
which no single customer's outcome shows. On a randomised campaign the Qini
curve shows it for a group: among the top k customers by score, the churners the
action prevented — the control customers' churners scaled to the treated
customers' number, less the treated customers' churners:

    g(k) = C_control(k) · N_treated(k) / N_control(k) − C_treated(k)

The Qini coefficient is the area between that curve and the straight line of
random targeting to the same end point, per customer of the sample (Radcliffe
2007, "Using control groups to target on predicted lift"). It is positive when
the ranking puts the customers an action helps first, zero for a random one,
and negative when it puts those it harms first. The uplift oracle's ranking on
the same customers and outcomes gives the physical limit a learned model is
compared with.
"""

from __future__ import annotations

import numpy as np


def qini_curve(score: np.ndarray, treated: np.ndarray, churned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share targeted (0..1) and churners prevented among the top customers by ``score`` (ties in the order
    given). ``treated``: True for the action's arm, False for the control group."""
    score, treated, churned = np.asarray(score, float), np.asarray(treated, bool), np.asarray(churned, bool)
    if not (len(score) == len(treated) == len(churned)):
        raise ValueError("qini: score, treated and churned must have the same length")
    order = np.argsort(-score, kind="mergesort")
    t, y = treated[order], churned[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    c_t, c_c = np.cumsum(t & y), np.cumsum(~t & y)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(n_c > 0, c_c * n_t / np.maximum(n_c, 1), 0.0) - c_t
    share = np.arange(1, len(score) + 1) / max(len(score), 1)
    return np.concatenate([[0.0], share]), np.concatenate([[0.0], gain])


def qini(score: np.ndarray, treated: np.ndarray, churned: np.ndarray) -> float:
    """The Qini coefficient: area between the Qini curve and random targeting, per customer of the sample."""
    x, g = qini_curve(score, treated, churned)
    if len(x) < 2:
        return 0.0
    area = float(np.sum((g[1:] + g[:-1]) / 2.0 * np.diff(x)))
    return (area - g[-1] / 2.0) / (len(x) - 1)
