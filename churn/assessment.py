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


@dataclass(frozen=True)
class Valuation:
    """A lifetime model's view of each customer: CLV = margin × monthly charges × annuity (Σ_t S(t) / (1 + d)^t)."""

    annuity: np.ndarray
    margin: float
    source: str


@dataclass
class Assessment:
    clv: np.ndarray
    clv_source: str
    clv_basis: np.ndarray  # per customer: charges, plan median (...), column or none (no value: never targeted)
    decisions: Decisions
    bands: np.ndarray


def _numbers(values: Any) -> np.ndarray:
    """A column as float64 with NaN for missing: pandas for a frame's column, plain numpy for a request's few values
    (building a Series costs more than the whole decision for one row)."""
    if isinstance(values, pd.Series):
        return pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


PEER_KEYS = (("contract_type", "num_services_total", "has_fiber_optic"), ("contract_type",), ())


def _peer_charges(customers: pd.DataFrame, charges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Charges for customers with none known yet (a new customer before the first invoice), from peers on the
    same plan: the median of known charges among customers of the same contract and services, else the same
    contract, else everyone. Returns (charges filled where possible, basis per row)."""
    filled = charges.copy()
    basis = np.where(np.isnan(charges), "none", "charges").astype(object)
    known = ~np.isnan(charges)
    if not known.any():
        return filled, basis
    for keys in PEER_KEYS:
        missing = np.isnan(filled)
        if not missing.any() or not all(k in customers for k in keys):
            continue
        if keys:
            frame = customers[list(keys)].astype(str).reset_index(drop=True)
            group = pd.Series(charges).where(known).groupby([frame[k] for k in keys]).transform("median")
            peer = group.to_numpy(np.float64)
        else:
            peer = np.full(len(filled), float(np.median(charges[known])))
        take = missing & ~np.isnan(peer)
        filled[take] = peer[take]
        basis[take] = "plan median (" + (", ".join(keys) or "all customers") + ")"
    return filled, basis


def valuation_of(customers: pd.DataFrame | Mapping[str, Any]) -> Valuation | None:
    """The lifetime model's valuation carried by scores (``clv_annuity``, ``clv_margin``, ``clv_source``), if any."""
    if "clv_annuity" not in customers or "clv_margin" not in customers:
        return None
    margin = np.asarray(customers["clv_margin"], dtype=np.float64)
    source = np.asarray(customers["clv_source"], dtype=object) if "clv_source" in customers else ["lifetime model"]
    return Valuation(_numbers(customers["clv_annuity"]), float(margin[0]) if len(margin) else 0.0,
                     str(source[0]) if len(source) else "lifetime model")  # fmt: skip


def customer_value(
    customers: pd.DataFrame | Mapping[str, Any], n: int, valuation: Valuation | None = None
) -> tuple[np.ndarray, str, np.ndarray]:
    """(CLV per customer, where it came from, basis per row): a ``clv`` column if the customers carry one (its
    ``clv_source`` column says where it came from), else the lifetime model's ``valuation`` or the default
    formula on their monthly charges — or, for a customer with no invoice yet, on the charges of peers on the
    same plan (among the customers valued together; a single customer with none is valued 0, basis none)."""
    if "clv" in customers:
        source = "column"
        if "clv_source" in customers and n:
            source = str(np.asarray(customers["clv_source"], dtype=object)[0])
        return _numbers(customers["clv"]), source, np.full(n, "column", dtype=object)
    if "monthly_charges" not in customers:
        return np.zeros(n), "none (no monthly_charges to value customers by)", np.full(n, "none", dtype=object)
    charges = _numbers(customers["monthly_charges"])
    basis = np.where(np.isnan(charges), "none", "charges").astype(object)
    if isinstance(customers, pd.DataFrame) and np.isnan(charges).any():
        charges, basis = _peer_charges(customers, charges)
    if valuation is not None:
        value = valuation.margin * np.nan_to_num(charges) * np.asarray(valuation.annuity, dtype=np.float64)
        return value, valuation.source, basis
    return default_clv(charges), DEFAULT_CLV_SOURCE, basis


def assess(
    probability: np.ndarray,
    customers: pd.DataFrame | Mapping[str, Any],
    catalogue: Catalogue,
    valuation: Valuation | None = None,
    prevented: Mapping[str, np.ndarray] | None = None,
) -> Assessment:
    """Value, best action (EV > 0 targeted) and risk band for each customer scored ``probability``; ``prevented``:
    the learned uplift of the actions an uplift model knows (:func:`churn.actions.best_actions`)."""
    p = np.asarray(probability, dtype=np.float64)
    clv, source, basis = customer_value(customers, len(p), valuation or valuation_of(customers))
    return Assessment(clv=clv, clv_source=source, clv_basis=basis,
                      decisions=best_actions(p, clv, catalogue, customers, prevented), bands=risk_band(p))  # fmt: skip
