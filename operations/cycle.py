"""The monthly cycle: online store to the clock → drift check (→ retraining, gated) → batch scores → action plan."""

from __future__ import annotations

from typing import Any

from churn.settings import Settings
from operations.steps import PLAIN, Steps
from training.config import TrainConfig


def monthly_cycle(
    settings: Settings,
    steps: Steps = PLAIN,
    retrain_on_drift: bool = True,
    train_config: TrainConfig | None = None,
) -> dict[str, Any]:
    """One scheduled month at the settings' clock; a promotion reloads the online store for the new champion."""
    materialized = steps.refresh_online(settings)
    drift = steps.drift(settings, retrain_on_drift, None, None, train_config)
    if (drift.get("response") or {}).get("promoted"):
        materialized = steps.refresh_online(settings)  # a new champion may read features the old one did not
    scores = steps.score(settings, None)
    plan = steps.decide(settings, scores["path"], None)
    return {"materialized": materialized, "drift": drift, "scores": scores, "plan": plan}


def cycle_row(month: str, result: dict[str, Any], champion: str | None) -> dict[str, Any]:
    """One month of a cycle as a table row: the replay's table and ``--json``, the flow's artifact."""
    drift, plan = result["drift"], result["plan"]
    response = drift.get("response") or {}
    return {
        "month": month,
        "drift_detected": drift["drift_detected"],
        "drifted_features": drift["drifted_features"],
        "score_shift": round(drift["scores"]["relative_change"], 4),
        "retrained": response.get("action") == "retrained",
        "promoted": bool(response.get("promoted")),
        "decision": response.get("decision"),
        "champion": champion,
        "plan_size": plan["targeted"],
        "spend": plan["spend"],
        "expected_net_value": plan["expected_net_value"],
        "report": drift.get("report"),
    }
