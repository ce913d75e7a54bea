"""Drift statistics that decide: PSI and KL per feature, score-distribution shift, concept drift.

Framework-free so the CLI, the flows and the tests compute the same numbers.
Bins come from the *reference* window: numeric features by its quantiles
(10 by default), categories, booleans and numeric features with few values
(counts such as tickets, mostly zero) one bin per value, missing values as one more bin — a feature that
starts arriving empty is drift too. Empty bins get a small epsilon so the
logarithms stay finite. Evidently's report bins differently (equal width);
these numbers are the ones verdicts use.

PSI = Σ (c − r) · ln(c / r) over bins (r, c: reference and current shares);
KL = Σ c · ln(c / r), the information lost describing the current window with
the reference one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from churn.drift_thresholds import DriftThresholds

DISCRETE_VALUES = 20  # a numeric feature with at most this many values in the reference is binned by value


def _shares(codes: np.ndarray, n_bins: int, eps: float) -> np.ndarray:
    counts = np.bincount(codes, minlength=n_bins).astype(np.float64)
    shares = counts / max(counts.sum(), 1.0)
    shares = np.where(shares == 0, eps, shares)
    return shares / shares.sum()


def _value_codes(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of each x in the sorted ``values``; len(values) for a value not there, len + 1 for NaN."""
    at = np.minimum(np.searchsorted(values, x), max(len(values) - 1, 0))
    found = values[at] == x if len(values) else np.zeros(len(x), dtype=bool)
    return np.where(np.isnan(x), len(values) + 1, np.where(found, at, len(values)))


def binned_shares(
    reference: pd.Series | np.ndarray, current: pd.Series | np.ndarray, bins: int = 10, eps: float = 1e-4
) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current shares over the reference's bins (see the module docstring)."""
    ref = pd.Series(reference)
    cur = pd.Series(current)
    if pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref):
        r = pd.to_numeric(ref, errors="coerce").to_numpy(np.float64)
        c = pd.to_numeric(cur, errors="coerce").to_numpy(np.float64)
        finite = r[~np.isnan(r)]
        values = np.unique(finite)
        if len(values) <= DISCRETE_VALUES:
            # counts and flags: one bin per value (a mass at zero would hide its neighbours in one quantile bin);
            # values the reference never had share one more bin, missing values the last
            r_codes, c_codes = _value_codes(values, r), _value_codes(values, c)
            n = len(values) + 2
        else:
            qs = np.linspace(0, 1, bins + 1)[1:-1]
            edges = np.unique(np.quantile(finite, qs))
            n_value_bins = len(edges) + 1
            r_codes = np.where(np.isnan(r), n_value_bins, np.searchsorted(edges, r, side="right"))
            c_codes = np.where(np.isnan(c), n_value_bins, np.searchsorted(edges, c, side="right"))
            n = n_value_bins + 1
    else:
        # categories of both windows (a new one is drift), missing values as the last bin
        codes, uniques = pd.factorize(pd.concat([ref, cur], ignore_index=True).astype(object), use_na_sentinel=True)
        n = len(uniques) + 1
        codes = np.where(codes < 0, n - 1, codes)
        r_codes, c_codes = codes[: len(ref)], codes[len(ref) :]
    return _shares(r_codes.astype(np.intp), n, eps), _shares(c_codes.astype(np.intp), n, eps)


def psi(reference: Any, current: Any, bins: int = 10, eps: float = 1e-4) -> float:
    r, c = binned_shares(reference, current, bins, eps)
    return float(np.sum((c - r) * np.log(c / r)))


def kl_divergence(reference: Any, current: Any, bins: int = 10, eps: float = 1e-4) -> float:
    r, c = binned_shares(reference, current, bins, eps)
    return float(np.sum(c * np.log(c / r)))


def level(value: float, thresholds: DriftThresholds) -> str:
    if value > thresholds.psi_significant:
        return "significant"
    if value > thresholds.psi_moderate:
        return "moderate"
    return "none"


def measurable(
    reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str]
) -> tuple[list[str], dict[str, str]]:
    """(features with a value in some window, {feature: why skipped}): a source that never records a feature
    (tickets in the IBM Telco file) has nothing to drift; one window losing every value still counts as drift."""
    kept: list[str] = []
    skipped: dict[str, str] = {}
    for name in features:
        if reference[name].isna().all() and current[name].isna().all():
            skipped[name] = "no values in either window (the source does not record it)"
        else:
            kept.append(name)
    return kept, skipped


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str], thresholds: DriftThresholds | None = None
) -> pd.DataFrame:
    """One row per feature: PSI, KL, level (none / moderate / significant)."""
    t = thresholds or DriftThresholds()
    rows = []
    for name in features:
        r, c = binned_shares(reference[name], current[name], t.bins, t.epsilon)
        value = float(np.sum((c - r) * np.log(c / r)))
        rows.append({"feature": name, "psi": value, "kl": float(np.sum(c * np.log(c / r))), "level": level(value, t)})
    return pd.DataFrame(rows).set_index("feature")


def score_shift(reference: np.ndarray, current: np.ndarray, thresholds: DriftThresholds | None = None) -> dict:
    """Mean-probability change (relative) and the PSI of the scores; flagged when either crosses its bound."""
    t = thresholds or DriftThresholds()
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    mean_ref, mean_cur = float(ref.mean()), float(cur.mean())
    relative = (mean_cur - mean_ref) / mean_ref if mean_ref > 0 else float("inf")
    score_psi = psi(ref, cur, t.bins, t.epsilon)
    return {
        "mean_reference": mean_ref,
        "mean_current": mean_cur,
        "relative_change": relative,
        "psi": score_psi,
        "flagged": bool(abs(relative) > t.mean_shift or score_psi > t.psi_significant),
    }


def concept_drift(current_roc_auc: float, champion_roc_auc: float, thresholds: DriftThresholds | None = None) -> dict:
    """Relative ROC-AUC drop on matured labels against the champion's own test figure."""
    t = thresholds or DriftThresholds()
    drop = (champion_roc_auc - current_roc_auc) / champion_roc_auc if champion_roc_auc > 0 else 0.0
    return {
        "roc_auc_current": current_roc_auc,
        "roc_auc_champion": champion_roc_auc,
        "relative_drop": drop,
        "flagged": bool(drop > t.auc_drop),
    }


def calibration_drift(y: np.ndarray, p: np.ndarray, thresholds: DriftThresholds | None = None) -> dict:
    """Observed churners against the count the calibrated model expected, on matured labels.

    When what drives churn changes, a calibrated model's expected count goes
    wrong before its ranking does; the z-score (binomial, Poisson-binomial
    variance) keeps one noisy month from raising an alarm, the ratio keeps a
    large population's trivial miss from raising one.
    """
    t = thresholds or DriftThresholds()
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    observed, expected = float(y.sum()), float(p.sum())
    sd = float(np.sqrt(np.sum(p * (1 - p))))
    z = (observed - expected) / sd if sd > 0 else 0.0
    ratio = observed / expected if expected > 0 else float("inf")
    return {
        "observed_churners": int(observed),
        "expected_churners": expected,
        "observed_to_expected": ratio,
        "z": z,
        "flagged": bool(abs(z) > t.calibration_z and abs(ratio - 1) > t.calibration_ratio),
    }
