"""Daily: bring the online store to the platform clock (a full reload when it finds the store empty or stale)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from churn.settings import get_settings
from flows import notify
from flows.tasks import TASKS


@flow(name="materialize", log_prints=True)
def materialize_flow(as_of: str | None = None) -> dict[str, Any]:
    result = TASKS.refresh_online(get_settings().at(as_of), get_run_logger().info)
    notify.materialization(result)
    return result
