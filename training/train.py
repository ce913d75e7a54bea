"""`churn train`: tuning, the final fit, calibration, evaluation against baselines, registration.

Training data comes only through the model's feature service (a point-in-time
join of the labels), and every model — XGBoost, logistic regression,
HistGradientBoosting and the rule-based baseline — is fitted on the same rows,
calibrated on the same holdout and scored on the same held-out rows, as the
run's :class:`~training.plan.Plan` says: the development, calibration and test
months of a monthly history (the test months are touched once), or repeated
stratified K-fold over the customers of a cross-section. :func:`train` runs the
stages below in order: :func:`prepare`, :func:`tune`, :func:`fit_final`,
:func:`baselines`, :func:`evaluate`, registration and the promotion gate, the
report.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from churn import __version__
from churn.actions import load_catalogue
from churn.assessment import Valuation, assess
from churn.campaigns import read_treatments, treated_months
from churn.clock import platform_clock
from churn.declared import PLATFORM_FEATURES, FeatureSet
from churn.errors import InputError
from churn.labels import PLATFORM, Labels
from churn.metrics import all_metrics, bootstrap_intervals, pr_auc
from churn.offline import matured_labels, offline_features, offline_labels, offline_lineage, read_labels
from churn.policy import compare_policies
from churn.raw import load_extras, load_manifest, raw_lineage
from churn.schema import DEFAULT_SERVICE, ENTITY, EVENT_TIMESTAMP, LABEL
from churn.settings import Settings
from churn.timeutil import month_labels, parse_month
from store.feast_store import feature_service, get_store, service_features
from store.training_sets import build_training_set
from training import registry
from training.artifact import Calibrator, ChurnModel
from training.cache import cached, file_stamps
from training.calibration import choose_calibrator
from training.candidates import Candidate, HistGBCandidate, LogisticCandidate, RuleBaseline, XGBoostCandidate
from training.config import XGB_START, TrainConfig
from training.encoding import FeatureEncoder
from training.fairness import audit, protected_of
from training.leakage import LeakageReport, leakage_gate
from training.lifetime import LifetimeModel
from training.lifetime_fit import fit_lifetime
from training.plan import KFOLD, MODES, TIME, Plan, Split, kfold_plan, month_selector, time_plan
from training.promotion import promotion_decision
from training.readiness import check_trainable, informative_features
from training.report import write_model_report
from training.result import TrainResult
from training.windows import Windows, make_windows

Say = Callable[[str], None]
# progress(message, done, total): total is None until the tuning folds are known (after reading the training set)
Progress = Callable[[str, int, int | None], None]


class LeakageError(InputError):
    """The leakage gate stopped the run."""


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
    return __version__


def load_training_frame(settings: Settings, service: str) -> tuple[pd.DataFrame, list[str], bool]:
    """Labels joined point-in-time with the service's features, plus the snapshot month of each row; and whether
    it came from the cache (the same service definition, clock and offline files as a run before)."""
    store = get_store(settings)
    clock = platform_clock(settings)
    definition = [
        (p.name, [(f.name, str(f.dtype)) for f in p.features], store.get_feature_view(p.name).ttl.total_seconds())
        for p in feature_service(store, service).feature_view_projections
    ]
    files = [*settings.snapshots_dir.rglob("*.parquet"), settings.labels_path]
    parts = {"service": service, "definition": definition, "clock": str(clock), "profile": settings.profile,
             "files": file_stamps([f for f in files if f.exists()])}  # fmt: skip

    def build() -> pd.DataFrame:
        labels = matured_labels(read_labels(settings.labels_path), clock)
        if labels.empty:
            raise InputError(f"training: no labels matured before {settings.as_of or 'the latest snapshot'}")
        frame = build_training_set(store, labels, service)
        frame["month"] = month_labels(frame[EVENT_TIMESTAMP])
        return frame

    frame, hit = cached(settings.home_dir, "training_set", parts, build)
    return frame, service_features(store, service), hit


def without_treated(settings: Settings, frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The training rows less the customer-months a campaign's treatment may have moved (docs/decisions 0011):
    the risk model estimates churn without an action, which is what both the catalogue's EV and an uplift
    compare with; a treated customer's churn that month says how the action worked, not how risky they were."""
    log = read_treatments(settings.data_dir)
    if log.empty:
        return frame, 0
    moved = treated_months(log)
    key = pd.MultiIndex.from_arrays([moved[ENTITY], moved["month"]])
    codes, labels = pd.factorize(frame["month"])
    month = np.array([parse_month(str(m)) for m in labels], dtype=np.int64)[codes]
    rows = pd.MultiIndex.from_arrays([frame[ENTITY].astype(str), month])
    hit = rows.isin(key)
    return (frame[~hit].reset_index(drop=True), int(hit.sum())) if hit.any() else (frame, 0)


