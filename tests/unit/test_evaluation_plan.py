"""How training holds rows out: time windows, or repeated stratified K-fold on a cross-section; like with like."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churn.errors import InputError
from churn.io import write_json
from churn.schema import ENTITY, EVENT_TIMESTAMP, LABEL
from harness.settings import make_settings
from training import promotion
from training.plan import INNER_FOLDS, KFOLD, TIME, kfold_plan, time_plan
from training.train import evaluation_mode, held_out, last_labelled_rows
from training.windows import make_windows


def _labels(n: int, rate: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < rate).astype(np.int64)


def test_every_row_is_held_out_once_per_repeat_by_models_that_never_saw_it() -> None:
    y = _labels(900, 0.2, 1)
    plan = kfold_plan(y, folds=5, repeats=2, seed=42)
    assert plan.mode == KFOLD and len(plan.outer) == 10 and plan.test.all()
    for repeat in range(2):
        tested = np.zeros(len(y), dtype=int)
        for split in (s for s in plan.outer if s.repeat == repeat):
            tested += split.test
            assert not (split.fit & split.test).any() and not (split.calibration & split.test).any()
            assert not (split.fit & split.calibration).any()
            assert (split.fit | split.calibration | split.test).all()  # nothing left unused
            # stratified: each test fold's churn rate is the whole set's, within one row
            assert abs(y[split.test].sum() - y.mean() * split.test.sum()) <= 1
            assert len(split.tuning) == INNER_FOLDS
            for train, valid in split.tuning:  # the configuration is chosen inside the fitting rows only
                assert not (train & ~split.fit).any() and not (valid & ~split.fit).any()
                assert not (train & valid).any() and y[valid].sum() > 0
        assert (tested == 1).all()  # a partition: every row once per repeat
    first = [s.test for s in plan.outer[:5]]
    second = [s.test for s in plan.outer[5:]]
    assert any((a != b).any() for a, b in zip(first, second, strict=True))  # each repeat its own shuffle
    # the shipped model: fitted and calibrated on everything, tested on nothing
    assert (plan.final.fit | plan.final.calibration).all() and not plan.final.test.any()


def test_the_same_seed_gives_the_same_folds_and_another_seed_others() -> None:
    y = _labels(600, 0.3, 2)
    a, b, c = kfold_plan(y, 3, 2, 7), kfold_plan(y, 3, 2, 7), kfold_plan(y, 3, 2, 8)
    assert all((s.test == t.test).all() and (s.fit == t.fit).all() for s, t in zip(a.outer, b.outer, strict=True))
    assert any((s.test != t.test).any() for s, t in zip(a.outer, c.outer, strict=True))


def test_too_few_churners_for_the_folds_is_one_line_naming_the_option() -> None:
    y = np.zeros(500, dtype=np.int64)
    y[:40] = 1  # 5 folds × 3 inner folds × 5 churners needs 75
    with pytest.raises(InputError, match=r"40 churners .* need at least 75 .* --cv-folds"):
        kfold_plan(y, 5, 1, 0)
    with pytest.raises(InputError, match=r"--cv-folds must be at least 2"):
        kfold_plan(_labels(500, 0.3, 0), 1, 1, 0)


def test_a_time_plan_is_the_windows_months() -> None:
    months = [f"2024-{m:02d}" for m in range(1, 13)]
    windows = make_windows(months, test_months=2, calibration_months=2, n_folds=2, valid_months=2)
    month = np.repeat(months, 3)
    plan = time_plan(month, windows)
    assert plan.mode == TIME and plan.shares_final and plan.repeats == 1
    assert list(np.unique(month[plan.test])) == list(windows.test)
    assert list(np.unique(month[plan.final.fit])) == list(windows.development)
    assert [list(np.unique(month[v])) for _, v in plan.final.tuning] == [list(f.valid) for f in windows.folds]


def test_held_out_fills_each_repeat_from_its_own_splits() -> None:
    y = _labels(300, 0.3, 3)
    plan = kfold_plan(y, 3, 2, 0)
    ts = SimpleNamespace(plan=plan, y=y, test=plan.test)
    seen: list[int] = []

    def predict(split: Any) -> np.ndarray:
        seen.append(split.repeat)
        return np.full(int(split.test.sum()), split.repeat + 0.25)

    out = held_out(ts, predict)  # type: ignore[arg-type]
    assert out.shape == (2, 300) and seen == [0, 0, 0, 1, 1, 1]
    assert (out[0] == 0.25).all() and (out[1] == 1.25).all()


def test_a_cross_sections_unit_is_each_customers_last_labelled_row() -> None:
    t = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-01-01", "2024-02-01"], utc=True)
    frame = pd.DataFrame(
        {ENTITY: ["a", "a", "a", "b", "b"], EVENT_TIMESTAMP: t, LABEL: [0, 0, 1, 0, 0], "x": [1, 2, 3, 4, 5]}
    )
    rows = last_labelled_rows(frame.sample(frac=1, random_state=0))
    assert rows[ENTITY].tolist() == ["a", "b"] and rows["x"].tolist() == [3, 5] and rows[LABEL].tolist() == [1, 0]


def test_auto_evaluation_is_kfold_on_a_cross_section_and_time_otherwise(tmp_path) -> None:
    settings = make_settings(tmp_path, "plan")
    assert evaluation_mode(settings, "auto") == TIME  # no raw data yet
    write_json({"source": "mobile", "kind": "cross_section"}, settings.raw_dir / "manifest.json")
    assert evaluation_mode(settings, "auto") == KFOLD
    assert evaluation_mode(settings, "time") == TIME  # asked for by name
    with pytest.raises(InputError, match=r"--evaluation: must be one of auto, time, kfold, got 'holdout'"):
        evaluation_mode(settings, "holdout")


KFOLD_EVAL = {"mode": "kfold", "folds": 5, "repeats": 2, "seed": 42, "rows": 7032}


def _champion(monkeypatch: pytest.MonkeyPatch, metadata: dict[str, Any]) -> None:
    monkeypatch.setattr(
        promotion.registry, "read_pointer", lambda settings, kind="churn": {"champion": "churn_model:1"}
    )
    monkeypatch.setattr(
        promotion.registry, "model_info", lambda settings, version=None, kind=None: {"metadata": metadata}
    )


@pytest.mark.parametrize(
    ("champion", "challenger", "expected"),
    [
        # a K-fold champion of the same data, on the same folds: its recorded out-of-fold figures
        ({"evaluation": KFOLD_EVAL, "lineage": {"fingerprint": "f1"}}, {"evaluation": KFOLD_EVAL}, "recorded"),
        # the same data judged another way: it was fitted on the challenger's held-out rows
        ({"windows": {"test": ["2024-10"]}, "lineage": {"fingerprint": "f1"}}, {"evaluation": KFOLD_EVAL},
         "incomparable"),
        ({"evaluation": KFOLD_EVAL, "lineage": {"fingerprint": "f1"}}, {"evaluation": {"mode": "time"}},
         "incomparable"),
        # other folds of the same data (another clock: other rows): not the same folds
        ({"evaluation": {**KFOLD_EVAL, "rows": 7000}, "lineage": {"fingerprint": "f1"}}, {"evaluation": KFOLD_EVAL},
         "incomparable"),
        # another source's champion never saw these customers; two time models: the test months (as before)
        ({"evaluation": KFOLD_EVAL, "lineage": {"fingerprint": "f0"}}, {"evaluation": KFOLD_EVAL}, "rescore"),
        ({"windows": {"test": ["2024-10"]}, "lineage": {"fingerprint": "f1"}}, {"evaluation": {"mode": "time"}},
         "rescore"),
    ],
)  # fmt: skip
def test_the_gate_compares_like_with_like(
    monkeypatch: pytest.MonkeyPatch, tmp_path, champion: dict, challenger: dict, expected: str
) -> None:
    recorded = {"pr_auc": 0.60, "brier": 0.14}
    _champion(monkeypatch, {**champion, "test": recorded})
    settings = make_settings(tmp_path, "gate")
    how, figures, detail = promotion.like_with_like(settings, {**challenger, "lineage": {"fingerprint": "f1"}})
    assert how == expected
    if expected == "recorded":
        assert figures == recorded and detail == "churn_model:1"
        decision = promotion.judge_like_with_like(settings, {"pr_auc": 0.62, "brier": 0.13}, None, True, 0.005,
                                                  {**challenger, "lineage": {"fingerprint": "f1"}})  # fmt: skip
        assert decision.promote and "out-of-fold figures on the same folds" in decision.reasons[0]
        assert "PR-AUC 0.6200 vs champion 0.6000" in decision.reasons[1]
    if expected == "incomparable":
        assert "cannot be compared" in str(detail) and "--promote force" in str(detail)
        decision = promotion.judge_like_with_like(settings, {"pr_auc": 0.99, "brier": 0.01}, None, True, 0.005,
                                                  {**challenger, "lineage": {"fingerprint": "f1"}})  # fmt: skip
        assert not decision.promote  # however good it looks
