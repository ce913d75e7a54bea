"""What a training run produced: the registered version, the gate's decision and every figure behind them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training.leakage import LeakageReport
from training.windows import Windows


@dataclass
class TrainResult:
    version: str
    promoted: bool
    decision: list[str]
    test: dict[str, float]
    intervals: dict[str, dict[str, tuple[float, float]]]
    baselines: dict[str, dict[str, float]]
    oracle: dict[str, float] | None
    windows: Windows | None  # None under K-fold (evaluation says how rows were held out)
    leakage: LeakageReport
    tuning: list[dict[str, Any]]
    params: dict[str, Any]
    calibration: dict[str, Any]
    seconds: dict[str, float]
    dropped_features: dict[str, str] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    report: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    clv: dict[str, Any] | None = None  # the lifetime model's version, gate and quality (training/lifetime_fit.py)
    fairness: dict[str, Any] | None = None  # the audit per protected attribute (training/fairness.py)
    protected_cost: dict[str, Any] | None = None  # --exclude-protected: the same model with them, on the same rows
    evaluation: dict[str, Any] = field(default_factory=dict)  # the plan: time windows or K-fold folds × repeats

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "promoted": self.promoted,
            "decision": self.decision,
            "test": self.test,
            "test_ci95": self.intervals.get("model", {}),
            "baselines": self.baselines,
            "windows": self.windows.to_dict() if self.windows else None,
            "evaluation": self.evaluation,
            "leakage": self.leakage.to_dict(),
            "params": self.params,
            "calibration": self.calibration,
            "seconds": self.seconds,
            "dropped_features": self.dropped_features,
            "lineage": self.lineage,
            "report": self.report,
            "clv": self.clv,
            "fairness": self.fairness,
            "protected_cost": self.protected_cost,
        }
        if self.oracle is not None:
            out["oracle"] = self.oracle
            out["ratio_to_oracle"] = {
                k: (self.test[k] / self.oracle[k] if self.oracle.get(k) else None)
                for k in ("roc_auc", "pr_auc", "brier", "precision_at_10", "emp")
            }
        return out
