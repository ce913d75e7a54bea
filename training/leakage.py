"""The leakage gate: a feature that predicts the label almost alone is a bug until shown otherwise.

It weighs how a feature is built, not its AUC alone. The platform's features are
built point-in-time by code the suite proves, and none is expected to separate
churners alone: above the bound (0.80) each is refused. A declared feature is
the deployment's own data, and honest usage and service columns of public
telecom files reach 0.79-0.80 alone; so:

- a declared feature whose **name or source column says what the label says**
  (churn, cancel, terminated, reason, score, retention ...) is refused whatever
  its AUC: that is how a CRM's "churn reason" or "churn score" gets into a model;
- a declared **aggregate** is windowed before the snapshot over readings known
  by then, so its bound is higher (0.90): above it, even a well-built window is
  suspicious (readings dated before they were taken, a metric that is the label);
- a declared **attribute** is a value held from signup: in a cross-section it was
  observed at the file's date, after every reconstructed snapshot, so it gets the
  aggregate's bound and the explanation says so.

Each refusal says which rule refused it and why; ``allow`` (the mapping's
``features.allow`` or ``--allow-feature``) lets a named feature through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churn.declared import PLATFORM_FEATURES, SUSPECT_NAME, FeatureSet
from churn.metrics import roc_auc
from churn.schema import LABEL

DECLARED_BOUND = 0.90


@dataclass
class LeakageReport:
    bound: float
    single_feature_auc: dict[str, float]
    allowed: list[str] = field(default_factory=list)
    bounds: dict[str, float] = field(default_factory=dict)  # a declared feature's own bound (how it is built)
    suspect: dict[str, str] = field(default_factory=dict)  # declared feature -> why its name gives the label away
    built: dict[str, str] = field(default_factory=dict)  # declared feature -> how it is built

    def bound_of(self, name: str) -> float:
        return self.bounds.get(name, self.bound)

    @property
    def violations(self) -> dict[str, float]:
        over = {n: auc for n, auc in self.single_feature_auc.items() if auc > self.bound_of(n)}
        named = {n: self.single_feature_auc.get(n, float("nan")) for n in self.suspect}
        return {n: auc for n, auc in {**over, **named}.items() if n not in self.allowed}

    @property
    def passed(self) -> bool:
        return not self.violations

    def reason(self, name: str) -> str:
        """Why one feature was refused: its name, or its AUC against the bound of how it is built."""
        auc = self.single_feature_auc.get(name)
        shown = f"AUC {auc:.3f}" if auc is not None else "AUC not measured"
        how = f"; {self.built[name]}" if name in self.built else ""
        if name in self.suspect:
            return f"{name} ({shown}): {self.suspect[name]}{how}"
        kind = "a declared feature" if name in self.bounds else "a platform feature"
        return f"{name} ({shown} alone, above the bound {self.bound_of(name):.2f} for {kind}{how})"

    def message(self) -> str:
        order = sorted(self.violations, key=lambda n: (n not in self.suspect, -self.violations[n]))
        items = "; ".join(self.reason(n) for n in order)
        return (
            f"leakage gate: {items}. Check how each is built (is anything known after the snapshot, or is it the "
            "label under another name?); if it is honest, allow it by name (--allow-feature NAME, or the mapping's "
            "features.allow)."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "bound": self.bound,
            "allowed": self.allowed,
            "passed": self.passed,
            "violations": self.violations,
            "refusals": {n: self.reason(n) for n in self.violations},
            "declared_bounds": self.bounds,
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


def suspect_reason(name: str, source_column: str | None) -> str | None:
    """Why a declared feature's name (or its export column) reads as the label, or None."""
    for what, text in (("name", name), ("source column", source_column or "")):
        found = SUSPECT_NAME.search(text.lower())
        if found:
            return f"its {what} {text!r} says {found.group(0)!r}: a column about leaving is the label, not a cause"
    return None


def leakage_gate(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    features: list[str],
    bound: float = 0.80,
    allowed: list[str] | None = None,
    declared: FeatureSet = PLATFORM_FEATURES,
) -> LeakageReport:
    ours = [d for d in declared.declared if d.name in features]
    suspect = {d.name: why for d in ours if (why := suspect_reason(d.name, d.source_column))}
    return LeakageReport(
        bound=bound,
        single_feature_auc=single_feature_auc(train, valid, features),
        allowed=allowed or [],
        bounds={d.name: max(bound, DECLARED_BOUND) for d in ours},
        suspect=suspect,
        built={d.name: d.how_built() for d in ours},
    )
