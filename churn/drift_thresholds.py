"""When drift is drift: the thresholds the verdicts use, light enough for the CLI to show as its defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DriftThresholds:
    psi_significant: float = 0.20
    psi_moderate: float = 0.10
    mean_shift: float = 0.05  # relative change of the mean probability
    auc_drop: float = 0.10  # relative ROC-AUC drop against the champion's test
    calibration_z: float = 4.0  # |observed − expected churners| in binomial standard deviations ...
    calibration_ratio: float = 0.25  # ... and off by more than this share of the expected count
    bins: int = 10
    epsilon: float = 1e-4
