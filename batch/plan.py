"""The action-plan writer: scores file in, ``outputs/action_plan_YYYY-MM-DD.csv`` and ``action_plan.csv`` out.

Reading and checking happen before anything is written; both files are
written whole (temporary file, then rename), so a bad input or a crash leaves
the previous plan in place.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.actions import NO_ACTION, Catalogue, load_catalogue
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


RESPONSES = ("auto", "catalogue")


def learned_response(settings: Settings, scores: pd.DataFrame, catalogue: Catalogue
                     ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # fmt: skip
    """The learned uplift of each action the current uplift model knows, for the scored customers, and what the
    plan's EV rests on, action by action (the catalogue's rate where no uplift was learned, and why)."""
    from training.uplift import load_uplift

    real = [a for a in catalogue.names if a != NO_ACTION]

    def catalogue_only(why: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {}, {"source": "catalogue", "why": why, "actions": dict.fromkeys(real, "catalogue rate")}

    loaded = load_uplift(settings)
    if loaded is None:
        return catalogue_only("no uplift model yet (`churn campaign learn` learns one from matured campaigns)")
    model, metadata = loaded
    missing = [f for f in model.encoder.features if f not in scores]
    if missing:
        return catalogue_only(f"the scores file lacks the uplift model's feature(s) {', '.join(missing)}")
    learned = model.uplift(scores)
    prevented = {a: learned[f"uplift_{a}"].to_numpy() for a in model.actions if a in real}
    actions = {a: "uplift" if a in prevented else f"catalogue rate ({model.skipped.get(a, 'not in any campaign')})"
               for a in real}  # fmt: skip
    return prevented, {"source": "uplift" if prevented else "catalogue", "model": metadata["version"],
                       "actions": actions}  # fmt: skip


def make_plan(
    settings: Settings,
    scores_path: Path,
    budget: float | None = None,
    actions: Path | None = None,
    control_fraction: float = 0.10,
    seed: int | None = None,
    response: str = "auto",
    exploration: float = 0.0,
) -> tuple[Plan, dict[str, Any]]:
    """``response``: ``auto`` values the actions a learned uplift model knows by their uplift (the rest by the
    catalogue's rates), ``catalogue`` values every action by its rate."""
    if response not in RESPONSES:
        raise InputError(f"--response: must be one of {', '.join(RESPONSES)}, got {response!r}")
    scores = read_scores(scores_path)
    catalogue = load_catalogue(actions)
    refused = objected(settings.raw_dir, scores["customer_id"].astype(str))
    prevented, basis = learned_response(settings, scores, catalogue) if response == "auto" else ({}, {})
    if response == "catalogue":
        basis = {"source": "catalogue", "why": "--response catalogue"}
    plan = decide(scores, catalogue, budget, control_fraction, settings.seed if seed is None else seed, refused,
                  prevented, exploration)  # fmt: skip
    plan.summary["response"] = basis
    plan.summary["fairness"] = plan_fairness(settings, scores, plan)
    day = plan_day(scores, scores_path)
    dated = settings.outputs_dir / f"action_plan_{day}.csv"
    latest = settings.outputs_dir / "action_plan.csv"
    write_csv(plan.frame, dated)
    with atomic_path(latest) as tmp:  # the same bytes, copied rather than serialised twice
        shutil.copyfile(dated, tmp)
    return plan, {**plan.summary, "date": day, "plan": str(dated), "latest": str(latest), "scores": str(scores_path)}
