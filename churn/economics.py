"""Decision economics shared by the API and the batch decision engine (one function each, no framework).

EV of an action = p(churn) × CLV × success rate − cost; act only where EV > 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Risk bands on the calibrated monthly churn probability: upper bounds of low, medium and high.
RISK_BANDS: tuple[str, ...] = ("low", "medium", "high", "critical")
RISK_BOUNDS: tuple[float, ...] = (0.05, 0.15, 0.30)

# CLV defaults: margin on monthly charges, monthly discount rate, and a cap on the expected lifetime.
MARGIN = 0.30
MONTHLY_DISCOUNT = 0.01
MAX_LIFETIME_MONTHS = 60.0
RETAINED_HAZARD = 0.02  # monthly churn hazard assumed for a customer once retained


def expected_value(
    probability: np.ndarray | float,
    clv: np.ndarray | float,
    success_rate: np.ndarray | float,
    cost: np.ndarray | float,
) -> np.ndarray:
    """EV = p × CLV × success rate − cost (the value saved if the action works, less what it costs)."""
    return np.asarray(probability, dtype=np.float64) * clv * success_rate - np.asarray(cost, dtype=np.float64)


def risk_band(probability: np.ndarray | float, bounds: Sequence[float] = RISK_BOUNDS) -> np.ndarray:
    """The band of each probability: low < 0.05 ≤ medium < 0.15 ≤ high < 0.30 ≤ critical."""
    if len(bounds) != len(RISK_BANDS) - 1 or list(bounds) != sorted(bounds):
        raise ValueError(f"risk bounds must be {len(RISK_BANDS) - 1} increasing numbers, got {list(bounds)}")
    p = np.asarray(probability, dtype=np.float64)
    return np.asarray(RISK_BANDS, dtype=object)[np.searchsorted(np.asarray(bounds), p, side="right")]


def default_clv(
    monthly_charges: np.ndarray | float,
    retained_hazard: np.ndarray | float = RETAINED_HAZARD,
    margin: float = MARGIN,
    monthly_discount: float = MONTHLY_DISCOUNT,
    max_lifetime_months: float = MAX_LIFETIME_MONTHS,
) -> np.ndarray:
    """What a saved customer is worth: margin × discounted expected lifetime once retained.

    EV multiplies this by p(churn): the value lost if the customer leaves. The
    lifetime therefore uses the hazard of a retained customer (a population
    figure, 2%/month by default), not the customer's current risk — with the
    current risk, p × CLV would collapse to about one month of margin for
    everyone at risk, and no action could ever pay. With a constant monthly
    hazard h and discount rate d, the discounted number of future months is
    (1 + d) / (d + h), capped at ``max_lifetime_months``. A customer-level
    ``clv`` column in the scores replaces this default.
    """
    h = np.clip(np.asarray(retained_hazard, dtype=np.float64), 0.0, 1.0)
    months = np.minimum((1.0 + monthly_discount) / (monthly_discount + h), max_lifetime_months)
    charges = np.nan_to_num(np.asarray(monthly_charges, dtype=np.float64), nan=0.0)
    return margin * charges * months