def _oracle(settings: Settings, test: pd.DataFrame) -> np.ndarray | None:
    """The simulator's true hazards for the test rows, or None on data without an oracle."""
    oracle, _ = load_extras(settings.raw_dir)
    if oracle is None:
        return None
    oracle = oracle.astype({"customer_id": str, "snapshot_month": str}).rename(columns={"snapshot_month": "month"})
    joined = test[[ENTITY, "month"]].merge(oracle, on=[ENTITY, "month"], how="left")
    if joined["hazard"].isna().any():
        return None
    return joined["hazard"].to_numpy()


@dataclass
class TrainingSet:
    """The labelled rows, how they are held out, the features the model uses and the encoded matrix."""

    frame: pd.DataFrame
    service_features: list[str]
    features: list[str]
    dropped: dict[str, str]
    windows: Windows | None  # the time windows of a monthly history; None under K-fold
    plan: Plan
    encoder: FeatureEncoder
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray  # customer of each row: bootstrap and calibration resample whole customers
    cached: bool = False  # the frame came from the training-set cache
    labels: Labels = PLATFORM  # the source's category labels (the encoder's one-hot columns)
    declared: FeatureSet = PLATFORM_FEATURES  # the deployment's features (its declared ones beside the platform's)
    treated_left_out: int = 0  # customer-months a campaign treated, not trained on (without_treated)

    def rows(self, months: tuple[str, ...]) -> np.ndarray:
        return self._month_rows(months)

    @functools.cached_property
    def _month_rows(self) -> Callable[[tuple[str, ...]], np.ndarray]:
        return month_selector(self.frame["month"].to_numpy())

    @property
    def test(self) -> np.ndarray:
        return self.plan.test


def evaluation_mode(settings: Settings, requested: str) -> str:
    """``--evaluation auto`` is K-fold on a cross-section source (its months are reconstructed), time otherwise."""
    if requested not in MODES:
        raise InputError(f"--evaluation: must be one of {', '.join(MODES)}, got {requested!r}")
    if requested != "auto":
        return requested
    return KFOLD if load_manifest(settings.raw_dir).get("kind") == "cross_section" else TIME


