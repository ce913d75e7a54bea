"""Training-set readiness: uninformative features left out by name, hopeless training sets refused in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn.errors import InputError
from training.readiness import check_trainable, informative_features
from training.windows import make_windows

MONTHS = [f"2024-{m:02d}" for m in range(1, 13)] + [f"2025-{m:02d}" for m in range(1, 5)]


def test_all_null_and_constant_features_are_named_not_fitted() -> None:
    frame = pd.DataFrame(
        {
            "tickets": pd.array([None] * 6, dtype="Int64"),
            "gender": ["Male"] * 6,
            "charges": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
            "partner": [True, True, True, True, True, np.nan],  # one value plus missing: missing is information
        }
    )
    kept, dropped = informative_features(frame, list(frame.columns))
    assert kept == ["charges", "partner"]
    assert dropped == {
        "tickets": "no values in the development window (the source does not record it)",
        "gender": "one value (Male) for every row of the development window",
    }


def _labels(per_month_positives: dict[str, int], rows: int = 40) -> tuple[np.ndarray, np.ndarray]:
    month = np.repeat(MONTHS, rows)
    y = np.zeros(len(month), dtype=np.int64)
    for m, k in per_month_positives.items():
        y[np.flatnonzero(month == m)[:k]] = 1
    return y, month


def test_a_trainable_set_passes() -> None:
    windows = make_windows(MONTHS)
    y, month = _labels(dict.fromkeys(MONTHS, 6))
    check_trainable(y, month, windows, ["charges"], {})


@pytest.mark.parametrize(
    ("positives", "usable", "message"),
    [
        ({}, ["charges"], "no churners among 640 labelled rows"),
        (dict.fromkeys(MONTHS, 6), [], "no feature carries information in the development window (2024-01..2024-11)"),
        (
            {m: 6 for m in MONTHS if m >= "2024-06"},
            ["charges"],
            "fold 1's training months (2024-01..2024-05) hold 0 churners and 200 stayers",
        ),
        (
            {m: 6 for m in MONTHS if not m.startswith("2025")},
            ["charges"],
            "the test months (2025-02..2025-04) hold 0 churners",
        ),
    ],
)
def test_hopeless_sets_fail_in_one_line(positives: dict[str, int], usable: list[str], message: str) -> None:
    windows = make_windows(MONTHS)
    y, month = _labels(positives)
    with pytest.raises(InputError) as err:
        check_trainable(y, month, windows, usable, {"tickets": "no values"} if not usable else {})
    assert message in str(err.value) and "\n" not in str(err.value)
