"""How a training run holds data out: by time on monthly histories, by repeated stratified K-fold on a cross-section.

A source observed month after month is judged the way it will be used: train
on the past, test on the months that follow (:mod:`training.windows`). A source
observed once — one row per customer as of a date, with a churn flag, like the
IBM Telco file — has months only because the platform reconstructed them under
stated assumptions (:mod:`churn.cross_section`); testing on its "latest months"
would test on the reconstruction. Such a source is judged by repeated
stratified K-fold over customers instead, on the cross-section's own unit: each
customer's last labelled row (a churner at the month they left, a stayer at
the latest matured month).

Both are described by one :class:`Plan`: a list of :class:`Split`\\ s, each
with rows to fit on, rows to calibrate on, rows to test on and the (train,
valid) folds a configuration is chosen on. A time plan has one split, which is
also the shipped model's. A K-fold plan has folds × repeats splits, and the
shipped model is fitted on a split of its own after them. In a K-fold plan the
configuration is chosen inside each split's fitting rows (nested), so nothing
is tuned on the rows a figure is reported on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, train_test_split

from churn.errors import InputError
from training.windows import Windows

TIME, KFOLD = "time", "kfold"
MODES = ("auto", TIME, KFOLD)
INNER_FOLDS = 3  # folds a configuration is chosen on inside each split's fitting rows
CALIBRATION_SHARE = 0.25  # of a K-fold split's training rows, held out to fit the calibrator
MIN_POSITIVES = 5

Mask = np.ndarray


@dataclass(frozen=True)
class Split:
    """Boolean masks over the training set's rows."""

    fit: Mask
    calibration: Mask
    test: Mask
    tuning: tuple[tuple[Mask, Mask], ...]
    repeat: int = 0


@dataclass(frozen=True)
class Plan:
    mode: str
    outer: tuple[Split, ...]  # where held-out figures come from
    final: Split  # where the shipped model is fitted and calibrated (a time plan's only outer split)
    repeats: int
    description: dict[str, Any]

    @property
    def test(self) -> Mask:
        """The rows figures are reported on: the test months, or every row (each held out once per repeat)."""
        out = np.zeros_like(self.outer[0].test)
        for split in self.outer:
            out |= split.test
        return out

    @property
    def shares_final(self) -> bool:
        """Whether the shipped model is the outer split's own (time): its test predictions need no second fit."""
        return len(self.outer) == 1 and self.outer[0] is self.final


def month_selector(month: np.ndarray) -> Callable[[tuple[str, ...]], Mask]:
    """The rows of some months, as a function: the labels are factorised once, so each selection compares small
    integer codes instead of ~2 million strings (~90 ms a call, called some forty times a run)."""
    codes, uniques = pd.factorize(month)

    def rows(months: tuple[str, ...]) -> Mask:
        return np.isin(codes, np.flatnonzero(np.isin(uniques, months)))

    return rows


def time_plan(month: np.ndarray, windows: Windows) -> Plan:
    rows = month_selector(month)
    split = Split(
        fit=rows(windows.development),
        calibration=rows(windows.calibration),
        test=rows(windows.test),
        tuning=tuple((rows(f.train), rows(f.valid)) for f in windows.folds),
    )
    return Plan(TIME, (split,), split, 1, {"mode": TIME, **windows.to_dict()})


def _fit_and_calibration(y: np.ndarray, index: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return train_test_split(index, test_size=CALIBRATION_SHARE, stratify=y[index], random_state=seed)


def _split(y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int, repeat: int) -> Split:
    n = len(y)
    fit, cal = _fit_and_calibration(y, train, seed)
    inner = StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed).split(fit, y[fit])
    tuning = tuple((_mask(n, fit[a]), _mask(n, fit[b])) for a, b in inner)
    return Split(_mask(n, fit), _mask(n, cal), _mask(n, test), tuning, repeat)


def _mask(n: int, index: np.ndarray) -> Mask:
    out = np.zeros(n, dtype=bool)
    out[index] = True
    return out


def kfold_plan(y: np.ndarray, folds: int, repeats: int, seed: int) -> Plan:
    """Repeated stratified K-fold over rows that are one per customer; every random choice from ``seed``."""
    if folds < 2 or repeats < 1:
        raise InputError(f"--cv-folds must be at least 2 and --cv-repeats at least 1, got {folds} and {repeats}")
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    # each outer training part is split for calibration and then into inner folds: every piece needs both classes
    needed = MIN_POSITIVES * folds * INNER_FOLDS
    if min(positives, negatives) < needed:
        raise InputError(
            f"training: {positives:,} churners and {negatives:,} stayers, need at least {needed} of each for "
            f"{folds}-fold cross-validation with {INNER_FOLDS} inner folds — ingest more customers or lower --cv-folds"
        )
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    outer = tuple(
        _split(y, train, test, seed + k, k // folds)
        for k, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y))
    )
    final = _split(y, np.arange(len(y)), np.array([], dtype=int), seed, 0)
    description = {
        "mode": KFOLD,
        "folds": folds,
        "repeats": repeats,
        "seed": seed,
        "rows": len(y),
        "unit": "each customer's last labelled row",
        "calibration_share": CALIBRATION_SHARE,
        "inner_folds": INNER_FOLDS,
    }
    return Plan(KFOLD, outer, final, repeats, description)
