"""How a training run is set up: the tuning grid, the baselines' parameters and the run's options.

Plain data with no heavy imports, so the CLI can show these defaults in its
help without loading the training stack, and the Telco benchmark reads the same
parameters as the training baselines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from churn.schema import DEFAULT_SERVICE

XGB_START = {  # the original design's parameters: a starting point for tuning, not the answer
    "max_depth": 6,
    "learning_rate": 0.05,
    "n_estimators": 200,
    "scale_pos_weight": 3.0,
}

# HistGradientBoosting, the strongest sklearn baseline; no early stopping: its validation split is random rows,
# which would mix months
HGB_PARAMS: dict[str, Any] = {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 15, "early_stopping": False}

# Tuning grid: the original design's parameters first, then shallower, better-regularised alternatives.
DEFAULT_GRID: tuple[dict[str, Any], ...] = (
    dict(XGB_START),
    {"max_depth": 3, "learning_rate": 0.05, "n_estimators": 600, "scale_pos_weight": 1.0, "min_child_weight": 5,
     "subsample": 0.8, "colsample_bytree": 0.8},
    {"max_depth": 2, "learning_rate": 0.1, "n_estimators": 600, "scale_pos_weight": 1.0, "subsample": 0.8},
    {"max_depth": 4, "learning_rate": 0.05, "n_estimators": 600, "scale_pos_weight": 1.0, "min_child_weight": 10,
     "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 5.0},
)  # fmt: skip


@dataclass
class TrainConfig:
    test_months: int = 3
    calibration_months: int = 2
    folds: int = 3
    valid_months: int = 2
    leakage_bound: float = 0.80
    allow_features: tuple[str, ...] = ()
    bootstrap: int = 100
    promote: str = "auto"  # auto | force | never
    margin: float = 0.005
    service: str = DEFAULT_SERVICE
    grid: tuple[dict[str, Any], ...] = DEFAULT_GRID
    report: bool = True
    exclude_features: tuple[str, ...] = ()  # --exclude-protected: the protected attributes, left out and compared
    evaluation: str = "auto"  # auto | time | kfold (auto: K-fold on a cross-section source, time otherwise)
    cv_folds: int = 5  # K-fold: outer folds
    cv_repeats: int = 2  # K-fold: repeats, each with its own shuffle