def last_labelled_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Each customer's last labelled row: a cross-section's unit (a churner at the month they left, a stayer at the
    latest matured month), so that no customer is both trained and tested on."""
    order = frame.sort_values([ENTITY, EVENT_TIMESTAMP], kind="stable")
    return order.drop_duplicates(ENTITY, keep="last").reset_index(drop=True)


def prepare(settings: Settings, config: TrainConfig, say: Say) -> TrainingSet:
    """The training set, checked: uninformative features left out and named, hopeless sets refused in one line."""
    say("reading the training set through the feature service")
    frame, names, hit = load_training_frame(settings, config.service)
    if hit:
        say("the training set: the same data as a run before, read from the cache")
    frame, treated = without_treated(settings, frame)
    if treated:
        say(f"left out {treated:,} customer-months a campaign treated (their labels are the treatment's, not risk)")
    mode = evaluation_mode(settings, config.evaluation)
    windows: Windows | None = None
    if mode == KFOLD:
        frame = last_labelled_rows(frame)
        development = np.ones(len(frame), dtype=bool)
    else:
        windows = make_windows(
            sorted(frame["month"].unique()), config.test_months, config.calibration_months, config.folds,
            config.valid_months,
        )  # fmt: skip
        by_time = time_plan(frame["month"].to_numpy(), windows)
        development = by_time.final.fit  # the development months' rows
    y = frame[LABEL].to_numpy().astype(np.int64)
    usable, dropped = informative_features(frame[development], names)
    for name in config.exclude_features:
        if name in usable:
            usable.remove(name)
            dropped[name] = "protected attribute, left out by --exclude-protected"
    check_trainable(y, frame["month"].to_numpy(), windows, usable, dropped)
    plan = kfold_plan(y, config.cv_folds, config.cv_repeats, settings.seed) if windows is None else by_time
    for name, why in dropped.items():
        say(f"left out {name}: {why}")
    labels = offline_labels(settings.offline_dir)
    declared = offline_features(settings.offline_dir)
    encoder = FeatureEncoder.for_features(usable, labels, declared)
    return TrainingSet(frame, names, usable, dropped, windows, plan, encoder, encoder.transform(frame), y,
                       frame[ENTITY].to_numpy(), hit, labels, declared, treated)  # fmt: skip


def gate_leakage(ts: TrainingSet, config: TrainConfig) -> LeakageReport:
    """Single-feature AUC on the final split's last tuning fold (a time plan: the last fold's validation months);
    raises LeakageError when a feature fails."""
    train, valid = ts.plan.final.tuning[-1]
    report = leakage_gate(ts.frame[train], ts.frame[valid], ts.features, config.leakage_bound,
                          [*config.allow_features, *ts.declared.allow], ts.declared)  # fmt: skip
    if not report.passed:
        raise LeakageError(report.message())
    return report


def tuning_fits(configurations: int, folds: int) -> int:
    """How many fits :func:`tune` makes: every configuration on the first fold, the survivors on the others."""
    return configurations + survivors_of(configurations) * (folds - 1)


def survivors_of(configurations: int) -> int:
    return min(configurations, max(2, math.ceil(configurations / 2)))


def tune(
    ts: TrainingSet, grid: tuple[dict[str, Any], ...], seed: int, say: Say, split: Split | None = None
) -> tuple[list[dict[str, Any]], dict]:
    """PR-AUC of each configuration on the split's tuning folds (early stopping on each validation part): the
    expanding-window folds of a time plan, the inner folds of a K-fold split (default: the final split's).

    Successive halving over the folds: every configuration is scored on the first fold (the smallest, so the
    cheapest), and the better half — two at least — goes on to the others; the choice is the best mean PR-AUC
    over all folds among those. On the data measured, the grid's configurations lay within noise of each other
    except the clearly worse ones, which the first fold already shows; a third of the fits is saved (8 of 12).
    Returns every configuration's record (the folds it was scored on) and the chosen parameters, with the median
    of its best iteration counts as the number of trees.
    """
    folds = (split or ts.plan.final).tuning
    records: list[dict[str, Any]] = [{"params": p, "pr_auc_folds": [], "best_iterations": []} for p in grid]
    fits, done = tuning_fits(len(grid), len(folds)), 0
    alive = records
    for k, (tr, va) in enumerate(folds):
        X_valid = ts.X[va]
        dtrain, dvalid = xgb.DMatrix(ts.X[tr], label=ts.y[tr]), xgb.DMatrix(X_valid, label=ts.y[va])
        for record in alive:
            candidate = XGBoostCandidate(record["params"], seed=seed)
            candidate.fit_matrices(dtrain, dvalid)
            record["pr_auc_folds"].append(pr_auc(ts.y[va], candidate.score(X_valid)))
            record["best_iterations"].append(int(candidate.best_iteration or 0) + 1)
            done += 1
            say(f"tuning: fit {done} of {fits}")
        if k == 0:
            ranked = sorted(alive, key=lambda r: -r["pr_auc_folds"][0])  # stable: the grid's order breaks ties
            alive = ranked[: survivors_of(len(alive))]
    for record in records:
        record["pr_auc_mean"] = float(np.mean(record["pr_auc_folds"]))
        record["folds_scored"] = len(record["pr_auc_folds"])
    best = max(alive, key=lambda t: t["pr_auc_mean"])
    return records, {**best["params"], "n_estimators": int(np.median(best["best_iterations"]))}


def fit_final(
    ts: TrainingSet, params: dict[str, Any], seed: int, split: Split | None = None
) -> tuple[XGBoostCandidate, Calibrator, dict]:
    """The chosen configuration fitted on the split's fitting rows (default: the final split's — the development
    months of a time plan), calibrated on its calibration rows."""
    split = split or ts.plan.final
    fit, cal = split.fit, split.calibration
    final = XGBoostCandidate(params, seed=seed)
    final.fit(ts.X[fit], ts.y[fit])
    calibrator, scores = choose_calibrator(final.score(ts.X[cal]), ts.y[cal], ts.groups[cal], seed)
    return final, calibrator, scores


def calibrated_on(
    ts: TrainingSet, candidate: Candidate, split: Split, seed: int, X: np.ndarray | None = None
) -> np.ndarray:
    """``candidate`` fitted on the split's fitting rows, calibrated on its calibration rows: its test probabilities."""
    X = ts.X if X is None else X
    fit, cal, test = split.fit, split.calibration, split.test
    candidate.fit(X[fit], ts.y[fit], ts.frame[fit])
    calibrator, _ = choose_calibrator(candidate.score(X[cal], ts.frame[cal]), ts.y[cal], ts.groups[cal], seed)
    return calibrator(candidate.score(X[test], ts.frame[test]))


