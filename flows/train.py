"""Monthly: train → evaluate → gate → promote or keep, with the gate's reasons published and announced."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from churn.settings import get_settings
from flows import notify
from flows.tasks import TASKS
from training.config import TrainConfig


@flow(name="training", log_prints=True)
def training_flow(as_of: str | None = None, promote: str = "auto", bootstrap: int = 50) -> dict[str, Any]:
    settings = get_settings().at(as_of)
    result = TASKS.train(settings, TrainConfig(promote=promote, bootstrap=bootstrap), get_run_logger().info)
    notify.training(settings, result)
    return result
