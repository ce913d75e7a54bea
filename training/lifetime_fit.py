"""`churn train`'s lifetime (CLV) model: built from the run's hazard fit, judged, gated and registered on its own.

The hazard model is the run's final XGBoost fit and calibrator: the calibrated
probability of churning within the month of a customer-month, fitted on
right-censored snapshot rows (a discrete-time survival model). This module adds
what the survival layer needs to be trusted:

* quality on the test months (out of time): Harrell's concordance and the
  integrated Brier score over the observed follow-up, and S(t) against the
  Kaplan–Meier estimate by contract and by tenure band;
* a shifted-beta-geometric fit per contract type (Fader & Hardie) on the first
  month's cohort as a cross-check of the 60-month extrapolation;
* on simulated data, the true remaining lifetime and CLV of every test customer
  (:mod:`churn.true_value`) against the model and against the old formula;
* its own gate: never promoted when its concordance or its integrated Brier
  score is worse than the lifetime champion's on the same rows; and no model at
  all when there are fewer than 10 churn events per feature (the formula stays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from churn.economics import default_clv
from churn.labels import Labels
from churn.raw import load_manifest
from churn.schema import ENTITY
from churn.settings import Settings
from churn.survival import (
    HORIZON_MONTHS,
    concordance,
    expected_lifetime,
    integrated_brier,
    kaplan_meier,
    sbg_fit,
    sbg_survival,
)
from churn.timeutil import parse_month
from training import registry
from training.artifact import ChurnModel
from training.cache import cached
from training.lifetime import LifetimeModel, from_metadata
from training.promotion import apply_mode
from training.windows import Windows


class TrainingRows(Protocol):
    """What the lifetime model reads of a run's training set (training.train.TrainingSet)."""

    frame: pd.DataFrame
    features: list[str]
    windows: Windows | None  # None: a cross-section judged by K-fold
    labels: Labels  # the source's category labels: its contract kinds' terms
    X: np.ndarray
    y: np.ndarray

    def rows(self, months: tuple[str, ...]) -> np.ndarray: ...


MIN_EVENTS_PER_FEATURE = 10  # fewer churners per feature than this (the usual rule): the formula stays
TENURE_BANDS = ((0, 6), (6, 12), (12, 24), (24, 48), (48, 10_000))
TRUTH_REPLICAS = 16


