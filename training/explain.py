"""Why a customer got their score: exact TreeSHAP contributions, folded back onto the features.

One function serves the API (one row, exact), batch scoring (exact for targeted
customers, Saabas approximation — labelled so — for the rest) and the model
report (a global SHAP summary plot with the ``shap`` package).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from churn.jsonvalues import plain_value
from training.artifact import ChurnModel


def contributions(model: ChurnModel, frame: pd.DataFrame, approximate: bool = False) -> np.ndarray:
    """(rows × features) log-odds contributions of the uncalibrated booster; one-hot columns summed per feature.

    Calibration is monotone, so the ranking and direction of factors carry over
    to the calibrated probability.
    """
    return _matrix_contributions(model, model.encoder.transform(frame), approximate)


def _matrix_contributions(model: ChurnModel, X: np.ndarray, approximate: bool) -> np.ndarray:
    raw = model.booster.predict(xgb.DMatrix(X), pred_contribs=True, approx_contribs=approximate)[:, :-1]
    features = list(model.encoder.features)
    fold = np.zeros((raw.shape[1], len(features)))
    for col, source in enumerate(model.encoder.source_of_column):
        fold[col, features.index(source)] = 1.0
    return np.asarray(raw @ fold)


def top_factors(
    model: ChurnModel, frame: pd.DataFrame, top_k: int = 3, approximate: bool = False
) -> list[list[dict[str, Any]]]:
    """For each row: the ``top_k`` features by |contribution| with value, contribution and direction."""
    features = list(model.encoder.features)
    return _ranked(model, model.encoder.transform(frame), frame[features].to_numpy(dtype=object), top_k, approximate)


def top_factors_rows(model: ChurnModel, rows: list[dict[str, Any]], top_k: int = 3) -> list[list[dict[str, Any]]]:
    """:func:`top_factors` (exact) for a few feature dicts, without a DataFrame: the API's explained requests."""
    features = list(model.encoder.features)
    values = np.array([[row.get(f) for f in features] for row in rows], dtype=object)
    return _ranked(model, model.encoder.transform_rows(rows), values, top_k, approximate=False)


def _ranked(
    model: ChurnModel, X: np.ndarray, values: np.ndarray, top_k: int, approximate: bool
) -> list[list[dict[str, Any]]]:
    contrib = _matrix_contributions(model, X, approximate)
    features = list(model.encoder.features)
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top_k]
    out = []
    for i, cols in enumerate(order):
        out.append(
            [
                {
                    "feature": features[j],
                    "value": plain_value(values[i, j]),
                    "contribution": round(float(contrib[i, j]), 5),
                    "direction": "raises risk" if contrib[i, j] > 0 else "lowers risk",
                }
                for j in cols
            ]
        )
    return out


def factor_columns(model: ChurnModel, frame: pd.DataFrame, top_k: int = 3, approximate: bool = False) -> pd.DataFrame:
    """Top factors as flat columns (``factor_1``, ``factor_1_contribution``, ...): the batch form of top_factors.

    A million rows of nested dicts would cost more than the scoring; flat
    columns are cheap to write and easy to filter in SQL or pandas.
    """
    contrib = contributions(model, frame, approximate) if len(frame) else np.zeros((0, len(model.features)))
    features = np.asarray(model.encoder.features, dtype=object)
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top_k]
    rows = np.arange(len(frame))[:, None]
    out: dict[str, Any] = {}
    for k in range(min(top_k, len(features))):
        out[f"factor_{k + 1}"] = features[order[:, k]] if len(frame) else np.array([], dtype=object)
        out[f"factor_{k + 1}_contribution"] = np.round(contrib[rows[:, 0], order[:, k]], 5) if len(frame) else []
    return pd.DataFrame(out, index=frame.index)
