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


def _numbers(values: Any) -> np.ndarray:
    """A column as float64 with NaN for missing: pandas for a frame's column, plain numpy for a request's few values
    (building a Series costs more than the whole decision for one row)."""
    if isinstance(values, pd.Series):
        return pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def customer_value(customers: pd.DataFrame | Mapping[str, Any], n: int) -> tuple[np.ndarray, str]:
    """(CLV per customer, where it came from): a ``clv`` column if the customers carry one, else the default."""
    if "clv" in customers:
        return _numbers(customers["clv"]), "column"
    if "monthly_charges" not in customers:
        return np.zeros(n), "none (no monthly_charges to value customers by)"
    return default_clv(_numbers(customers["monthly_charges"])), DEFAULT_CLV_SOURCE


def assess(probability: np.ndarray, customers: pd.DataFrame | Mapping[str, Any], catalogue: Catalogue) -> Assessment:
    """Value, best action (EV > 0 targeted) and risk band for each customer scored ``probability``."""
    p = np.asarray(probability, dtype=np.float64)
    clv, source = customer_value(customers, len(p))
    return Assessment(clv=clv, clv_source=source, decisions=best_actions(p, clv, catalogue, customers),
                      bands=risk_band(p))  # fmt: skip
