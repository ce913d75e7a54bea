"""Daily: delete prediction logs and batch scores older than CHURN_RETENTION_DAYS (personal data kept no longer)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from churn.settings import get_settings
from flows.tasks import TASKS


@flow(name="retention", log_prints=True)
def retention_flow(dry_run: bool = False) -> dict[str, Any]:
    return TASKS.retention(get_settings(), dry_run)