def held_out(ts: TrainingSet, predict: Callable[[Split], np.ndarray]) -> np.ndarray:
    """(repeats, reported rows): each row's probability from models that never saw it, one line per repeat."""
    out = np.full((ts.plan.repeats, len(ts.y)), np.nan)
    for split in ts.plan.outer:
        out[split.repeat, split.test] = predict(split)
    return out[:, ts.test]


def model_held_out(
    ts: TrainingSet, config: TrainConfig, seed: int, say: Say, shipped: tuple[XGBoostCandidate, Calibrator]
) -> np.ndarray:
    """The model's held-out probabilities. A time plan's are the shipped model's on the test months; a K-fold
    plan chooses, fits and calibrates afresh inside every split, so nothing is tuned on the rows it reports."""
    if ts.plan.shares_final:
        final, calibrator = shipped
        return calibrator(final.score(ts.X[ts.test]))[None, :]
    steps = iter(range(1, len(ts.plan.outer) + 1))

    def predict(split: Split) -> np.ndarray:
        _, params = tune(ts, config.grid, seed, lambda _: None, split)
        fitted, calibrator, _ = fit_final(ts, params, seed, split)
        say(f"cross-validation: split {next(steps)} of {len(ts.plan.outer)}")
        return calibrator(fitted.score(ts.X[split.test]))

    return held_out(ts, predict)


def baselines(settings: Settings, ts: TrainingSet, say: Say) -> dict[str, np.ndarray]:
    """Held-out probabilities of every baseline, fitted and calibrated exactly as the model was (and the oracle's
    true hazards on simulated data)."""
    makers: tuple[Callable[[], Candidate], ...] = (
        lambda: LogisticCandidate(settings.seed),
        lambda: HistGBCandidate(settings.seed),
        RuleBaseline,
        lambda: XGBoostCandidate(dict(XGB_START), seed=settings.seed),  # the design's parameters, for the record
    )
    out: dict[str, np.ndarray] = {}
    for k, make in enumerate(makers, start=1):
        name = make().name
        say(f"baselines: {k} of {len(makers)} ({name})")
        name = "xgboost_design_params" if k == len(makers) else name

        def predict(split: Split, make: Callable[[], Candidate] = make) -> np.ndarray:
            return calibrated_on(ts, make(), split, settings.seed)

        out[name] = held_out(ts, predict)
    oracle = _oracle(settings, ts.frame[ts.test])
    if oracle is not None:
        out["oracle"] = np.broadcast_to(oracle, (ts.plan.repeats, len(oracle)))
    return out


def evaluate(
    ts: TrainingSet, probabilities: dict[str, np.ndarray], bootstrap: int, seed: int
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, tuple[float, float]]]]:
    """Every metric of every model on the held-out rows (the mean over a K-fold plan's repeats), and 95% intervals
    resampling customers (on the first repeat)."""
    y, groups = ts.y[ts.test], ts.groups[ts.test]
    metrics = {name: _mean_metrics(y, p) for name, p in probabilities.items()}
    if bootstrap <= 0:
        return metrics, {}
    # one model's replicates per thread: the work is numpy's sorting, which runs without the GIL, and each model's
    # replicates use their own generator seeded alike, so the intervals are the same as one after another
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(bootstrap_intervals, y, p[0], groups, bootstrap, seed)
                   for name, p in probabilities.items()}  # fmt: skip
        intervals = {name: future.result() for name, future in futures.items()}
    return metrics, intervals


def _mean_metrics(y: np.ndarray, per_repeat: np.ndarray) -> dict[str, float]:
    runs = [all_metrics(y, p) for p in per_repeat]
    if len(runs) == 1:
        return runs[0]
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def realised_policy_value(settings: Settings, ts: TrainingSet, p_test: np.ndarray) -> float | None:
    """Realised net value of EV targeting (the catalogue, the formula's CLV) on the last test month, from the
    simulation's offer responses and the month's real outcomes; None on data without offer responses or test
    months."""
    _, offers = load_extras(settings.raw_dir)
    if offers is None or ts.windows is None:
        return None
    test = ts.frame[ts.test].reset_index(drop=True).assign(probability=p_test)
    month = test[test["month"] == ts.windows.test[-1]]
    frame = month.assign(churned=month[LABEL].astype(bool), customer_id=month[ENTITY].astype(str)).merge(
        offers.astype({ENTITY: str}), on=ENTITY, how="inner")  # fmt: skip
    return float(compare_policies(frame, load_catalogue()).loc["ev_positive", "net_value"])


