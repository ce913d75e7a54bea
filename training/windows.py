"""Time-aware evaluation windows over snapshot months: train on the past, judge on what follows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from churn.errors import InputError


@dataclass(frozen=True)
class Fold:
    train: tuple[str, ...]
    valid: tuple[str, ...]


@dataclass(frozen=True)
class Windows:
    """Expanding-window folds for tuning, a calibration holdout, and the final test months.

    ``development`` months feed the folds and the final fit; ``calibration``
    months (right after them) fit the probability calibrator; ``test`` months
    (the most recent labelled ones) are touched once, at the end.
    """

    folds: tuple[Fold, ...]
    development: tuple[str, ...]
    calibration: tuple[str, ...]
    test: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_windows(
    months: list[str], test_months: int = 3, calibration_months: int = 2, n_folds: int = 3, valid_months: int = 2
) -> Windows:
    months = sorted(set(months))
    min_train = 3
    needed = test_months + calibration_months + n_folds * valid_months + min_train
    if len(months) < needed:
        raise InputError(
            f"training: {len(months)} labelled months, need at least {needed} "
            f"({min_train} to train, {n_folds}×{valid_months} to validate, {calibration_months} to calibrate, "
            f"{test_months} to test) — simulate more months or lower --folds"
        )
    test = tuple(months[-test_months:])
    calibration = tuple(months[-test_months - calibration_months : -test_months])
    development = tuple(months[: -test_months - calibration_months])
    folds = []
    for k in range(n_folds):
        end = len(development) - (n_folds - k) * valid_months
        folds.append(Fold(train=development[:end], valid=development[end : end + valid_months]))
    return Windows(folds=tuple(folds), development=development, calibration=calibration, test=test)
