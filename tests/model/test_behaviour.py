"""Behavioural tests of a trained model on the simulation, whose hazard's signs are known (churn/hazard.py).

Directional: more tickets, more late payments, a month-to-month contract instead of a two-year one and a recent
price rise each raise the probability. Invariance: the customer's id changes nothing. Trees can be flat or
locally non-monotone, so each test asks for a mean rise of a stated size (the true hazard rises far more: ×1.75
for two tickets, ×1.8 for two late payments, ×3 or more for the contract, ×1.8 for the price rise) and no more
than a small share of customers going the other way. The model is trained once, seeded, on 5,000 × 18 months.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from churn.offline import read_snapshots, snapshot_months, write_offline
from churn.raw import save_raw
from churn.simulate import SimulationConfig, simulate
from churn.temporal import build_snapshots
from harness.settings import make_settings, unique_project
from store.feast_store import apply
from training import registry
from training.config import DEFAULT_GRID, TrainConfig
from training.train import train

pytestmark = [pytest.mark.slow]
MAX_AGAINST = 0.10  # share of customers whose probability may fall under a change that raises the true hazard


@pytest.fixture(scope="module")
def model_and_customers(tmp_path_factory: pytest.TempPathFactory):
    settings = make_settings(tmp_path_factory.mktemp("behaviour-home"), unique_project("behaviour"))
    raw = simulate(SimulationConfig(customers=5000, months=18, seed=21, burn_in_months=36))
    save_raw(raw, settings.raw_dir)
    write_offline(build_snapshots(raw), settings.snapshots_dir, settings.labels_path)
    apply(settings)
    result = train(settings, TrainConfig(folds=2, bootstrap=0, grid=DEFAULT_GRID[:2], report=False))
    model = registry.load_model(settings, result.version)
    month = snapshot_months(settings.snapshots_dir)[-1]
    return model, read_snapshots(settings.snapshots_dir, [month]).reset_index(drop=True)


def _effect(model, frame: pd.DataFrame, change: Callable[[pd.DataFrame], pd.DataFrame]) -> tuple[float, float]:
    """(relative change of the mean probability, share of customers whose probability fell)."""
    before = model.predict_proba(frame)
    after = model.predict_proba(change(frame.copy()))
    return float(after.mean() / before.mean() - 1), float(np.mean(after < before - 1e-12))


@pytest.mark.parametrize(
    ("name", "subset", "change", "least"),
    [
        (
            "two more support tickets",
            None,
            lambda f: f.assign(tickets_90d=f.tickets_90d + 2),
            0.2,
        ),
        (
            "two more late payments",
            None,
            lambda f: f.assign(late_payments_180d=f.late_payments_180d.clip(upper=4) + 2),
            0.2,
        ),
        (
            "month-to-month instead of two-year",
            lambda f: f.contract_type == "Two year",
            lambda f: f.assign(contract_type="Month-to-month", contract_remaining_months=0),
            0.5,
        ),
        (
            "a 10% price rise over the last months",
            lambda f: f.avg_monthly_charges_3m.notna(),
            lambda f: f.assign(charges_trend_6m=0.10 * f.avg_monthly_charges_3m),
            0.05,
        ),
    ],
)
def test_what_raises_the_true_hazard_raises_the_probability(model_and_customers, name, subset, change, least) -> None:
    model, customers = model_and_customers
    frame = customers[subset(customers)] if subset else customers
    assert len(frame) > 50, name
    rise, against = _effect(model, frame, change)
    assert rise >= least, f"{name}: mean probability moved by {rise:+.1%}, expected at least {least:+.0%}"
    assert against <= MAX_AGAINST, f"{name}: {against:.1%} of customers went the other way"


def test_a_customer_id_changes_nothing(model_and_customers) -> None:
    model, customers = model_and_customers
    renamed = customers.assign(customer_id=[f"X{i:08d}" for i in range(len(customers))])
    np.testing.assert_array_equal(model.predict_proba(customers), model.predict_proba(renamed))