def with_protected(
    settings: Settings, ts: TrainingSet, params: dict[str, Any], names: tuple[str, ...], without: dict[str, float],
    p_without: np.ndarray,
) -> dict[str, Any]:  # fmt: skip
    """What leaving the protected attributes out costs: the same fit and calibration with them, on the same test
    rows (--exclude-protected): ranking, and on a simulation the realised value of EV targeting."""
    features = [*ts.features, *(n for n in names if n in ts.service_features and n not in ts.features)]
    encoder = FeatureEncoder.for_features(features, ts.labels, ts.declared)
    X = encoder.transform(ts.frame)
    with_them = held_out(
        ts, lambda split: calibrated_on(ts, XGBoostCandidate(params, seed=settings.seed), split, settings.seed, X)
    )
    p_with = with_them[0]
    metrics = _mean_metrics(ts.y[ts.test], with_them)
    cost: dict[str, float] = {
        k: metrics[k] - without[k] for k in ("roc_auc", "pr_auc") if k in metrics and k in without
    }
    value_with, value_without = (realised_policy_value(settings, ts, p) for p in (p_with, p_without))
    if value_with is not None and value_without is not None:
        cost["ev_policy_net_value"] = value_with - value_without
    return {"left_out": [n for n in features if n not in ts.features], "with": metrics, "without": without,
            "cost": cost, "policy_net_value": {"with": value_with, "without": value_without,
                                               "month": ts.windows.test[-1] if ts.windows else None}}  # fmt: skip


def fairness_of_model(
    settings: Settings, ts: TrainingSet, model: ChurnModel, p: np.ndarray, clv: dict[str, Any]
) -> dict[str, Any]:
    """The audit of this model on its test months: whom EV targeting would pick (the catalogue, valued by this run's
    lifetime model when it fitted one, else the formula), and how well it judged each group's churn."""
    test = ts.test
    frame = ts.frame[test].reset_index(drop=True)
    valuation = None
    if clv.get("registered"):
        lifetime = LifetimeModel(model, clv["version"], clv["margin"], clv["monthly_discount"],
                                 contract_terms=dict(ts.labels.contract_terms))  # fmt: skip
        valuation = Valuation(lifetime.annuity(lifetime.curves_matrix(ts.X[test])), lifetime.margin, lifetime.source)
    decisions = assess(p, frame, load_catalogue(), valuation).decisions
    protected = protected_of(settings)
    return audit(frame, decisions.targeted, decisions.cost, protected, ts.y[test], p, seed=settings.seed)


def _row_counts(ts: TrainingSet) -> dict[str, int]:
    treated = {"treated_left_out": ts.treated_left_out} if ts.treated_left_out else {}
    if ts.windows is None:
        return {"customers": len(ts.y), "churners": int(ts.y.sum()), **treated}
    return {**{w: int(ts.rows(getattr(ts.windows, w)).sum()) for w in ("development", "calibration", "test")},
            **treated}  # fmt: skip


