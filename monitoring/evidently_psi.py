"""Our PSI as an Evidently stat test, so Evidently's drift page and ours judge columns the same way.

Evidently's own ``psi`` bins by equal widths over 30 bins at a 0.1 threshold,
and calls a dataset drifted when half its columns drift; left at those defaults
its page said "not detected" beside ours saying "DRIFT DETECTED". Registering
``churn.drift``'s binning here makes the per-column scores identical to the ones
in ``index.html`` wherever a column has no missing values (Evidently drops them before calling a test; ours
count them as a bin of their own) (imported only where the Evidently report is built: Evidently
takes seconds to import).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
from evidently.legacy.core import ColumnType

from churn.drift import binned_shares
from churn.drift_thresholds import DriftThresholds

_REGISTERED: dict[tuple[int, float], StatTest] = {}


def churn_psi_stattest(thresholds: DriftThresholds) -> StatTest:
    """The stat test for these bins and epsilon (registered once per pair; Evidently's registry is global)."""
    key = (thresholds.bins, thresholds.epsilon)
    if key in _REGISTERED:
        return _REGISTERED[key]
    test = StatTest(
        name=f"churn_psi_b{thresholds.bins}_e{thresholds.epsilon:g}",
        display_name="PSI (churn)",
        allowed_feature_types=[ColumnType.Categorical, ColumnType.Numerical],
        default_threshold=thresholds.psi_significant,
    )

    def _psi(reference: Any, current: Any, feature_type: Any, threshold: float) -> tuple[float, bool]:
        r, c = binned_shares(reference, current, thresholds.bins, thresholds.epsilon)
        value = float(np.sum((c - r) * np.log(c / r)))
        return value, value > threshold  # strictly above, as churn.drift.level says "significant"

    register_stattest(test, _psi)
    _REGISTERED[key] = test
    return test