def follow_up(frame: pd.DataFrame, y: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(months until churn or censoring, churned) from each selected row's snapshot, read off the labelled rows:
    a customer's first churn label ends their time; otherwise their last labelled month censors it."""
    labels, position = np.unique(frame["month"].to_numpy(), return_inverse=True)  # parse each month once
    month = np.array([parse_month(m, field="month") for m in labels])[position]
    table = pd.DataFrame({"c": frame[ENTITY].astype(str).to_numpy(), "m": month, "y": y})
    churn_at = table[table.y == 1].groupby("c")["m"].min()
    last = table.groupby("c")["m"].max()
    sel = table[rows]
    churned = sel["c"].map(churn_at)
    event = churned.notna().to_numpy() & (churned.fillna(-1).to_numpy() >= sel["m"].to_numpy())
    end = np.where(event, churned.fillna(0).to_numpy(), sel["c"].map(last).to_numpy())
    return (end - sel["m"].to_numpy() + 1).astype(np.int64), event


def _bands(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    groups: dict[str, np.ndarray] = {}
    if "contract_type" in frame:
        contract = frame["contract_type"].astype(str).to_numpy()
        for name in sorted(set(contract)):
            groups[f"contract={name}"] = contract == name
    if "tenure_months" in frame:
        tenure = pd.to_numeric(frame["tenure_months"], errors="coerce").to_numpy()
        for lo, hi in TENURE_BANDS:
            groups[f"tenure={lo}-{hi if hi < 10_000 else ''}"] = (tenure >= lo) & (tenure < hi)
    return groups


def calibration_table(S: np.ndarray, frame: pd.DataFrame, durations: np.ndarray, events: np.ndarray) -> list[dict]:
    """Mean predicted S(t) against Kaplan–Meier at the end of the follow-up, per contract and tenure band."""
    t = int(durations.max())
    out = []
    for name, mask in _bands(frame).items():
        if mask.sum() < 50:
            continue
        km = kaplan_meier(durations[mask], events[mask], t)[t - 1]
        predicted = float(np.mean(S[mask, t - 1]))
        se = float(np.sqrt(max(km * (1 - km), 1e-12) / mask.sum()))  # the estimate's own noise, about
        out.append({"group": name, "customers": int(mask.sum()), "months": t, "predicted_survival": predicted,
                    "kaplan_meier": float(km), "gap": predicted - float(km), "standard_error": se,
                    "within_noise": bool(abs(predicted - km) <= 2 * se)})  # fmt: skip
    return out


def sbg_check(frame: pd.DataFrame, y: np.ndarray, S: np.ndarray, first: np.ndarray) -> list[dict]:
    """Per contract type, the first month's cohort: sBG fitted to its survival over the follow-up, its 60-month
    expected lifetime beside the model's (in sample: a cross-check of the extrapolation, not a test)."""
    durations, events = follow_up(frame, y, first)
    T = int(durations.max())
    cohort = frame[first]
    out = []
    for name, mask in _bands(cohort).items():
        if not name.startswith("contract=") or mask.sum() < 100:
            continue
        # everyone in the cohort is followed to the data's end unless they churn: no other censoring
        lost = events[mask] & (durations[mask] <= np.arange(1, T + 1)[:, None])
        alive = [float(mask.sum()), *(float(mask.sum() - k) for k in lost.sum(axis=1))]
        try:
            a, b = sbg_fit(alive)
        except ValueError:
            continue
        sbg = sbg_survival(a, b, HORIZON_MONTHS)
        out.append({"contract": name.split("=", 1)[1], "customers": int(mask.sum()), "follow_up_months": T,
                    "alpha": a, "beta": b, "sbg_expected_lifetime_60m": float(sbg.sum()),
                    "model_expected_lifetime_60m": float(expected_lifetime(S[mask]).mean()),
                    "observed_survival_end": alive[-1] / alive[0], "sbg_survival_end": float(sbg[T - 1])})  # fmt: skip
    return out


def truth_check(settings: Settings, model: LifetimeModel, frame: pd.DataFrame, S: np.ndarray) -> dict[str, Any] | None:
    """On simulated data: model and formula CLV against the simulator's true CLV of the same customers."""
    manifest = load_manifest(settings.raw_dir)
    if manifest.get("source") != "simulator" or "simulation" not in manifest:
        return None
    from churn.closed_loop import world_of
    from churn.true_value import true_value

    month = str(frame["month"].iloc[0])
    config, treatments = world_of(settings.raw_dir)
    args = (config, month, model.horizon, model.margin, model.monthly_discount, TRUTH_REPLICAS)
    # the truth depends on these alone (a closed-loop world's treatments by their digest)
    parts = {"simulation": manifest["simulation"], "args": args[1:], **manifest.get("treatments", {})}
    truth, _ = cached(settings.home_dir, "true_value", parts, lambda: true_value(*args, treatments=treatments))
    joined = pd.DataFrame({ENTITY: frame[ENTITY].astype(str).to_numpy(), "row": np.arange(len(frame))}).merge(
        truth, on=ENTITY, how="inner"
    )
    if joined.empty:
        return None
    rows = joined["row"].to_numpy()
    charges = pd.to_numeric(frame["monthly_charges"], errors="coerce").to_numpy(np.float64)[rows]
    known = ~np.isnan(charges)
    true_clv = joined["true_clv"].to_numpy()[known]
    model_clv = model.margin * charges[known] * model.annuity(S[rows][known])
    formula = default_clv(charges[known])

    def compare(estimate: np.ndarray) -> dict[str, float]:
        from scipy.stats import spearmanr

        rel = np.abs(estimate - true_clv) / np.maximum(true_clv, 1e-9)
        return {"spearman_vs_true": float(spearmanr(estimate, true_clv).statistic),
                "median_abs_error_vs_true": float(np.median(rel)),
                "mean_clv": float(np.mean(estimate))}  # fmt: skip

    lifetime = expected_lifetime(S[rows][known])
    true_life = joined["true_lifetime_months"].to_numpy()[known]
    return {
        "month": month,
        "customers": int(known.sum()),
        "replicas": TRUTH_REPLICAS,
        "true_mean_clv": float(true_clv.mean()),
        "model": compare(model_clv),
        "formula": compare(formula),
        "lifetime_median_abs_error_vs_true": float(np.median(np.abs(lifetime - true_life) / true_life)),
    }


@dataclass
class LifetimeEvaluation:
    concordance: float
    integrated_brier: float
    follow_up_months: int
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def evaluate_lifetime(model: LifetimeModel, X: np.ndarray, durations: np.ndarray, events: np.ndarray) -> tuple:
    S = model.curves_matrix(X)
    horizon = int(durations.max())
    ev = LifetimeEvaluation(concordance(durations, events, expected_lifetime(S)),
                            integrated_brier(S, durations, events, horizon), horizon, len(durations))  # fmt: skip
    return ev, S


def judge(
    settings: Settings, challenger: LifetimeEvaluation, frame: pd.DataFrame, durations: np.ndarray, events: np.ndarray
) -> registry.Decision:
    """Promote unless the lifetime champion, judged on the same rows, has a better concordance or Brier score."""
    version = registry.read_pointer(settings, "clv").get("champion")
    if not version:
        return registry.Decision(True, ["no lifetime champion yet"])
    try:
        champion = from_metadata(registry.load_model(settings, str(version)), str(version))
        theirs, _ = evaluate_lifetime(champion, champion.hazard.encoder.transform(frame), durations, events)
    except (registry.RegistryError, KeyError) as err:  # KeyError: the champion reads a feature these rows lack
        return registry.Decision(True, [f"no lifetime champion to compare with on these rows ({err})"])
    return registry.Decision(*compare_quality(challenger.to_dict(), theirs.to_dict()))


def fit_lifetime(
    settings: Settings, ts: TrainingRows, hazard: ChurnModel, churn_metadata: dict[str, Any], mode: str
) -> dict[str, Any]:
    """Build, judge, register and gate the lifetime model of this run; what `churn train --json` says as ``clv``."""
    if ts.windows is None:
        return {"registered": False, "clv_source": "formula",
                "reason": "a cross-section's monthly histories are reconstructed, not observed: the lifetime model "
                          "needs observed follow-up, so customers keep the formula's CLV"}  # fmt: skip
    fitted = ts.rows((*ts.windows.development, *ts.windows.calibration))  # where the hazard was fitted and calibrated
    events_dev = int(ts.y[fitted].sum())
    features = len(ts.features)
    if events_dev < MIN_EVENTS_PER_FEATURE * features:
        return {"registered": False, "clv_source": "formula",
                "reason": f"too few churn events to fit survival: {events_dev} in the development and calibration "
                          f"months for {features} features (needs ≥ {MIN_EVENTS_PER_FEATURE} per feature); "
                          "customers keep the formula's CLV"}  # fmt: skip
    model = LifetimeModel(hazard, "", settings.clv_margin, settings.clv_monthly_discount, HORIZON_MONTHS,
                          dict(ts.labels.contract_terms))  # fmt: skip
    first_test = ts.rows(ts.windows.test[:1])
    durations, events = follow_up(ts.frame, ts.y, first_test)
    evaluation, S = evaluate_lifetime(model, ts.X[first_test], durations, events)
    test_frame = ts.frame[first_test].reset_index(drop=True)
    calibration = calibration_table(S, test_frame, durations, events)
    first_month = ts.rows(tuple(sorted(ts.frame["month"].unique())[:1]))
    sbg = sbg_check(ts.frame, ts.y, model.curves_matrix(ts.X[first_month]), first_month)
    truth = truth_check(settings, model, test_frame, S)
    lifetime_meta = {"margin": model.margin, "monthly_discount": model.monthly_discount, "horizon": model.horizon,
                     "contract_terms": model.contract_terms}  # fmt: skip
    metadata = {
        **{
            k: churn_metadata[k]
            for k in (
                "trained_at",
                "feature_service",
                "features",
                "service_features",
                "encoded_columns",
                "windows",
                "params",
                "code_version",
                "source",
                "lineage",
            )
        },
        "hazard_model": "the run's calibrated monthly churn model (discrete-time survival on snapshot rows)",
        "lifetime": lifetime_meta,
        "test": evaluation.to_dict(),
        "calibration_by_group": calibration,
        "sbg": sbg,
        "truth": truth,
    }
    version = registry.save_model(settings, hazard, metadata, kind="clv")
    decision = apply_mode(settings, mode, version, lambda: judge(settings, evaluation, test_frame, durations, events),
                          kind="clv")  # fmt: skip
    out: dict[str, Any] = {"registered": True, "version": version, "promoted": decision.promote,
                           "decision": decision.reasons,
                           "clv_source": "model", **lifetime_meta, "test": evaluation.to_dict(),
                           "calibration_by_group": calibration, "sbg": sbg}  # fmt: skip
    if truth is not None:
        figures = ("spearman_vs_true", "median_abs_error_vs_true")
        out.update(truth=truth, **{k: truth["model"][k] for k in figures},
                   formula={k: truth["formula"][k] for k in figures})  # fmt: skip
    return out


def judge_registered_lifetime(settings: Settings, version: str) -> registry.Decision:
    """The gate for promoting a registered lifetime model by hand: its recorded concordance and integrated Brier
    against the champion's, when both were judged on the same test months; otherwise it needs --force."""
    mine = registry.model_info(settings, version, kind="clv")["metadata"]
    current = registry.read_pointer(settings, "clv").get("champion")
    if not current:
        return registry.Decision(True, ["no lifetime champion yet"])
    theirs = registry.model_info(settings, str(current), kind="clv")["metadata"]
    if (mine.get("windows") or {}).get("test") != (theirs.get("windows") or {}).get("test"):
        return registry.Decision(False, [f"{version} and the champion {current} were judged on different test "
                                         "months: their figures do not compare"])  # fmt: skip
    promote, reasons = compare_quality(mine.get("test") or {}, theirs.get("test") or {})
    return registry.Decision(promote, reasons)


def compare_quality(mine: dict[str, Any], theirs: dict[str, Any]) -> tuple[bool, list[str]]:
    """Not worse than the champion on both: concordance (higher is better) and integrated Brier (lower)."""
    c = mine.get("concordance", 0.0), theirs.get("concordance", 0.0)
    b = mine.get("integrated_brier", 1.0), theirs.get("integrated_brier", 1.0)
    c_ok, b_ok = c[0] >= c[1], b[0] <= b[1]
    return c_ok and b_ok, [
        f"concordance {c[0]:.4f} vs champion {c[1]:.4f}: {'ok' if c_ok else 'worse'}",
        f"integrated Brier {b[0]:.5f} vs champion {b[1]:.5f}: {'ok' if b_ok else 'worse'}",
    ]
