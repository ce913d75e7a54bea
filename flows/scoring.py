"""Daily: batch-score every active customer at the platform clock, then turn the scores into the action plan."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows import notify, steps


@flow(name="batch scoring", log_prints=True)
def scoring_flow(as_of: str | None = None, date: str | None = None, budget: float | None = None) -> dict[str, Any]:
    settings = steps.settings_at(as_of)
    scored = steps.score(settings, date)
    plan = steps.decide(settings, scored["path"], budget)
    keys = ("date", "customers", "targeted", "spend", "expected_saved_revenue", "expected_net_value", "roi")
    notify.table("action-plan", [{k: plan.get(k) for k in keys}], f"action plan: {plan['latest']}")
    return {"scores": scored, "plan": plan}
