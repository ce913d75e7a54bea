"""Is this training set worth tuning on? Checked in seconds, before minutes of tuning start.

Two things are settled here. Features that carry no information in the
development window (every value missing, or one value for everyone) are left
out of the model — a source may simply not have them, as the IBM Telco file has
no tickets or late payments — and named, so the metadata, the report and the
JSON say what the model does not use; serving and scoring still accept them.
And a training set that cannot produce an honest model (no churners, no
usable feature, a window without both classes) fails with one line saying
which window and what to do, instead of a library's error deep in a fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn.errors import InputError
from training.windows import Windows

MIN_POSITIVES = 5  # churners a validation, calibration or test window needs for its metrics to mean anything


def informative_features(frame: pd.DataFrame, names: list[str]) -> tuple[list[str], dict[str, str]]:
    """(features to fit on, {feature: why it was left out}) judged on ``frame``, the development rows."""
    kept: list[str] = []
    dropped: dict[str, str] = {}
    for name in names:
        values = frame[name]
        present = values.dropna()
        if present.empty:
            dropped[name] = "no values in the development window (the source does not record it)"
            continue
        distinct = present.astype(str).unique() if values.dtype == object else present.unique()
        if len(distinct) == 1 and len(present) == len(values):
            dropped[name] = f"one value ({distinct[0]!s}) for every row of the development window"
            continue
        kept.append(name)
    return kept, dropped


def _span(months: tuple[str, ...]) -> str:
    return months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}"


def check_trainable(
    y: np.ndarray, month: np.ndarray, windows: Windows | None, usable: list[str], dropped: dict[str, str]
) -> None:
    """Raise InputError, naming the window and the remedy, when this training set cannot give an honest model.
    Without ``windows`` (K-fold on a cross-section) the folds' own check follows in :func:`training.plan.kfold_plan`."""
    if int(y.sum()) == 0:
        raise InputError(
            f"training: no churners among {len(y):,} labelled rows — nothing to learn; check the source's churn "
            "events and the platform clock (CHURN_AS_OF)"
        )
    if not usable:
        where = f"the development window ({_span(windows.development)})" if windows else "the cross-section"
        reasons = "; ".join(f"{k}: {v}" for k, v in dropped.items())
        raise InputError(f"training: no feature carries information in {where}: {reasons}")
    if windows is None:
        return
    checks: list[tuple[str, tuple[str, ...], int]] = []
    for k, fold in enumerate(windows.folds, start=1):
        checks += [(f"fold {k}'s training months", fold.train, 1), (f"fold {k}'s validation months", fold.valid,
                   MIN_POSITIVES)]  # fmt: skip
    checks += [("the calibration months", windows.calibration, MIN_POSITIVES), ("the test months", windows.test,
               MIN_POSITIVES)]  # fmt: skip
    for what, months, needed in checks:
        rows = np.isin(month, months)
        positives = int(y[rows].sum())
        negatives = int(rows.sum()) - positives
        if positives < needed or negatives < needed:
            raise InputError(
                f"training: {what} ({_span(months)}) hold {positives:,} churners and {negatives:,} stayers, need at "
                f"least {needed} of each — too few labelled rows per fold; simulate or ingest more history, or "
                "lower --folds / --test-months"
            )
