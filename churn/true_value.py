"""The simulator's true remaining lifetime and lifetime value of every customer, under no action.

The hazard is a known function of each month's state, so the truth is an
expectation over the futures the simulator can produce. It is computed by
replaying the simulation exactly up to the month, then running ``replicas``
copies of every active customer forward for the horizon with their own random
numbers. Copies never churn: each carries the probability of having survived so
far, Π(1 − h), and its bill of month t counts with that weight — the exact
expectation given the copy's path (tickets, late payments, lapses, price
changes), with far less Monte Carlo noise than counting who happened to leave.
Same configuration, month and replicas → the same figures.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from churn.economics import MARGIN, MONTHLY_DISCOUNT
from churn.errors import InputError
from churn.simulate import SimulationConfig, _Run
from churn.survival import HORIZON_MONTHS, discount_factors
from churn.timeutil import parse_month

TRUTH_STREAM = 1 << 32  # random streams of the forward copies: apart from the simulation's own


class _Discard:
    def add(self, **columns: np.ndarray) -> None:
        pass


def true_value(
    config: SimulationConfig,
    month: str,
    horizon: int = HORIZON_MONTHS,
    margin: float = MARGIN,
    monthly_discount: float = MONTHLY_DISCOUNT,
    replicas: int = 16,
    treatments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """customer_id, true_lifetime_months and true_clv of the customers active at the start of ``month``.

    Same definitions as :mod:`churn.survival`: the lifetime counts months after the current one (this month's
    risk included); the value is the discounted margin of months 1..horizon after it for a customer who stays
    through the current month — what a retention that works saves. ``treatments``: those a closed-loop world
    applied (they shape who is still a customer in ``month``); the value forward is that of an untreated customer.
    """
    config.validate()
    m = parse_month(month, field="month")
    run = _Run(config, treatments)
    if not run.start <= m < run.end:
        raise InputError(f"month: {month} is outside the simulation's snapshot months")
    for step, mm in enumerate(range(run.prelude, m)):
        run.month(step, mm)
    state = run.state
    active = np.flatnonzero((state.signup_month[: state.n] < m) & (state.churn_month[: state.n] >= m))
    rows = np.repeat(active, replicas)
    fork = copy.copy(run)
    fork.state = state.subset(rows)
    fork.survivors_only = True
    fork.treatments = {}  # the fork's rows are replicas, not customer numbers; its future is untreated
    fork.changes = fork.bills = fork.pays = fork.tickets = fork.churns = fork.oracle = _Discard()  # type: ignore[assignment]
    weights = discount_factors(horizon, monthly_discount)
    alive = np.ones(len(rows))
    lifetime = np.zeros(len(rows))
    value = np.zeros(len(rows))
    stays = np.ones(len(rows))
    for t in range(horizon + 1):
        fork.month(TRUTH_STREAM + t, m + t)
        if t > 0:  # billed for month m + t only when still a customer: weight by the survival so far
            lifetime += alive
            value += alive * fork.state.bills[:, (m + t) % 6] * weights[t - 1]
        else:
            stays = 1.0 - fork.last_hazard  # this month's survival: the value is that of a customer who stays
        alive = alive * (1.0 - fork.last_hazard)
    value /= np.maximum(stays, 1e-12)
    ids = np.array([f"C{i:07d}" for i in active], dtype=object)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "true_lifetime_months": lifetime.reshape(-1, replicas).mean(axis=1),
            "true_clv": margin * value.reshape(-1, replicas).mean(axis=1),
        }
    )
