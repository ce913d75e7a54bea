"""The response to a drift verdict: drift → retrain → the promotion gate decides. One function for CLI and flows.

Retraining never promotes by itself: :func:`training.train.train` with
``promote="auto"`` replaces the champion only if the challenger passes the
leakage gate and beats the champion on the same test window. A quiet check
trains nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from churn.settings import Settings
from monitoring.drift_check import check
from training.config import TrainConfig
from training.train import train


def check_and_respond(
    settings: Settings,
    reference_date: str,
    current_date: str,
    window_months: int = 1,
    train_config: TrainConfig | None = None,
    **check_options: Any,
) -> dict[str, Any]:
    """Run the drift check; when it finds drift, retrain and let the promotion gate decide."""
    result = check(settings, reference_date, current_date, window_months, **check_options)
    if not result["drift_detected"]:
        result["response"] = {"action": "none", "reason": "no drift"}
        return result
    config = replace(train_config or TrainConfig(), promote="auto")
    trained = train(settings, config)
    result["response"] = {
        "action": "retrained",
        "version": trained.version,
        "promoted": trained.promoted,
        "decision": trained.decision,
        "test": trained.test,
    }
    return result
