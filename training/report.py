"""The model report: one self-contained HTML file per version, readable without a server."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from churn.io import write_text
from churn.metrics import METRIC_NAMES
from churn.settings import Settings
from training.artifact import ChurnModel
from training.result import TrainResult


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _axes() -> tuple[Figure, Any]:
    """A figure of its own (matplotlib's object API: no global pyplot state, safe in any thread)."""
    fig = Figure(figsize=(5, 4))
    return fig, fig.subplots()


def _curves(probabilities: dict[str, np.ndarray], y: np.ndarray) -> dict[str, str]:
    figs = {}
    fig, ax = _axes()
    for name, p in probabilities.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name, lw=1.2)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(fontsize=7)
    figs["roc"] = _png(fig)

    fig, ax = _axes()
    for name, p in probabilities.items():
        prec, rec, _ = precision_recall_curve(y, p)
        ax.plot(rec, prec, label=name, lw=1.2)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax.legend(fontsize=7)
    figs["pr"] = _png(fig)

    fig, ax = _axes()
    for name in ("model", "oracle", "xgboost_design_params"):
        if name in probabilities:
            p = probabilities[name]
            order = np.argsort(p)
            bins = np.array_split(order, 10)
            ax.plot([p[b].mean() for b in bins], [y[b].mean() for b in bins], "o-", label=name, ms=3)
    hi = max(float(np.max(v)) for v in probabilities.values())
    ax.plot([0, hi], [0, hi], "k:", lw=0.8)
    ax.set(xlabel="predicted probability (decile mean)", ylabel="observed churn rate", title="Calibration")
    ax.legend(fontsize=7)
    figs["calibration"] = _png(fig)

    fig, ax = _axes()
    share = np.linspace(0, 1, 101)
    for name, p in probabilities.items():
        order = np.argsort(-p, kind="mergesort")
        captured = np.r_[0, np.cumsum(y[order])] / max(y.sum(), 1)
        idx = (share * len(y)).astype(int)
        ax.plot(share, captured[idx], label=name, lw=1.2)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="share of customers targeted (by score)", ylabel="share of churners reached", title="Gains")
    ax.legend(fontsize=7)
    figs["gains"] = _png(fig)
    return figs


def _table(result: TrainResult) -> str:
    rows = [("model (shipped)", result.test, result.intervals.get("model", {}))]
    rows += [(name, m, result.intervals.get(name, {})) for name, m in result.baselines.items()]
    if result.oracle is not None:
        rows.append(("oracle (true hazard)", result.oracle, result.intervals.get("oracle", {})))
    head = "".join(f"<th>{k}</th>" for k in METRIC_NAMES)
    body = ""
    for name, m, ci in rows:
        cells = ""
        for k in METRIC_NAMES:
            lo_hi = ci.get(k)
            extra = f"<br><small>[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]</small>" if lo_hi else ""
            cells += f"<td>{m[k]:.4f}{extra}</td>"
        body += f"<tr><th>{html.escape(name)}</th>{cells}</tr>"
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


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
    figs = _curves(probabilities, y)
    shap_png = shap_summary_plot(model, test_frame, folder / "shap_summary.png", seed=settings.seed)
    figs["shap"] = base64.b64encode(shap_png.read_bytes()).decode()
    imgs = "".join(f'<img alt="{k}" src="data:image/png;base64,{v}">' for k, v in figs.items() if k != "shap")
    features = "".join(f"<li><code>{html.escape(f)}</code></li>" for f in metadata["features"])
    dropped = "".join(
        f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>"
        for k, v in (metadata.get("dropped_features") or {}).items()
    )
    if dropped:
        dropped = (
            "<h3>Left out of the model</h3><p>No information in the development window; the service still accepts "
            f"them, the model does not read them.</p><ul>{dropped}</ul>"
        )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Model {html.escape(result.version)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:4px 6px;text-align:right}} img{{max-width:32%;margin:4px}}
pre{{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto}}</style></head><body>
<h1>Churn model <code>{html.escape(result.version)}</code></h1>
<p>Trained {html.escape(metadata["trained_at"])} on feature service <code>{
        html.escape(metadata["feature_service"])
    }</code>
({html.escape(str(metadata.get("source")))} data), code version {html.escape(metadata["code_version"])}.
Promoted: <b>{"yes" if result.promoted else "no"}</b> — {html.escape("; ".join(result.decision))}.</p>
<h2>Test window {html.escape(", ".join(result.windows.test))}: metrics with 95% bootstrap intervals over customers</h2>
{_table(result)}
<p>Every model was fitted on the same development months, calibrated (sigmoid or isotonic, the lower cross-fitted
Brier score) on the same holdout, and scored on the same test months. EMP: expected maximum profit per customer
(Verbraken et al. 2013; α=6, β=14, CLV=200, d=10, f=1).</p>
<h2>Curves</h2>{imgs}
<h2>What drives the score (SHAP, test window sample)</h2><img style="max-width:60%" alt="shap"
src="data:image/png;base64,{figs["shap"]}">
<h2>Features ({len(metadata["features"])})</h2><ul>{features}</ul>{dropped}
<h2>Data windows</h2><pre>{html.escape(json.dumps(result.windows.to_dict(), indent=1))}</pre>
<h2>Parameters and tuning</h2><pre>{
        html.escape(
            json.dumps(
                {"chosen": result.params, "tuning": result.tuning, "calibration": result.calibration},
                indent=1,
                default=str,
            )
        )
    }</pre>
<h2>Leakage gate</h2><pre>{html.escape(json.dumps(result.leakage.to_dict(), indent=1))}</pre>
<h2>Training time (s)</h2><pre>{html.escape(json.dumps(result.seconds, indent=1))}</pre>
</body></html>"""
    path = folder / "index.html"
    write_text(page, path)
    return path


def shap_summary_plot(model: ChurnModel, frame: pd.DataFrame, path: Path, sample: int = 2000, seed: int = 0) -> Path:
    """Global picture with the shap package: which features move risk, and which way."""
    # imported here: shap costs ~6 s to import, and only the report draws with it
    import matplotlib.pyplot as plt
    import shap

    rows = frame.sample(n=min(sample, len(frame)), random_state=seed) if len(frame) > sample else frame
    X = model.encoder.transform(rows)
    values = shap.TreeExplainer(model.booster).shap_values(X)
    shap.summary_plot(values, pd.DataFrame(X, columns=model.encoder.columns), show=False, max_display=20)
    plt.tight_layout()
    plt.savefig(path, dpi=90)
    plt.close("all")
    return path
