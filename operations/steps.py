"""The platform's steps as plain calls into the layers below: what a cycle, the demo and the replay are made of.

``Steps`` bundles them so a sequence can run them directly (the CLI) or as
Prefect tasks (the flows build a ``Steps`` of tasks from these same functions).
Every step takes the settings first and returns JSON-ready data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from batch.jobs import score as score_batch
from batch.plan import make_plan
from churn.errors import InputError
from churn.privacy import purge_expired
from churn.raw import replace_raw
from churn.settings import Settings
from churn.simulate import SimulationConfig
from churn.simulate import simulate as run_simulation
from monitoring.drift_check import check, scheduled_dates
from monitoring.respond import check_and_respond
from store.feast_store import apply as feast_apply
from store.materialize import refresh_online as refresh
from store.offline_build import build_offline
from training.config import TrainConfig
from training.train import train as fit

Progress = Callable[[str], None]


def simulate(settings: Settings, customers: int, months: int, seed: int, scenario: str = "stable") -> dict[str, Any]:
    config = SimulationConfig(customers=customers, months=months, seed=seed, scenario=scenario)
    config.validate()
    raw = run_simulation(config)
    saved = replace_raw(raw, settings.raw_dir)
    return {"customers": len(raw.tables["customers"]), "last_snapshot_month": raw.last_snapshot_month, **saved}


def build(settings: Settings) -> dict[str, Any]:
    return build_offline(settings)


def apply(settings: Settings) -> dict[str, Any]:
    return asdict(feast_apply(settings))


def refresh_online(settings: Settings, progress: Progress | None = None) -> dict[str, Any]:
    say = progress

    def counted(message: str, done: int, total: int) -> None:  # the flows' and the demo's log lines
        if say is not None:
            say(f"materialize: {message} ({done}/{total})")

    return refresh(settings, progress=counted)


def train(settings: Settings, config: TrainConfig, progress: Progress | None = None) -> dict[str, Any]:
    say = progress

    def counted(message: str, done: int, total: int | None) -> None:  # the flows' and the demo's log lines
        if say is not None:
            say(f"training: {message} ({done}/{total})" if total else f"training: {message}")

    result = fit(settings, config, progress=counted)
    return {
        "version": result.version,
        "promoted": result.promoted,
        "decision": result.decision,
        "test": result.test,
        "report": result.report,
        "dropped_features": result.dropped_features,
    }


def score(settings: Settings, day: str | None = None) -> dict[str, Any]:
    return score_batch(settings, day).to_dict()


def decide(settings: Settings, scores_path: str, budget: float | None = None) -> dict[str, Any]:
    _, summary = make_plan(settings, Path(scores_path), budget=budget)
    return summary


def drift(
    settings: Settings,
    retrain: bool,
    reference_date: str | None = None,
    current_date: str | None = None,
    train_config: TrainConfig | None = None,
) -> dict[str, Any]:
    """The drift check between two dates (default: the scheduled windows); with ``retrain``, the response too."""
    if reference_date is None or current_date is None:
        reference_date, current_date = scheduled_dates(settings)
    if retrain:
        return check_and_respond(settings, reference_date, current_date, train_config=train_config)
    return check(settings, reference_date, current_date)


def retention(settings: Settings, dry_run: bool = False) -> dict[str, Any]:
    """Delete prediction logs and batch scores older than CHURN_RETENTION_DAYS (personal data kept no longer)."""
    return purge_expired(settings.home_dir, settings.retention_days, time.time(), dry_run)


def campaign_readouts(settings: Settings) -> dict[str, Any]:
    """Read back every campaign whose outcome window has passed and that has no report yet; when one was, learn
    the uplift again from every matured campaign (the next plan then values actions by it)."""
    from operations.campaigns import report_matured
    from training.uplift import train_uplift

    result = report_matured(settings)
    if result["reported"]:
        try:
            learned = train_uplift(settings)
            result["uplift"] = {"version": learned["version"], "actions": learned["actions"],
                                "skipped": learned["skipped"]}  # fmt: skip
        except InputError as exc:  # too few randomised outcomes yet: the plans keep the catalogue's rates
            result["uplift"] = {"not_learned": str(exc)}
    return result


@dataclass(frozen=True)
class Steps:
    """The steps a sequence calls; each field has the signature of the function of the same name above."""

    simulate: Callable[..., dict[str, Any]] = simulate
    build: Callable[..., dict[str, Any]] = build
    apply: Callable[..., dict[str, Any]] = apply
    refresh_online: Callable[..., dict[str, Any]] = refresh_online
    train: Callable[..., dict[str, Any]] = train
    score: Callable[..., dict[str, Any]] = score
    decide: Callable[..., dict[str, Any]] = decide
    drift: Callable[..., dict[str, Any]] = drift
    retention: Callable[..., dict[str, Any]] = retention
    campaign_readouts: Callable[..., dict[str, Any]] = campaign_readouts


PLAIN = Steps()
