"""The monthly cycle: materialize → drift check (→ retraining, gated) → batch scoring → action plan.

:func:`replay` walks the platform clock through the last months of the data in
``CHURN_HOME``, one cycle per month, so each step sees only what was known then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow

from churn.timeutil import InputError, month_label, parse_month
from flows import notify, steps
from flows.drift import drift_flow
from flows.materialize import materialize_flow
from flows.scoring import scoring_flow


@flow(name="monthly cycle", log_prints=True)
def monthly_cycle_flow(as_of: str | None = None, retrain_on_drift: bool = True) -> dict[str, Any]:
    materialized = materialize_flow(as_of)
    drift = drift_flow(as_of, retrain=retrain_on_drift)
    if (drift.get("response") or {}).get("promoted"):
        materialize_flow(as_of)  # a new champion may read features the old one did not; refresh is cheap
    scored = scoring_flow(as_of)
    return {"materialized": materialized, "drift": drift, **scored}


def cycle_row(month: str, result: dict[str, Any], champion: str | None) -> dict[str, Any]:
    """One month of a replay, as the summary table and ``--json`` show it."""
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


@flow(name="replay", log_prints=True)
def replay_flow(months: int, bootstrap: int = 20) -> list[dict[str, Any]]:
    return replay(months, bootstrap)


def replay(months: int, bootstrap: int = 20, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Replay the last ``months`` months through the cycle; the champion at the start is retrained at that clock.

    A champion trained on everything (as `make demo` leaves it) has seen the
    outcomes the replay is about to reveal, so the replay begins by training
    one with the clock at its first month and promoting it (the replay's
    starting point), then runs one cycle per month.
    """
    from churn.offline import snapshot_months
    from training import registry

    say = progress or (lambda _m: None)
    settings = steps.settings_at()
    available = snapshot_months(settings.snapshots_dir)
    if months < 1:
        raise InputError(f"--months: must be at least 1, got {months}")
    if len(available) <= months:
        raise InputError(f"--months: the offline store holds {len(available)} months; replay needs more than {months}")
    last = parse_month(available[-1])
    first = last - months + 1
    start = month_label(first - 1)
    say(f"starting champion at clock {start}")
    steps.train(steps.settings_at(start), promote="force", bootstrap=bootstrap, report=False)
    rows = []
    for index in range(first, last + 1):
        month = month_label(index)
        say(f"cycle {month}")
        result = monthly_cycle_flow(month)
        rows.append(cycle_row(month, result, registry.read_pointer(settings).get("champion")))
    notify.table("replay", [{k: v for k, v in r.items() if k not in ("decision", "report")} for r in rows],
                 f"replay of {months} months")  # fmt: skip
    return rows
