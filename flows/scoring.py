"""Daily: batch-score every active customer at the platform clock, then turn the scores into the action plan."""

from __future__ import annotations

from typing import Any

from prefect import flow

from churn.settings import get_settings
from flows import notify
from flows.tasks import TASKS


@flow(name="batch scoring", log_prints=True)
def scoring_flow(as_of: str | None = None, date: str | None = None, budget: float | None = None) -> dict[str, Any]:
    settings = get_settings().at(as_of)
    scores = TASKS.score(settings, date)
    plan = TASKS.decide(settings, scores["path"], budget)
    notify.plan(plan)
    return {"scores": scores, "plan": plan}
