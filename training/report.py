"""The model report: one self-contained HTML file per version, readable without a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from churn.metrics import METRIC_NAMES
from churn.pages import num, png, write_page
from churn.settings import Settings
from training.artifact import ChurnModel
from training.explain import contributions
from training.result import TrainResult

LABELS = {
    "pr_auc": "PR-AUC", "recall_at_10": "recall @10%", "precision_at_10": "precision @10%", "lift_at_10": "lift @10%",
    "brier": "Brier", "ece": "ECE", "roc_auc": "ROC-AUC", "log_loss": "log loss", "emp": "EMP",
}  # fmt: skip


def _axes() -> tuple[Figure, Any]:
    """A figure of its own (matplotlib's object API: no global pyplot state, safe in any thread)."""
    fig = Figure(figsize=(5, 4))
    return fig, fig.subplots()


def _curves(probabilities: dict[str, np.ndarray], y: np.ndarray) -> list[tuple[str, str]]:
    figs = []
    fig, ax = _axes()
    for name, p in probabilities.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name, lw=1.2)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(fontsize=7)
    figs.append(("roc", png(fig)))

    fig, ax = _axes()
    top = 0.0
    for name, p in probabilities.items():
        prec, rec, _ = precision_recall_curve(y, p)
        keep = rec >= 0.01  # the first few customers' precision (1.0 at recall 0) would squash the rest
        ax.plot(rec[keep], prec[keep], label=name, lw=1.2)
        top = max(top, float(prec[keep].max(initial=0.0)))
    ax.axhline(float(y.mean()), color="k", ls=":", lw=0.8, label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, min(1.0, top * 1.1 + 0.01)))
    ax.legend(fontsize=7)
    figs.append(("precision-recall", png(fig)))

    fig, ax = _axes()
    hi = 0.0
    for name in ("model", "oracle", "xgboost_design_params"):
        if name in probabilities:
            p = probabilities[name]
            bins = np.array_split(np.argsort(p), 10)
            means, observed = [p[b].mean() for b in bins], [y[b].mean() for b in bins]
            ax.plot(means, observed, "o-", label=name, ms=3)
            hi = max(hi, *means, *observed)
    hi = hi * 1.05 or 1.0  # the deciles' range, not the single largest probability
    ax.plot([0, hi], [0, hi], "k:", lw=0.8)
    ax.set(xlabel="predicted probability (decile mean)", ylabel="observed churn rate", title="Calibration",
           xlim=(0, hi), ylim=(0, hi))  # fmt: skip
    ax.legend(fontsize=7)
    figs.append(("calibration", png(fig)))

    fig, ax = _axes()
    share = np.linspace(0, 1, 101)
    for name, p in probabilities.items():
        order = np.argsort(-p, kind="mergesort")
        captured = np.r_[0, np.cumsum(y[order])] / max(y.sum(), 1)
        idx = (share * len(y)).astype(int)
        ax.plot(share, captured[idx], label=name, lw=1.2)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.axvline(0.1, color="#999", lw=0.6, ls="--")
    ax.set(xlabel="share of customers targeted (by score)", ylabel="share of churners reached", title="Gains")
    ax.legend(fontsize=7)
    figs.append(("gains", png(fig)))
    return figs


def _rows(result: TrainResult) -> list[dict[str, Any]]:
    rows = [("model (shipped)", result.test, result.intervals.get("model", {}))]
    rows += [(name, m, result.intervals.get(name, {})) for name, m in result.baselines.items()]
    if result.oracle is not None:
        rows.append(("oracle (true hazard)", result.oracle, result.intervals.get("oracle", {})))
    out = []
    for name, m, ci in rows:
        cells = []
        for k in METRIC_NAMES:
            lo_hi = ci.get(k)
            cells.append({"value": f"{m[k]:.4f}", "interval": f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else ""})
        out.append({"name": name, "cells": cells})
    return out


def held_out_description(result: TrainResult) -> tuple[str, str, str]:
    """(heading, how every model was judged, where) for the run's plan: time windows or K-fold."""
    if result.windows is not None:
        return (
            f"Test window {', '.join(result.windows.test)}",
            "Every model was fitted on the same development months, calibrated on the same holdout and scored on the "
            "same test months.",
            "the test months",
        )
    e = result.evaluation
    return (
        f"Out-of-fold figures: {e['folds']}-fold stratified cross-validation × {e['repeats']} repeats over "
        f"{e['rows']:,} customers (the mean over repeats)",
        "This source is a cross-section, observed once: it cannot be split by time. Each customer's last labelled row "
        "is held out once per repeat; every model was fitted on the same folds, calibrated on "
        f"{e['calibration_share']:.0%} of each training part held back, and scored on the held-out fold. The model's "
        f"configuration was chosen inside each training part ({e['inner_folds']} inner folds), never on the rows it "
        "is scored on. Intervals resample the customers of the first repeat.",
        "the held-out customers",
    )


