"""The demo: the whole platform on the active profile, from a simulation to an action plan and a drift report."""

from __future__ import annotations

from typing import Any

from churn.settings import Settings
from operations.steps import PLAIN, Progress, Steps
from training.config import TrainConfig


def demo(
    settings: Settings,
    customers: int = 20_000,
    months: int = 24,
    seed: int = 42,
    bootstrap: int = 50,
    steps: Steps = PLAIN,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """simulate → build → apply → materialize → train → score → decide → drift; returns every step's result."""
    say = progress or (lambda _m: None)
    say(f"simulating {customers:,} customers × {months} months")
    simulated = steps.simulate(settings, customers, months, seed)
    say("building snapshots")
    built = steps.build(settings)
    say("registering the feature repository")
    steps.apply(settings)
    say("loading the online store")
    online = steps.refresh_online(settings, progress)
    say("training")
    trained = steps.train(settings, TrainConfig(promote="auto", bootstrap=bootstrap), progress)
    say("scoring every active customer")
    scores = steps.score(settings, None)
    say("deciding")
    plan = steps.decide(settings, scores["path"], None)
    say("checking drift")
    drift = steps.drift(settings, False)
    return {"simulated": simulated, "built": built, "online": online, "trained": trained, "scores": scores,
            "plan": plan, "drift": drift}  # fmt: skip


def summary(settings: Settings, run: dict[str, Any]) -> dict[str, Any]:
    """Where every output of a demo run landed, as the CLI and the demo flow print it."""
    trained, plan, drift, online = run["trained"], run["plan"], run["drift"], run["online"]
    return {
        "customers_ever_simulated": run["simulated"]["customers"],
        "snapshots": run["built"]["snapshots"],
        "online_store": f"{settings.profile}: {online['customers']:,} customers ({online['mode']})",
        "champion": trained["version"] if trained["promoted"] else f"kept the champion ({trained['decision'][0]})",
        "model_report": trained.get("report"),
        "batch_scores": run["scores"]["path"],
        "action_plan": plan["latest"],
        "targeted": plan["targeted"],
        "expected_net_value": plan["expected_net_value"],
        "drift_report": drift.get("report"),
        "drift_detected": drift["drift_detected"],
    }
