"""Weekly: read back every campaign whose outcome window has passed (treated vs control), and publish its page."""

from __future__ import annotations

from typing import Any

from prefect import flow

from churn.settings import get_settings
from flows.tasks import TASKS


@flow(name="campaign-readouts", log_prints=True)
def campaign_readouts_flow() -> dict[str, Any]:
    return TASKS.campaign_readouts(get_settings())
