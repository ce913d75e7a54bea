"""Probability → value → best action → risk band: what the API, batch scoring and the plan say about a customer.

One function, so an API answer and a batch score for the same vector agree on
every figure. The customer's value is the scores' ``clv`` where one is given,
else :func:`churn.economics.default_clv` of their monthly charges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churn.actions import Catalogue, Decisions, best_actions
from churn.economics import default_clv, risk_band

DEFAULT_CLV_SOURCE = "default (margin × discounted lifetime once retained)"


@dataclass
class Assessment:
    clv: np.ndarray
    clv_source: str
    decisions: Decisions
    bands: np.ndarray


def customer_value(customers: pd.DataFrame | Mapping[str, Any], n: int) -> tuple[np.ndarray, str]:
    """(CLV per customer, where it came from): a ``clv`` column if the customers carry one, else the default."""
    if "clv" in customers:
        return np.asarray(pd.to_numeric(pd.Series(customers["clv"])), dtype=np.float64), "column"
    if "monthly_charges" not in customers:
        return np.zeros(n), "none (no monthly_charges to value customers by)"
    charges = pd.to_numeric(pd.Series(customers["monthly_charges"]), errors="coerce").to_numpy(np.float64)
    return default_clv(charges), DEFAULT_CLV_SOURCE


def assess(probability: np.ndarray, customers: pd.DataFrame | Mapping[str, Any], catalogue: Catalogue) -> Assessment:
    """Value, best action (EV > 0 targeted) and risk band for each customer scored ``probability``."""
    p = np.asarray(probability, dtype=np.float64)
    clv, source = customer_value(customers, len(p))
    return Assessment(clv=clv, clv_source=source, decisions=best_actions(p, clv, catalogue, customers),
                      bands=risk_band(p))  # fmt: skip