def _summary(result: TrainResult, base_rate: float) -> str:
    t = result.test
    where = held_out_description(result)[2]
    return (
        f"Targeting the 10% of customers the model rates riskiest reaches {t['recall_at_10']:.0%} of the customers "
        f"who churned in {where} — {t['lift_at_10']:.1f}× what a random 10% would reach. "
        f"{t['precision_at_10']:.1%} of those targeted churned, against {base_rate:.1%} of all customers. "
        f"The probabilities are calibrated: on average they are off by {t['ece']:.3f} (ECE), so p × CLV can be "
        "read as money at risk."
    )


def _details(result: TrainResult) -> list[dict[str, Any]]:
    def flat(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                flat(f"{prefix}.{k}" if prefix else str(k), v, rows)
        elif isinstance(value, list) and value and all(isinstance(v, str | int | float) for v in value):
            rows.append((prefix, ", ".join(num(v) for v in value)))
        else:
            rows.append((prefix, num(value) if isinstance(value, int | float) else json.dumps(value, default=str)))

    sections = {
        "Data windows": result.windows.to_dict() if result.windows else result.evaluation,
        "Chosen parameters": result.params,
        "Calibration": result.calibration,
        "Leakage gate": result.leakage.to_dict(),
        "Training time (s)": result.seconds,
    }
    out = []
    for title, value in sections.items():
        rows: list[tuple[str, str]] = []
        flat("", value, rows)
        out.append({"title": title, "rows": rows})
    tuning = [(json.dumps(t.get("params", t), default=str),
               f"{num(t.get('pr_auc_mean'))} ({t.get('folds_scored', '')} folds)") for t in result.tuning]  # fmt: skip
    out.append({"title": f"Tuning ({len(tuning)} candidates: parameters → mean PR-AUC (over how many folds; the "
                         "better half of the first fold goes on to the others)", "rows": tuning})  # fmt: skip
    return out


def write_model_report(
    settings: Settings,
    model: ChurnModel,
    result: TrainResult,
    probabilities: dict[str, np.ndarray],
    y: np.ndarray,
    test_frame: pd.DataFrame,
    metadata: dict[str, Any],
) -> Path:
    folder = settings.reports_dir / "models" / result.version.replace(":", "-")
    folder.mkdir(parents=True, exist_ok=True)
    base_rate = float(np.mean(y)) if len(y) else 0.0
    heading, protocol, where = held_out_description(result)
    return write_page(
        "model.html",
        folder / "index.html",
        version=result.version,
        trained_at=metadata["trained_at"],
        feature_service=metadata["feature_service"],
        source=str(metadata.get("source")),
        code_version=metadata["code_version"],
        summary=_summary(result, base_rate),
        promoted=result.promoted,
        decision="; ".join(result.decision),
        held_out_heading=heading,
        protocol=protocol,
        where=where,
        metrics=[{"name": k, "label": LABELS[k]} for k in METRIC_NAMES],
        rows=_rows(result),
        base_rate=base_rate,
        curves=_curves(probabilities, y),
        shap=shap_summary_plot(model, test_frame, seed=settings.seed),
        features=metadata["features"],
        dropped=list((metadata.get("dropped_features") or {}).items()),
        details=_details(result),
        clv=result.clv or {},
        fairness=result.fairness or {},
    )


def shap_summary_plot(model: ChurnModel, frame: pd.DataFrame, sample: int = 2000, seed: int = 0) -> str:
    """Which features move risk, and which way: the shap package's summary plot of the API's own factors."""
    # imported here: shap costs ~6 s to import, and only the report draws with it
    import matplotlib.pyplot as plt
    import shap

    rows = frame.sample(n=min(sample, len(frame)), random_state=seed) if len(frame) > sample else frame
    values = contributions(model, rows)  # exact TreeSHAP, one-hot columns folded back per feature
    shown = pd.DataFrame(
        {
            name: (
                rows[name].astype("category").cat.codes
                if name in model.encoder.categories
                else pd.to_numeric(rows[name], errors="coerce")
            )
            for name in model.encoder.features
        }
    )
    shap.summary_plot(values, shown, show=False, max_display=20)
    fig = plt.gcf()
    fig.tight_layout()
    image = png(fig)
    plt.close("all")
    return image