class _Steps:
    """Counts the run's steps for a progress bar with a fraction: each stage and each fit is one step."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0
        self.total: int | None = None

    def __call__(self, message: str) -> None:
        if not message.startswith(("left out ", "the training set: ")):  # a note, not a step
            self.done += 1
        if self.progress is not None:
            self.progress(message, self.done, self.total)

    def expect(self, ts: TrainingSet, config: TrainConfig) -> None:
        fits = tuning_fits(len(config.grid), len(ts.plan.final.tuning))
        splits = 0 if ts.plan.shares_final else len(ts.plan.outer)  # K-fold: one step per split (nested tuning)
        # read + gate + fits + final + splits + 4 baselines + evaluation + lifetime model (+ comparison) + promotion
        # (+ report)
        self.total = (1 + 1 + fits + 1 + splits + 4 + 1 + 1 + bool(config.exclude_features) + 1
                      + (1 if config.report else 0))  # fmt: skip


def train(settings: Settings, config: TrainConfig | None = None, progress: Progress | None = None) -> TrainResult:
    config = config or TrainConfig()
    if config.service == DEFAULT_SERVICE:  # the deployment's declaration names its own, versioned service
        config = dataclasses.replace(config, service=offline_features(settings.offline_dir).service_name)
    if config.promote not in ("auto", "force", "never"):
        raise InputError(f"--promote: must be auto, force or never, got {config.promote!r}")
    protected_of(settings)  # a protected attribute that is not a declared feature is refused before any work
    say = _Steps(progress)
    clock: dict[str, float] = {}
    began = time.perf_counter()

    ts = prepare(settings, config, say)
    say.expect(ts, config)
    clock["read"] = time.perf_counter() - began
    say("leakage gate")
    leakage = gate_leakage(ts, config)

    t0 = time.perf_counter()
    tuning, final_params = tune(ts, config.grid, settings.seed, say)
    clock["tuning"] = time.perf_counter() - t0

    say("final fit and calibration")
    t0 = time.perf_counter()
    final, calibrator, cal_scores = fit_final(ts, final_params, settings.seed)
    clock["final_fit_and_calibration"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    held = model_held_out(ts, config, settings.seed, say, (final, calibrator))
    if not ts.plan.shares_final:
        clock["cross_validation"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    test = ts.test
    probabilities = {"model": held, **baselines(settings, ts, say)}
    first = {name: p[0] for name, p in probabilities.items()}  # the first repeat's: plots, audits, policy value
    clock["baselines"] = time.perf_counter() - t0

    say("metrics with bootstrap intervals over customers")
    t0 = time.perf_counter()
    metrics, intervals = evaluate(ts, probabilities, config.bootstrap, settings.seed)
    clock["evaluation"] = time.perf_counter() - t0

    model = ChurnModel(encoder=ts.encoder, booster=final.booster, calibrator=calibrator)
    clock["total"] = time.perf_counter() - began
    calibration = {"method": calibrator.method, "brier_cross_fitted": cal_scores}
    lineage = dict(offline_lineage(settings.offline_dir) or raw_lineage(settings.raw_dir) or {"source": None})
    compared = {k: v for k, v in metrics.items() if k not in ("model", "oracle")}
    metadata = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "feature_service": config.service,
        "features": ts.features,
        "service_features": ts.service_features,
        "dropped_features": ts.dropped,
        "encoded_columns": ts.encoder.columns,
        "windows": ts.windows.to_dict() if ts.windows else None,
        "evaluation": ts.plan.description,
        "params": final_params,
        "tuning": tuning,
        "calibration": calibration,
        "test": metrics["model"],
        "test_ci95": intervals.get("model", {}),
        "baselines": compared,
        "oracle": metrics.get("oracle"),
        "leakage": leakage.to_dict(),
        "code_version": _code_version(),
        "source": lineage.get("source"),
        "lineage": lineage,
        "rows": _row_counts(ts),
        "seconds": clock,
        "training_set": "cache" if ts.cached else "feature service",
    }
    say("lifetime (CLV) model")
    t0 = time.perf_counter()
    clv = fit_lifetime(settings, ts, model, metadata, config.promote)
    clock["lifetime_model"] = time.perf_counter() - t0
    protected_cost = None
    if config.exclude_features:
        say("the same model with the protected attributes, for comparison")
        protected_cost = with_protected(settings, ts, final_params, config.exclude_features, metrics["model"],
                                        first["model"])  # fmt: skip
        metadata["protected_cost"] = protected_cost
    t0 = time.perf_counter()
    fairness = fairness_of_model(settings, ts, model, first["model"], clv)
    clock["fairness_audit"] = time.perf_counter() - t0
    metadata["fairness"] = fairness
    version = registry.save_model(settings, model, metadata)

    say("promotion decision")
    blockers = tuple(fairness["warnings"]) if settings.fairness_gate else ()
    decision = promotion_decision(settings, config.promote, version, metrics["model"], ts.frame[test],
                                  leakage.passed, config.margin, blockers, metadata)  # fmt: skip
    result = TrainResult(
        version=version, promoted=decision.promote, decision=decision.reasons, test=metrics["model"],
        intervals=intervals, baselines=compared, oracle=metrics.get("oracle"), windows=ts.windows, leakage=leakage,
        tuning=tuning, params=final_params, calibration=calibration, seconds=clock, dropped_features=ts.dropped,
        lineage=lineage, clv=clv, fairness=fairness, protected_cost=protected_cost, evaluation=ts.plan.description,
    )  # fmt: skip
    if config.report:
        say("model report")
        report = write_model_report(settings, model, result, first, ts.y[test], ts.frame[test], metadata)
        result.report = str(report)
    return result
