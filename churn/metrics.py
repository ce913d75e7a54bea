"""Classification metrics in plain numpy, shared by training, the benchmarks and monitoring.

Kept framework-free (no scikit-learn) so the core can judge any model, and so
bootstrap loops stay fast. ``tests/unit/test_metrics.py`` checks each against
scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels and scores differ in length: {len(y)} vs {len(p)}")
    return y, p


def roc_auc(y: np.ndarray, score: np.ndarray, ascending: np.ndarray | None = None) -> float:
    """Area under the ROC curve (ties count one half), via average ranks. ``ascending``: the scores' stable
    ascending order, when the caller sorted them already (:func:`all_metrics` sorts once for every metric)."""
    y, score = _check(y, score)
    n_pos = y.sum()
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort") if ascending is None else ascending
    s = score[order]
    ranks = np.empty(len(s))
    # average ranks over ties
    boundaries = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    avg = (starts + ends - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(y: np.ndarray, score: np.ndarray, descending: np.ndarray | None = None) -> float:
    """Average precision (the step-wise area under the precision-recall curve), as scikit-learn defines it."""
    y, score = _check(y, score)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-score, kind="mergesort") if descending is None else descending
    s, t = score[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(t)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - prev) * precision))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2))


def log_loss(y: np.ndarray, p: np.ndarray, eps: float = 1e-15) -> float:
    y, p = _check(y, p)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, bins: int = 10, ascending: np.ndarray | None = None
) -> float:
    """ECE with equal-mass bins (quantiles of p), so sparse high-risk bins are not ignored."""
    y, p = _check(y, p)
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort") if ascending is None else ascending
    groups = np.array_split(order, bins)
    return float(sum(len(g) * abs(p[g].mean() - y[g].mean()) for g in groups if len(g)) / len(y))


def top_fraction(
    y: np.ndarray, score: np.ndarray, fraction: float = 0.10, descending: np.ndarray | None = None
) -> dict[str, float]:
    """Precision, recall and lift among the top ``fraction`` by score (ties broken by position, stably)."""
    y, score = _check(y, score)
    k = max(1, math.ceil(fraction * len(y)))
    top = (np.argsort(-score, kind="mergesort") if descending is None else descending)[:k]
    base = y.mean() if len(y) else float("nan")
    precision = float(y[top].mean())
    recall = float(y[top].sum() / y.sum()) if y.sum() else float("nan")
    return {"precision": precision, "recall": recall, "lift": precision / base if base else float("nan")}


# --- Expected maximum profit (Verbraken, Verbeke & Baesens, IEEE TKDE 2013) ---------------------------------------


@dataclass(frozen=True)
class EMPParameters:
    """Defaults from the paper: γ ~ Beta(6, 14) (mean 0.3), CLV 200, incentive d = 10, contact cost f = 1."""

    alpha: float = 6.0
    beta: float = 14.0
    clv: float = 200.0
    d: float = 10.0
    f: float = 1.0


def _beta_pdf(x: np.ndarray, a: float, b: float) -> np.ndarray:
    log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    return np.exp(log_norm + (a - 1) * np.log(x) + (b - 1) * np.log1p(-x))


def emp(
    y: np.ndarray,
    score: np.ndarray,
    params: EMPParameters | None = None,
    grid: int = 2000,
    max_cuts: int | None = None,
    descending: np.ndarray | None = None,
) -> dict[str, float]:
    """Expected maximum profit per customer for a retention campaign, and the fraction it targets.

    Targeting the top fraction η by score: a targeted churner accepts the offer
    with probability γ (gain CLV − d − f, else −f); a targeted non-churner takes
    the incentive (−d − f). With δ = d/CLV and φ = f/CLV the profit per customer is

        P(t; γ) = CLV · [(γ(1 − δ) − φ) · π0 · F0(t) − (δ + φ) · π1 · F1(t)]

    where π0 is the churn rate and F0, F1 the fractions of churners and
    non-churners targeted. EMP = ∫ max_t P(t; γ) h(γ) dγ with h the Beta(α, β)
    density. The maximum over t is taken over every cut of the sorted scores
    (including targeting nobody); the integral by the midpoint rule on ``grid``
    points of γ. ``max_cuts`` limits the cuts tried to that many evenly spaced
    ranks (bootstrap replicates use 2,000; point estimates try every cut).
    """
    params = params or EMPParameters()
    y, score = _check(y, score)
    n = len(y)
    n0 = y.sum()
    if n == 0 or n0 == 0 or n0 == n:
        return {"emp": float("nan"), "fraction_targeted": float("nan")}
    order = np.argsort(-score, kind="mergesort") if descending is None else descending
    s, t = score[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), n - 1]  # cut only between distinct scores
    if max_cuts is not None and len(last) > max_cuts:
        last = last[np.unique(np.linspace(0, len(last) - 1, max_cuts).astype(np.int64))]
    f0 = np.r_[0.0, np.cumsum(t)[last] / n0]
    f1 = np.r_[0.0, np.cumsum(1 - t)[last] / (n - n0)]
    eta = np.r_[0.0, (last + 1) / n]
    hull = _upper_hull(f1, f0)  # a linear profit in (F1, F0) is maximised on the ROC curve's upper hull
    f0, f1, eta = f0[hull], f1[hull], eta[hull]
    pi0, pi1 = n0 / n, 1 - n0 / n
    delta, phi = params.d / params.clv, params.f / params.clv
    gammas = (np.arange(grid) + 0.5) / grid
    weights = _beta_pdf(gammas, params.alpha, params.beta) / grid
    # profit(γ, cut) = CLV·[(γ(1−δ)−φ)·π0·F0 − (δ+φ)·π1·F1] is linear in γ: max over cuts per γ
    a = params.clv * (1 - delta) * pi0 * f0  # coefficient of γ
    b = params.clv * (-phi * pi0 * f0 - (delta + phi) * pi1 * f1)
    best = np.empty(grid)
    best_eta = np.empty(grid)
    chunk = max(1, 2_000_000 // max(len(a), 1))
    for i in range(0, grid, chunk):
        g = gammas[i : i + chunk, None]
        profit = g * a[None, :] + b[None, :]
        idx = profit.argmax(axis=1)
        best[i : i + chunk] = profit[np.arange(len(idx)), idx]
        best_eta[i : i + chunk] = eta[idx]
    total_w = weights.sum()
    return {
        "emp": float((best * weights).sum() / total_w),
        "fraction_targeted": float((best_eta * weights).sum() / total_w),
    }


def _upper_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the upper convex hull of points sorted by x (monotone chain)."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a]) >= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return np.asarray(hull, dtype=np.int64)


# --- Everything at once, with bootstrap intervals over customers ------------------------------------------------------

# every metric all_metrics returns, in the order the model is judged by: ranking for targeting first, calibration
# next, then the rest (the report's table follows it)
METRIC_NAMES = ("pr_auc", "recall_at_10", "precision_at_10", "lift_at_10", "brier", "ece", "roc_auc", "log_loss", "emp")


def all_metrics(
    y: np.ndarray, p: np.ndarray, emp_max_cuts: int | None = None, presorted: bool = False
) -> dict[str, float]:
    """Every metric; the scores are sorted twice (stably, each way) for all of them instead of five times — the
    same orders each metric would make, so the figures are the same; the bootstrap calls this thousands of times.
    ``presorted``: ``p`` is in ascending order already, so both orders are derived without sorting."""
    y, p = _check(y, p)
    if presorted:
        ascending, descending = np.arange(len(p)), _descending_of_ascending(p)
    else:
        ascending, descending = np.argsort(p, kind="mergesort"), np.argsort(-p, kind="mergesort")
    top = top_fraction(y, p, 0.10, descending)
    return {
        "roc_auc": roc_auc(y, p, ascending),
        "pr_auc": pr_auc(y, p, descending),
        "brier": brier(y, p),
        "log_loss": log_loss(y, p),
        "ece": expected_calibration_error(y, p, ascending=ascending),
        "precision_at_10": top["precision"],
        "recall_at_10": top["recall"],
        "lift_at_10": top["lift"],
        "emp": emp(y, p, max_cuts=emp_max_cuts, descending=descending)["emp"],
    }


def _descending_of_ascending(s: np.ndarray) -> np.ndarray:
    """``np.argsort(-s, kind="mergesort")`` of an ascending ``s``: its runs of equal values in reverse, each run's
    positions kept in order — what the stable sort gives, in linear time."""
    if len(s) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    lengths = np.diff(np.r_[starts, len(s)])
    return np.repeat(starts[::-1], lengths[::-1]) + _ranges(lengths[::-1])


def _bootstrap_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return all_metrics(y, p, emp_max_cuts=2000, presorted=True)


def bootstrap_intervals(
    y: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
    metric: Callable[[np.ndarray, np.ndarray], dict[str, float]] = _bootstrap_metrics,
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals, resampling whole groups (customers), since a customer has many rows.

    The scores are sorted once: a replicate is how many copies of each row it holds, laid out in that order, so
    ``metric`` receives every replicate in ascending order of score (``presorted``) and sorts nothing. Metrics
    blind to the order of tied scores are those of the replicate's rows in any order; ECE and the top-10% figures
    can move only where tied scores straddle a cut."""
    y, p = _check(y, p)
    if np.isnan(p).any():
        raise ValueError("scores: NaN has no place in an ordering; the bootstrap needs a score on every row")
    codes, inverse = np.unique(np.asarray(groups), return_inverse=True)
    ascending = np.argsort(p, kind="mergesort")
    group_of_sorted = inverse[ascending]
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {}
    for _ in range(n_boot):
        pick = rng.integers(0, len(codes), size=len(codes))
        copies = np.bincount(pick, minlength=len(codes))[group_of_sorted]  # of each row, in ascending order
        rows = np.repeat(ascending, copies)
        for name, value in metric(y[rows], p[rows]).items():
            samples.setdefault(name, []).append(value)
    return {name: (float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))) for name, v in samples.items()}


def _ranges(counts: np.ndarray) -> np.ndarray:
    """Concatenated aranges: [0..c0), [0..c1), ..."""
    total = int(counts.sum())
    ends = np.cumsum(counts)
    return np.arange(total) - np.repeat(ends - counts, counts)
