"""`churn simulate step`: the simulated world advanced by one month, with a plan's treatments acting on it.

The month stepped is the raw data's last snapshot month: the one a batch score
and an action plan are made for. Its customers are treated (the plan's targets,
never its control group) and the world runs one month further: the same
simulation with one more month and every treatment applied so far, so the same
seed and the same plans give the same bytes, a shorter history is an exact
prefix of a longer one, and an empty plan gives exactly the open-loop simulation
of one more month. The treatments are kept beside the raw data
(``applied_treatments.parquet``) with the hazards they made
(``treated_hazard.parquet``); the world's lineage carries their digest.

The simulation's random numbers are drawn month by month over the active
customers in order, so a customer kept by a treatment shifts the draws of the
customers after them from then on: two worlds that differ by a treatment share
their luck up to that month, not after it (the uplift oracle, drawn from the
customers' own streams, is what compares policies fairly).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from churn.actions import NO_ACTION
from churn.campaigns import check_assignments, plan_flag, plan_rows
from churn.errors import InputError
from churn.raw import APPLIED_FILE, RawData, load_effect, load_manifest
from churn.schema import ENTITY
from churn.simulate import TREATMENT_COLUMNS, SimulationConfig, simulate
from churn.timeutil import month_index_of_ns, month_label, utc_ns
from churn.treatment_effects import ACTIONS


def world_of(raw_dir: Path) -> tuple[SimulationConfig, pd.DataFrame | None]:
    """The simulation the raw data came from and the treatments applied to it (None for an open-loop world)."""
    manifest = load_manifest(raw_dir)
    if manifest.get("source") != "simulator" or "simulation" not in manifest:
        raise InputError(f"simulate step: the raw data at {raw_dir} is not a simulation — run `churn simulate` first")
    return SimulationConfig(**manifest["simulation"]), load_effect(raw_dir, APPLIED_FILE)


def active_customers(raw_dir: Path, month: int) -> tuple[set[str], set[str]]:
    """Customers who joined before ``month`` and had not left before it (those a plan for that month can treat),
    and every customer the raw data holds."""
    customers = pq.read_table(Path(raw_dir) / "customers.parquet", columns=[ENTITY, "signup_at"]).to_pandas()
    churned = pq.read_table(Path(raw_dir) / "churn_events.parquet", columns=[ENTITY, "churned_at"]).to_pandas()
    joined = month_index_of_ns(utc_ns(customers["signup_at"])) < month
    left = churned[month_index_of_ns(utc_ns(churned["churned_at"])) < month]
    gone = set(left[ENTITY].astype(str))
    return {c for c in customers.loc[joined, ENTITY].astype(str) if c not in gone}, set(customers[ENTITY].astype(str))


def plan_treatments(plan: pd.DataFrame, month: int, active: set[str], known: set[str]) -> pd.DataFrame:
    """The treatments of ``plan`` in ``month``: an action plan's targets (``targeted``, not ``control``) with their
    ``best_action``, or every row of a plain ``customer_id, action`` list. Refused by name, nothing applied: a
    customer listed twice, one who is not a customer that month, an action the simulator has no effect for."""
    if ENTITY not in plan:
        raise InputError(f"--plan: no {ENTITY} column")
    if "targeted" in plan and "best_action" in plan:
        treated = plan_flag(plan, "targeted") & ~(plan_flag(plan, "control") if "control" in plan else False)
        chosen = plan[treated]
    elif "action" in plan:
        chosen = plan.rename(columns={"action": "best_action"}).assign(targeted=True)
    else:
        raise InputError("--plan: needs an action plan's targeted and best_action columns, or an action column")
    check_assignments(chosen, known, (*ACTIONS, NO_ACTION))
    ids = chosen[ENTITY].astype(str)
    inactive = ~ids.isin(active)
    if inactive.any():
        rows = pd.Series(chosen.index, index=chosen.index)
        raise InputError(f"--plan: customer(s) {plan_rows(ids[inactive], rows[inactive])} are not customers in "
                         f"{month_label(month)} (joined later or left before it); nothing applied")  # fmt: skip
    return pd.DataFrame(
        {
            "customer_id": chosen[ENTITY].astype(str).to_numpy(),
            "action": chosen["best_action"].astype(str).to_numpy(),
            "month": month_label(month),
        },
        columns=list(TREATMENT_COLUMNS),
    )


def step(
    raw_dir: Path, plan: pd.DataFrame | None = None, progress: Callable[[int, int], None] | None = None
) -> tuple[RawData, pd.DataFrame]:
    """The world one month on, with ``plan`` (None: nobody treated) acting from the month stepped; returns the new
    raw data (to save) and the treatments this step applied."""
    config, applied = world_of(raw_dir)
    month = config.start_index + config.months
    new = (
        plan_treatments(plan, month, *active_customers(raw_dir, month))
        if plan is not None
        else pd.DataFrame(columns=list(TREATMENT_COLUMNS))
    )
    parts = [df for df in (applied, new) if df is not None and len(df)]
    treatments = pd.concat(parts, ignore_index=True) if parts else None
    return simulate(replace(config, months=config.months + 1), progress, treatments), new
