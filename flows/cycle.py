"""The monthly cycle as one flow: materialize → drift check (→ retraining, gated) → batch scores → action plan."""

from __future__ import annotations

from typing import Any

from prefect import flow

from churn.settings import get_settings
from flows import notify
from flows.tasks import TASKS
from operations.cycle import cycle_row, monthly_cycle
from training import registry


@flow(name="monthly cycle", log_prints=True)
def monthly_cycle_flow(as_of: str | None = None, retrain_on_drift: bool = True) -> dict[str, Any]:
    settings = get_settings().at(as_of)
    result = monthly_cycle(settings, TASKS, retrain_on_drift)
    notify.materialization(result["materialized"])
    notify.drift(settings, result["drift"])
    notify.plan(result["plan"])
    row = cycle_row(result["plan"]["date"][:7], result, registry.read_pointer(settings).get("champion"))
    notify.table("monthly-cycle", [{k: v for k, v in row.items() if k not in ("decision", "report")}], "the month")
    return result
