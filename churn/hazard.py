"""The simulator's true monthly churn hazard, as a function of snapshot features.

The hazard of month m reads only the features of the snapshot at the start of m,
so the oracle (the best possible score) uses exactly the information a model
has: it is a fair limit, not a peek at the future. A test rebuilds the snapshots
from raw data and recomputes this function to prove the two agree.

logit h = intercept
        + contract effect (month-to-month, one year; two year is the reference)
        + fiber + electronic check + senior − partner − dependents
        + tenure · log(1 + tenure_months)
        + charges · (monthly_charges − 65) / 10
        + price_rise · clip(charges_trend_6m / avg_monthly_charges_3m, 0, 0.2)   (a recent price rise hurts)
        + term_end · [contract with a term and ≤ 1 month left]                     (renewal decisions)
        + tickets · min(num_support_tickets_3m, 6)
        + late · min(num_late_payments_6m, 4)
Null features (no invoice yet; behaviour a source lacks) contribute nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class HazardCoefficients:
    intercept: float = -3.85
    month_to_month: float = 1.15
    one_year: float = 0.35
    fiber: float = 0.45
    electronic_check: float = 0.30
    senior: float = 0.20
    partner: float = -0.12
    dependents: float = -0.12
    tenure: float = -0.30
    charges: float = 0.06
    price_rise: float = 6.0
    term_end: float = 1.2
    tickets: float = 0.28
    late: float = 0.30

    def drifted(self, strength: float) -> HazardCoefficients:
        """Concept drift: what drives churn changes, not the customers.

        At strength 1 contracts lose most of their protective effect, fiber and
        tickets matter far more and tenure protects less; 0 is no change.
        """
        s = float(strength)
        return replace(
            self,
            month_to_month=self.month_to_month - 0.9 * s,
            one_year=self.one_year - 0.3 * s,
            fiber=self.fiber + 1.0 * s,
            tickets=self.tickets + 0.35 * s,
            tenure=self.tenure + 0.25 * s,
            electronic_check=self.electronic_check + 0.5 * s,
        )


def feature_column(features: Mapping[str, object], name: str) -> np.ndarray:
    return np.asarray(features[name], dtype="float64")


def feature_is(features: Mapping[str, object], name: str, label: str) -> np.ndarray:
    """True where the categorical feature equals ``label``. The simulator hands its categories over as codes
    (``pd.Categorical``): comparing ~700,000 strings per month is most of a forward run's hazard."""
    column = features[name]
    if isinstance(column, pd.Categorical):
        codes = column.categories.get_indexer([label])[0]
        return (column.codes == codes) & (codes >= 0)
    return np.asarray(column, dtype=object) == label


def _nan_as_zero(x: np.ndarray) -> np.ndarray:
    """Null features contribute nothing (the arrays here are finite or NaN: no infinity reaches them)."""
    return np.where(np.isnan(x), 0.0, x)


def hazard_logit(features: Mapping[str, object], coef: HazardCoefficients) -> np.ndarray:
    mtm = feature_is(features, "contract_type", "Month-to-month")
    one_year = feature_is(features, "contract_type", "One year")
    charges = _nan_as_zero(feature_column(features, "monthly_charges") - 65.0)
    avg3 = feature_column(features, "avg_monthly_charges_3m")
    trend = feature_column(features, "charges_trend_6m")
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = _nan_as_zero(np.clip(trend / avg3, 0.0, 0.2))
    remaining = feature_column(features, "contract_remaining_months")
    term_end = ~mtm & (remaining <= 1)
    tickets = _nan_as_zero(np.minimum(feature_column(features, "num_support_tickets_3m"), 6.0))
    late = _nan_as_zero(np.minimum(feature_column(features, "num_late_payments_6m"), 4.0))
    return (
        coef.intercept
        + coef.month_to_month * mtm
        + coef.one_year * one_year
        + coef.fiber * feature_column(features, "has_fiber_optic")
        + coef.electronic_check * feature_is(features, "payment_method", "Electronic check")
        + coef.senior * feature_column(features, "senior_citizen")
        + coef.partner * feature_column(features, "partner")
        + coef.dependents * feature_column(features, "dependents")
        + coef.tenure * np.log1p(feature_column(features, "tenure_months"))
        + coef.charges * charges / 10.0
        + coef.price_rise * rise
        + coef.term_end * term_end
        + coef.tickets * tickets
        + coef.late * late
    )


def hazard(features: Mapping[str, object], coef: HazardCoefficients) -> np.ndarray:
    """Probability of churning within the month that starts at the snapshot."""
    return 1.0 / (1.0 + np.exp(-hazard_logit(features, coef)))
