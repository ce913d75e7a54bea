"""The leakage gate: a feature that predicts the label almost alone is a bug until shown otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churn.metrics import roc_auc
from churn.schema import LABEL


@dataclass
class LeakageReport:
    bound: float
    single_feature_auc: dict[str, float]
    allowed: list[str] = field(default_factory=list)

    @property
    def violations(self) -> dict[str, float]:
        return {
            name: auc for name, auc in self.single_feature_auc.items() if auc > self.bound and name not in self.allowed
        }

    @property
    def passed(self) -> bool:
        return not self.violations

    def message(self) -> str:
        items = ", ".join(f"{n} (AUC {a:.3f})" for n, a in sorted(self.violations.items(), key=lambda kv: -kv[1]))
        return (
            f"leakage gate: {items} alone separate churners above the bound {self.bound:.2f} on the validation "
            f"window. Check how the feature is built (is anything known after the snapshot?); if it is honest, "
            f"allow it with --allow-feature NAME."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "bound": self.bound,
            "allowed": self.allowed,
            "passed": self.passed,
            "violations": self.violations,
            "single_feature_auc": self.single_feature_auc,
        }


def single_feature_auc(train: pd.DataFrame, valid: pd.DataFrame, features: list[str]) -> dict[str, float]:
    """max(AUC, 1 − AUC) of each feature alone on ``valid``.

    Numbers and booleans score as themselves (missing as the training median);
    categories score as their churn rate in ``train``.
    """
    y = valid[LABEL].to_numpy()
    out: dict[str, float] = {}
    for name in features:
        col = valid[name]
        if col.dtype == object or isinstance(col.dtype, pd.CategoricalDtype):
            rates = train.groupby(train[name].astype(str))[LABEL].mean()
            score = col.astype(str).map(rates).fillna(train[LABEL].mean()).to_numpy(dtype=float)
        else:
            values = pd.to_numeric(col, errors="coerce").astype(float)
            if values.isna().all():
                continue
            fill = pd.to_numeric(train[name], errors="coerce").astype(float).median()
            score = values.fillna(0.0 if np.isnan(fill) else fill).to_numpy()
        auc = roc_auc(y, score)
        if not np.isnan(auc):
            out[name] = round(float(max(auc, 1 - auc)), 4)
    return out


def leakage_gate(
    train: pd.DataFrame, valid: pd.DataFrame, features: list[str], bound: float = 0.80, allowed: list[str] | None = None
) -> LeakageReport:
    return LeakageReport(
        bound=bound, single_feature_auc=single_feature_auc(train, valid, features), allowed=allowed or []
    )
