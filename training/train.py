"""`churn train`: time-aware tuning, the final fit, calibration, evaluation against baselines, registration.

Training data comes only through the model's feature service (a point-in-time
join of the labels), and every model — XGBoost, logistic regression,
HistGradientBoosting and the rule-based baseline — is fitted on the same
development months, calibrated on the same holdout and scored on the same test
months. The test months are touched once.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.clock import platform_clock
from churn.metrics import all_metrics, bootstrap_intervals, pr_auc
from churn.offline import matured_labels, offline_lineage, read_labels
from churn.raw import load_raw, raw_lineage
from churn.schema import ENTITY, EVENT_TIMESTAMP, LABEL
from churn.settings import Settings
from churn.timeutil import InputError
from store.feast_store import DEFAULT_SERVICE, get_store, service_features
from store.training_sets import build_training_set
from training import registry
from training.encoding import FeatureEncoder
from training.leakage import LeakageReport, leakage_gate
from training.models import (
    XGB_START,
    Candidate,
    ChurnModel,
    HistGBCandidate,
    LogisticCandidate,
    RuleBaseline,
    XGBoostCandidate,
    choose_calibrator,
)
from training.readiness import check_trainable, informative_features
from training.windows import Windows, make_windows

# Tuning grid: the original design's parameters first, then shallower, better-regularised alternatives.
DEFAULT_GRID: tuple[dict[str, Any], ...] = (
    dict(XGB_START),
    {"max_depth": 3, "learning_rate": 0.05, "n_estimators": 600, "scale_pos_weight": 1.0, "min_child_weight": 5,
     "subsample": 0.8, "colsample_bytree": 0.8},
    {"max_depth": 2, "learning_rate": 0.1, "n_estimators": 600, "scale_pos_weight": 1.0, "subsample": 0.8},
    {"max_depth": 4, "learning_rate": 0.05, "n_estimators": 600, "scale_pos_weight": 1.0, "min_child_weight": 10,
     "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 5.0},
)  # fmt: skip


class LeakageError(InputError):
    """The leakage gate stopped the run."""


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


@dataclass
class TrainResult:
    version: str
    promoted: bool
    decision: list[str]
    test: dict[str, float]
    intervals: dict[str, dict[str, tuple[float, float]]]
    baselines: dict[str, dict[str, float]]
    oracle: dict[str, float] | None
    windows: Windows
    leakage: LeakageReport
    tuning: list[dict[str, Any]]
    params: dict[str, Any]
    calibration: dict[str, Any]
    seconds: dict[str, float]
    dropped_features: dict[str, str] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    report: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "promoted": self.promoted,
            "decision": self.decision,
            "test": self.test,
            "test_ci95": self.intervals.get("model", {}),
            "baselines": self.baselines,
            "windows": self.windows.to_dict(),
            "leakage": self.leakage.to_dict(),
            "params": self.params,
            "calibration": self.calibration,
            "seconds": self.seconds,
            "dropped_features": self.dropped_features,
            "lineage": self.lineage,
            "report": self.report,
        }
        if self.oracle is not None:
            out["oracle"] = self.oracle
            out["ratio_to_oracle"] = {
                k: (self.test[k] / self.oracle[k] if self.oracle.get(k) else None)
                for k in ("roc_auc", "pr_auc", "brier", "precision_at_10", "emp")
            }
        return out


def _code_version() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        )
        if rev.returncode == 0:
            return rev.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from churn import __version__

    return __version__


def load_training_frame(settings: Settings, service: str) -> tuple[pd.DataFrame, list[str]]:
    """Labels joined point-in-time with the service's features, plus the snapshot month of each row."""
    store = get_store(settings)
    labels = matured_labels(read_labels(settings.labels_path), platform_clock(settings))
    if labels.empty:
        raise InputError(f"training: no labels matured before {settings.as_of or 'the latest snapshot'}")
    frame = build_training_set(store, labels, service)
    frame["month"] = frame[EVENT_TIMESTAMP].dt.strftime("%Y-%m")
    return frame, service_features(store, service)


