"""The platform's steps as Prefect tasks: thin calls into the layers below, with retries where a retry helps.

Online-store and file I/O steps retry (a Redis restart, a file briefly
locked); training and decisions do not — their failures are not transient,
and a retry would only repeat the same error later.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import get_run_logger, task

from churn.settings import Settings, get_settings

IO_RETRIES: dict[str, Any] = {"retries": 3, "retry_delay_seconds": [2, 10, 30]}


def settings_at(as_of: str | None = None) -> Settings:
    """The platform's settings, with the clock moved to ``as_of`` (YYYY-MM) when given."""
    get_settings.cache_clear()
    settings = get_settings()
    return settings if as_of is None else settings.model_copy(update={"as_of": as_of})


@task(name="simulate")
def simulate(settings: Settings, customers: int, months: int, seed: int, scenario: str = "stable") -> dict[str, Any]:
    from churn.raw import replace_raw
    from churn.simulate import SimulationConfig, simulate

    config = SimulationConfig(customers=customers, months=months, seed=seed, scenario=scenario)
    config.validate()
    raw = simulate(config)
    saved = replace_raw(raw, settings.raw_dir)
    if saved["note"]:
        get_run_logger().warning(saved["note"])
    return {"customers": len(raw.tables["customers"]), "last_snapshot_month": raw.last_snapshot_month, **saved}


@task(name="build snapshots", **IO_RETRIES)
def build(settings: Settings) -> dict[str, Any]:
    from training.features import build_offline

    return build_offline(settings)


@task(name="feast apply", **IO_RETRIES)
def apply(settings: Settings) -> dict[str, Any]:
    from training import features

    return asdict(features.apply(settings))


@task(name="refresh the online store", **IO_RETRIES)
def refresh_online(settings: Settings) -> dict[str, Any]:
    from training.features import refresh_online

    result = refresh_online(settings)
    before, after = result["before"]["fresh_share"], result["after"]["fresh_share"]
    get_run_logger().info("online store: %s load of %s customers (fresh before %.0f%%, after %.0f%%)",
                          result["mode"], result["customers"], 100 * before, 100 * after)  # fmt: skip
    return result


@task(name="train, evaluate, gate")
def train(settings: Settings, promote: str = "auto", bootstrap: int = 50, report: bool = True) -> dict[str, Any]:
    from training.train import TrainConfig, train

    result = train(settings, TrainConfig(promote=promote, bootstrap=bootstrap, report=report))
    get_run_logger().info("%s %s: %s", result.version, "promoted" if result.promoted else "kept out",
                          "; ".join(result.decision))  # fmt: skip
    return {"version": result.version, "promoted": result.promoted, "decision": result.decision,
            "test": result.test, "report": result.report}  # fmt: skip


@task(name="batch score", **IO_RETRIES)
def score(settings: Settings, day: str | None = None) -> dict[str, Any]:
    from serving.batch import score

    return score(settings, day).to_dict()


@task(name="decide")
def decide(settings: Settings, scores_path: str, budget: float | None = None) -> dict[str, Any]:
    from pathlib import Path

    from serving.plan import make_plan

    _, summary = make_plan(settings, Path(scores_path), budget=budget)
    return summary


@task(name="drift check and response")  # no retry: a retry could train twice
def drift(settings: Settings, retrain: bool, reference_date: str | None, current_date: str | None) -> dict[str, Any]:
    from monitoring.drift_check import check, scheduled_dates
    from monitoring.respond import check_and_respond

    if reference_date is None or current_date is None:
        reference_date, current_date = scheduled_dates(settings)
    if retrain:
        return check_and_respond(settings, reference_date, current_date)
    return check(settings, reference_date, current_date)
