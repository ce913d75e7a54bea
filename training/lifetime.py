"""The lifetime (CLV) model as serving and scoring load it: a monthly hazard model plus the survival layer.

The artifact is a hazard model's files (encoder, booster, calibrator — the
calibrated monthly churn probability of a customer-month) registered under its
own name (``clv_model``) with its own champion; its metadata holds the margin,
the monthly discount rate and the horizon it values customers with. Nothing here
imports scikit-learn or lifelines, so a serving worker loads it cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churn.economics import MARGIN, MONTHLY_DISCOUNT
from churn.schema import CONTRACT_TERM_MONTHS
from churn.settings import Settings
from churn.survival import (
    DEFAULT_HORIZONS,
    HORIZON_MONTHS,
    Ageing,
    check_horizons,
    churn_within,
    expected_lifetime,
    retained_annuity,
    survival_curves,
)
from training import registry
from training.artifact import ChurnModel

CHUNK = 10_000  # rows valued at a time: their 60 projected months stacked are 600,000 rows (~70 MB as float32)


@dataclass
class LifetimeModel:
    hazard: ChurnModel
    version: str
    margin: float = MARGIN
    monthly_discount: float = MONTHLY_DISCOUNT
    horizon: int = HORIZON_MONTHS
    contract_terms: dict[str, int] = field(default_factory=lambda: dict(CONTRACT_TERM_MONTHS))

    @property
    def features(self) -> list[str]:
        return self.hazard.features

    @property
    def source(self) -> str:
        return f"survival model {self.version}"

    def curves_matrix(self, X: np.ndarray) -> np.ndarray:
        ageing = Ageing.for_columns(self.hazard.encoder.columns, self.contract_terms)
        parts = [survival_curves(X[i : i + CHUNK], self.hazard.predict_matrix, ageing, self.horizon)
                 for i in range(0, len(X), CHUNK)]  # fmt: skip
        return np.vstack(parts) if parts else np.zeros((0, self.horizon), dtype=np.float32)

    def curves(self, frame: pd.DataFrame) -> np.ndarray:
        return self.curves_matrix(self.hazard.encoder.transform(frame))

    def curves_rows(self, rows: list[dict[str, Any]]) -> np.ndarray:
        return self.curves_matrix(self.hazard.encoder.transform_rows(rows))

    def annuity(self, S: np.ndarray) -> np.ndarray:
        """Discounted months still to come for a customer who stays this month; CLV = margin × charges × this."""
        return retained_annuity(S, self.monthly_discount)

    def summary(self, S: np.ndarray, horizons: Sequence[int] = DEFAULT_HORIZONS) -> dict[str, np.ndarray]:
        """Per customer: discounted months (for the value), expected remaining lifetime, churn within each horizon."""
        out = {"clv_annuity": self.annuity(S), "expected_lifetime_months": expected_lifetime(S)}
        out.update({f"churn_within_{h}m": p for h, p in churn_within(S, check_horizons(horizons)).items()})
        return out


def from_metadata(hazard: ChurnModel, version: str) -> LifetimeModel:
    meta = hazard.metadata.get("lifetime") or {}
    return LifetimeModel(hazard, version, float(meta.get("margin", MARGIN)),
                         float(meta.get("monthly_discount", MONTHLY_DISCOUNT)),
                         int(meta.get("horizon", HORIZON_MONTHS)),
                         dict(meta.get("contract_terms") or CONTRACT_TERM_MONTHS))  # fmt: skip


def load_champion_lifetime(settings: Settings, nthread: int = 1) -> LifetimeModel | None:
    """The lifetime model's champion, or None when none is registered (the formula values customers then)."""
    version = registry.read_pointer(settings, "clv").get("champion")
    if not version:
        return None
    return from_metadata(registry.load_model(settings, str(version), nthread=nthread), str(version))