def _oracle(settings: Settings, test: pd.DataFrame) -> np.ndarray | None:
    raw = load_raw(settings.raw_dir, with_extras=True)
    if raw.oracle is None:
        return None
    oracle = raw.oracle.astype({"customer_id": str, "snapshot_month": str}).rename(columns={"snapshot_month": "month"})
    joined = test[[ENTITY, "month"]].merge(oracle, on=[ENTITY, "month"], how="left")
    if joined["hazard"].isna().any():
        return None
    return joined["hazard"].to_numpy()


def train(
    settings: Settings, config: TrainConfig | None = None, progress: Callable[[str], None] | None = None
) -> TrainResult:
    config = config or TrainConfig()
    if config.promote not in ("auto", "force", "never"):
        raise InputError(f"--promote: must be auto, force or never, got {config.promote!r}")
    say = progress or (lambda _msg: None)
    clock: dict[str, float] = {}
    began = time.perf_counter()

    say("reading the training set through the feature service")
    frame, names = load_training_frame(settings, config.service)
    windows = make_windows(
        sorted(frame["month"].unique()), config.test_months, config.calibration_months, config.folds,
        config.valid_months,
    )  # fmt: skip
    clock["read"] = time.perf_counter() - began
    y = frame[LABEL].to_numpy().astype(np.int64)
    month = frame["month"].to_numpy()

    def rows(months: tuple[str, ...]) -> np.ndarray:
        return np.isin(month, months)

    usable, dropped = informative_features(frame[rows(windows.development)], names)
    check_trainable(y, month, windows, usable, dropped)
    for name, why in dropped.items():
        say(f"left out {name}: {why}")
    encoder = FeatureEncoder.for_features(usable)
    X = encoder.transform(frame)

    last = windows.folds[-1]
    say("leakage gate")
    leakage = leakage_gate(
        frame[rows(last.train)], frame[rows(last.valid)], usable, config.leakage_bound, list(config.allow_features)
    )
    if not leakage.passed:
        raise LeakageError(leakage.message())

    say("tuning XGBoost on time-aware folds")
    t0 = time.perf_counter()
    tuning: list[dict[str, Any]] = []
    for params in config.grid:
        scores, iterations = [], []
        for fold in windows.folds:
            tr, va = rows(fold.train), rows(fold.valid)
            cand = XGBoostCandidate(params, seed=settings.seed)
            cand.fit(X[tr], y[tr], valid=(X[va], y[va]))
            scores.append(pr_auc(y[va], cand.score(X[va])))
            iterations.append(int(cand.best_iteration or 0) + 1)
        tuning.append({"params": params, "pr_auc_folds": scores, "pr_auc_mean": float(np.mean(scores)),
                       "best_iterations": iterations})  # fmt: skip
    best = max(tuning, key=lambda t: t["pr_auc_mean"])
    n_trees = int(np.median(best["best_iterations"]))
    final_params = {**best["params"], "n_estimators": n_trees}
    clock["tuning"] = time.perf_counter() - t0

    dev, cal, test = rows(windows.development), rows(windows.calibration), rows(windows.test)
    groups = frame[ENTITY].to_numpy()
    say("final fit and calibration")
    t0 = time.perf_counter()
    xgb_final = XGBoostCandidate(final_params, seed=settings.seed)
    xgb_final.fit(X[dev], y[dev])
    calibrator, cal_scores = choose_calibrator(xgb_final.score(X[cal]), y[cal], groups[cal], settings.seed)
    clock["final_fit_and_calibration"] = time.perf_counter() - t0

    say("baselines")
    t0 = time.perf_counter()
    probabilities: dict[str, np.ndarray] = {"model": calibrator(xgb_final.score(X[test]))}
    baselines: tuple[Candidate, ...] = (
        LogisticCandidate(settings.seed),
        HistGBCandidate(settings.seed),
        RuleBaseline(),
    )
    for baseline in baselines:
        baseline.fit(X[dev], y[dev], frame[dev])
        cal_b, _ = choose_calibrator(baseline.score(X[cal], frame[cal]), y[cal], groups[cal], settings.seed)
        probabilities[baseline.name] = cal_b(baseline.score(X[test], frame[test]))
    # the design's parameters as they were, calibrated the same way, for the record
    start = XGBoostCandidate(dict(XGB_START), seed=settings.seed)
    start.fit(X[dev], y[dev])
    cal_s, _ = choose_calibrator(start.score(X[cal]), y[cal], groups[cal], settings.seed)
    probabilities["xgboost_design_params"] = cal_s(start.score(X[test]))
    oracle = _oracle(settings, frame[test])
    if oracle is not None:
        probabilities["oracle"] = oracle
    clock["baselines"] = time.perf_counter() - t0

    say("metrics with bootstrap intervals over customers")
    t0 = time.perf_counter()
    metrics = {name: all_metrics(y[test], p) for name, p in probabilities.items()}
    intervals = {
        name: bootstrap_intervals(y[test], p, groups[test], n_boot=config.bootstrap, seed=settings.seed)
        for name, p in probabilities.items()
        if config.bootstrap > 0
    }
    clock["evaluation"] = time.perf_counter() - t0

    model = ChurnModel(encoder=encoder, booster=xgb_final.booster, calibrator=calibrator)
    clock["total"] = time.perf_counter() - began
    data_lineage = offline_lineage(settings.offline_dir) or raw_lineage(settings.raw_dir) or {"source": None}
    metadata = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "feature_service": config.service,
        "features": usable,
        "service_features": names,
        "dropped_features": dropped,
        "encoded_columns": encoder.columns,
        "windows": windows.to_dict(),
        "params": final_params,
        "tuning": tuning,
        "calibration": {"method": calibrator.method, "brier_cross_fitted": cal_scores},
        "test": metrics["model"],
        "test_ci95": intervals.get("model", {}),
        "baselines": {k: v for k, v in metrics.items() if k not in ("model", "oracle")},
        "oracle": metrics.get("oracle"),
        "leakage": leakage.to_dict(),
        "code_version": _code_version(),
        "source": data_lineage.get("source"),
        "lineage": data_lineage,
        "rows": {"development": int(dev.sum()), "calibration": int(cal.sum()), "test": int(test.sum())},
        "seconds": clock,
    }
    version = registry.save_model(settings, model, metadata)

    say("promotion decision")
    decision = _promotion(settings, config, version, metrics["model"], frame[test], leakage.passed)

    result = TrainResult(
        version=version,
        promoted=decision.promote,
        decision=decision.reasons,
        test=metrics["model"],
        intervals=intervals,
        baselines={k: v for k, v in metrics.items() if k not in ("model", "oracle")},
        oracle=metrics.get("oracle"),
        windows=windows,
        leakage=leakage,
        tuning=tuning,
        params=final_params,
        calibration={"method": calibrator.method, "brier_cross_fitted": cal_scores},
        seconds=clock,
        dropped_features=dropped,
        lineage=dict(data_lineage),
    )
    if config.report:
        from training.report import write_model_report

        say("model report")
        result.report = str(write_model_report(settings, model, result, probabilities, y[test], frame[test], metadata))
    return result


def _promotion(
    settings: Settings,
    config: TrainConfig,
    version: str,
    challenger: dict[str, float],
    test_frame: pd.DataFrame,
    leakage_passed: bool,
) -> registry.Decision:
    if config.promote == "never":
        decision = registry.Decision(False, ["--promote never"])
        registry.keep(settings, version, decision.reasons)
        return decision
    if config.promote == "force":
        decision = registry.Decision(True, ["--promote force"])
        registry.promote(settings, version, decision.reasons)
        return decision
    current = registry.read_pointer(settings).get("champion")
    champion_metrics, error = None, None
    if current:
        try:
            champion = registry.load_model(settings, current)
            p = champion.predict_proba(test_frame)
            champion_metrics = all_metrics(test_frame[LABEL].to_numpy(), p)
        except (InputError, KeyError, ValueError) as err:
            error = str(err)
    decision = registry.decide(challenger, champion_metrics, leakage_passed, config.margin, error)
    if current and champion_metrics is not None:
        decision.reasons.insert(0, f"compared with champion {current} on the same test window")
    if decision.promote:
        registry.promote(settings, version, decision.reasons)
    else:
        registry.keep(settings, version, decision.reasons)
    return decision
