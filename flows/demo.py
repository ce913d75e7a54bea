"""`make demo` through the flows: simulate → build → apply → materialize → train → score → decide → drift."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows import steps
from flows.drift import drift_flow
from flows.scoring import scoring_flow
from flows.train import publish_training


@flow(name="demo", log_prints=True)
def demo_flow(customers: int = 20_000, months: int = 24, seed: int = 42, bootstrap: int = 50) -> dict[str, Any]:
    """The whole platform on the active profile; returns where every output landed."""
    settings = steps.settings_at()
    simulated = steps.simulate(settings, customers, months, seed)
    built = steps.build(settings)
    steps.apply(settings)
    online = steps.refresh_online(settings)
    trained = steps.train(settings, promote="auto", bootstrap=bootstrap)
    publish_training(settings, trained)
    scored = scoring_flow()
    drift = drift_flow(retrain=False)
    return {
        "customers_ever_simulated": simulated["customers"],
        "snapshots": built["snapshots"],
        "online_store": f"{settings.profile}: {online['customers']:,} customers ({online['mode']})",
        "champion": trained["version"] if trained["promoted"] else f"kept the champion ({trained['decision'][0]})",
        "model_report": trained.get("report"),
        "batch_scores": scored["scores"]["path"],
        "action_plan": scored["plan"]["latest"],
        "targeted": scored["plan"]["targeted"],
        "expected_net_value": scored["plan"]["expected_net_value"],
        "drift_report": drift.get("report"),
        "drift_detected": drift["drift_detected"],
    }
