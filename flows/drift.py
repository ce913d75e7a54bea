"""Weekly: the drift check; on drift, retraining, and the promotion gate decides. Alarms are announced."""

from __future__ import annotations

from typing import Any

from prefect import flow

from churn.settings import get_settings
from flows import notify
from flows.tasks import TASKS


@flow(name="drift check", log_prints=True)
def drift_flow(
    as_of: str | None = None,
    reference_date: str | None = None,
    current_date: str | None = None,
    retrain: bool = True,
) -> dict[str, Any]:
    """Without dates: the champion's last test month against the clock's month (``scheduled_dates``)."""
    settings = get_settings().at(as_of)
    result = TASKS.drift(settings, retrain, reference_date, current_date)
    return {**result, "announced": notify.drift(settings, result)}
