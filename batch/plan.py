"""The action-plan writer: scores file in, ``outputs/action_plan_YYYY-MM-DD.csv`` and ``action_plan.csv`` out.

Reading and checking happen before anything is written; both files are
written whole (temporary file, then rename), so a bad input or a crash leaves
the previous plan in place.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from churn.actions import load_catalogue
from churn.consent import objected
from churn.decisions import Plan, decide
from churn.errors import InputError
from churn.io import atomic_path, write_csv
from churn.settings import Settings
from training.fairness import audit, protected_of


def read_scores(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"--scores: no such file {path}")
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype={"customer_id": str})
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow and pandas raise many types for a bad file
        raise InputError(f"--scores: cannot read {path} ({err.__class__.__name__}: {err})") from None


def plan_day(scores: pd.DataFrame, path: Path) -> str:
    """The plan's date: the scores' snapshot date, else the date in the file name."""
    if "snapshot_date" in scores and scores["snapshot_date"].nunique() == 1:
        return str(pd.Timestamp(scores["snapshot_date"].iloc[0]).date())
    stem = path.stem.rsplit("_", 1)[-1]
    try:
        return str(pd.Timestamp(stem).date())
    except ValueError:
        raise InputError(f"--scores: no single snapshot_date column and no date in the name {path.name}") from None


def plan_fairness(settings: Settings, scores: pd.DataFrame, plan: Plan) -> dict[str, Any]:
    """Who this plan targets, per protected attribute the scores carry: selection rate and mean offer value."""
    protected = protected_of(settings)
    present = [a for a in protected if a in scores]
    frame = plan.frame.merge(scores[["customer_id", *present]].astype({"customer_id": str}), on="customer_id")
    return audit(frame, frame["targeted"].to_numpy(), frame["cost"].to_numpy(), present, seed=settings.seed)


def make_plan(
    settings: Settings,
    scores_path: Path,
    budget: float | None = None,
    actions: Path | None = None,
    control_fraction: float = 0.10,
    seed: int | None = None,
) -> tuple[Plan, dict[str, Any]]:
    scores = read_scores(scores_path)
    catalogue = load_catalogue(actions)
    refused = objected(settings.raw_dir, scores["customer_id"].astype(str))
    plan = decide(scores, catalogue, budget, control_fraction, settings.seed if seed is None else seed, refused)
    plan.summary["fairness"] = plan_fairness(settings, scores, plan)
    day = plan_day(scores, scores_path)
    dated = settings.outputs_dir / f"action_plan_{day}.csv"
    latest = settings.outputs_dir / "action_plan.csv"
    write_csv(plan.frame, dated)
    with atomic_path(latest) as tmp:  # the same bytes, copied rather than serialised twice
        shutil.copyfile(dated, tmp)
    return plan, {**plan.summary, "date": day, "plan": str(dated), "latest": str(latest), "scores": str(scores_path)}
