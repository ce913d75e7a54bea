"""What a new targeting policy would have earned, estimated from logged campaigns before it is ever run.

Every logged assignment carries the probability with which it was made (the
control share, its complement, an explored action's draw). Inverse-propensity
weighting turns those logs into an unbiased estimate of another policy's value:
a customer whose logged action is the one the new policy would take counts with
weight 1 / probability, the others count 0. The estimate is only as good as the
logs' support: where the new policy would take an action the logging could never
have taken for that customer (a discount for someone the plan sent a call, with
no exploration), nothing in the logs speaks for it, so the share of customers
with support is reported beside the value, and the value is that of the
supported customers alone when the support is partial.

Reward per customer: the CLV kept (0 when they churned in the window) less the
action's cost — the same money the campaign readout counts. Intervals: normal
approximation of the weighted mean (the weights are bounded by the smallest
logged probability, so the mean is well behaved at these sizes); the
self-normalised estimate (weights summing to the number of customers) is
reported beside it, as it has lower variance at a small bias.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from churn.campaigns import Z95


def policy_value(
    logged: np.ndarray,
    probability: np.ndarray,
    reward: np.ndarray,
    target: np.ndarray,
    supported: np.ndarray | None = None,
) -> dict[str, Any]:
    """Mean reward per customer had ``target`` (an action name per customer) been taken, from assignments
    ``logged`` with their ``probability`` and realised ``reward``. ``supported``: where the logging could have
    taken the target's action (default: everywhere)."""
    logged, target = np.asarray(logged, dtype=object), np.asarray(target, dtype=object)
    probability, reward = np.asarray(probability, dtype=np.float64), np.asarray(reward, dtype=np.float64)
    if not (len(logged) == len(probability) == len(reward) == len(target)):
        raise ValueError("policy value: logged, probability, reward and target must have the same length")
    if ((probability <= 0) | (probability > 1) | np.isnan(probability)).any():
        raise ValueError("policy value: every logged probability must be in (0, 1]")
    keep = np.ones(len(logged), dtype=bool) if supported is None else np.asarray(supported, dtype=bool)
    n = int(keep.sum())
    if n == 0:
        return {"customers": 0, "support": 0.0, "value": None, "value_ci95": None, "self_normalised": None}
    w = np.where(logged[keep] == target[keep], 1.0 / probability[keep], 0.0)
    terms = w * reward[keep]
    value = float(terms.mean())
    half = Z95 * float(terms.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    snips = float(terms.sum() / w.sum()) if w.sum() > 0 else None
    return {"customers": n, "support": n / len(logged), "value": value, "value_ci95": (value - half, value + half),
            "self_normalised": snips}  # fmt: skip
