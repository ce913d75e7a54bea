"""The survival layer's arithmetic, its quality measures, the sBG cross-check and the simulator's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn.errors import InputError
from churn.simulate import SimulationConfig, simulate
from churn.survival import (
    Ageing,
    check_horizons,
    churn_within,
    concordance,
    expected_lifetime,
    integrated_brier,
    kaplan_meier,
    lifetime_value,
    sbg_fit,
    sbg_survival,
    survival_curves,
)
from churn.timeutil import parse_month
from churn.true_value import true_value

COLUMNS = [
    "tenure_months",
    "contract_remaining_months",
    "contract_type=Month-to-month",
    "contract_type=One year",
    "contract_type=Two year",
    "total_charges_to_date",
    "monthly_charges",
]


def test_horizons_are_whole_months_within_sixty_and_errors_name_the_field() -> None:
    assert check_horizons([12, 1, 3, 3]) == (1, 3, 12)
    for bad, message in ((0, "horizons: 0 is outside 1–60 months"), (61, "horizons: 61 is outside 1–60 months"),
                         ("x", "horizons: 'x' is not a whole number of months"),
                         (True, "horizons: True is not a whole number of months"),
                         (2.5, "horizons: 2.5 is not a whole number of months")):  # fmt: skip
        with pytest.raises(InputError, match=message):
            check_horizons([bad])
    with pytest.raises(InputError, match="at least one horizon"):
        check_horizons([])


def test_projection_ages_tenure_counts_a_term_down_and_renews_it() -> None:
    X = np.array(
        [
            [5, 2, 0, 1, 0, 100.0, 50.0],  # one year, two months left
            [7, 0, 1, 0, 0, 300.0, 70.0],  # month-to-month: nothing to count down
            [30, 24, 0, 0, 1, 900.0, 30.0],  # two year, a new term
        ],
        dtype=np.float32,
    )
    ageing = Ageing.for_columns(COLUMNS)
    term = ageing.terms(X)
    assert term.tolist() == [12, 0, 24]
    remaining = [ageing.project(X, k, term)[:, 1].tolist() for k in range(4)]
    assert remaining == [[2, 0, 24], [1, 0, 23], [12, 0, 22], [11, 0, 21]]
    three = ageing.project(X, 3, term)
    assert three[:, 0].tolist() == [8, 10, 33]
    assert three[:, 5].tolist() == [250.0, 510.0, 990.0]
    assert ageing.project(X, 0, term) is X


def test_constant_hazard_gives_the_geometric_closed_forms() -> None:
    h, d, margin, charges, H = 0.04, 0.01, 0.3, 80.0, 60
    X = np.zeros((3, len(COLUMNS)), dtype=np.float32)
    S = survival_curves(X, lambda m: np.full(len(m), h), Ageing.for_columns(COLUMNS), H)
    t = np.arange(1, H + 1)
    np.testing.assert_allclose(S[0], (1 - h) ** t, rtol=1e-5)
    np.testing.assert_allclose(expected_lifetime(S), ((1 - h) * (1 - (1 - h) ** H) / h), rtol=1e-5)
    q = (1 - h) / (1 + d)
    expected = margin * charges * (1 - q**H) / ((1 + d) * (1 - q))  # Σ_t (1-h)^(t-1) / (1+d)^t: staying this month
    np.testing.assert_allclose(lifetime_value(S, np.full(3, charges), margin, d), expected, rtol=1e-5)
    np.testing.assert_allclose(churn_within(S, [1, 12])[12], 1 - (1 - h) ** 12, rtol=1e-5)


def test_kaplan_meier_without_censoring_is_the_share_still_there() -> None:
    durations = np.array([1, 1, 2, 3, 3, 3, 4, 5])
    events = np.array([1, 1, 1, 1, 0, 0, 1, 0], dtype=bool)
    km = kaplan_meier(durations, np.ones(8, dtype=bool), 5)
    np.testing.assert_allclose(km, [6 / 8, 5 / 8, 2 / 8, 1 / 8, 0.0])
    censored = kaplan_meier(durations, events, 6)
    # at 3: five at risk, one churns (two are censored there); at 4: two at risk, one churns
    np.testing.assert_allclose(censored[:4], [6 / 8, 5 / 8, 5 / 8 * 4 / 5, 5 / 8 * 4 / 5 / 2])
    assert np.isnan(censored[5])  # past the last observed time


def test_concordance_and_integrated_brier_reward_the_right_order_and_values() -> None:
    durations = np.array([1, 2, 3, 4, 5])
    events = np.ones(5, dtype=bool)
    assert concordance(durations, events, durations * 2.0) == 1.0
    assert concordance(durations, events, -durations * 1.0) == 0.0
    truth = (np.arange(1, 6)[None, :] < durations[:, None]).astype(float)  # S(t) = 1 while still there
    assert integrated_brier(truth, durations, events, 5) == pytest.approx(0.0)
    assert integrated_brier(np.full((5, 5), 0.5), durations, events, 5) == pytest.approx(0.25)


def test_sbg_recovers_the_parameters_of_a_cohort_that_follows_it() -> None:
    alpha, beta = 0.704, 1.182  # Fader & Hardie's "regular" customers
    alive = 10_000_000 * np.r_[1.0, sbg_survival(alpha, beta, 12)]
    a, b = sbg_fit(alive)
    assert a == pytest.approx(alpha, rel=0.01)
    assert b == pytest.approx(beta, rel=0.01)
    with pytest.raises(ValueError, match="follow-up"):
        sbg_fit([100.0, 90.0])


@pytest.fixture(scope="module")
def small_world() -> tuple[SimulationConfig, pd.DataFrame, pd.DataFrame]:
    config = SimulationConfig(customers=3000, months=14, seed=5, burn_in_months=36)
    raw = simulate(config)
    return config, raw.oracle, raw.tables["churn_events"]


def test_true_value_is_reproducible_and_matches_what_the_simulation_realised(small_world) -> None:
    """Survivor-weighted copies give the same expected months as the simulation's own customers lived (no bias)."""
    config, oracle, churns = small_world
    month, horizon = config.start, 12
    truth = true_value(config, month, horizon=horizon, replicas=8)
    again = true_value(config, month, horizon=horizon, replicas=8)
    pd.testing.assert_frame_equal(truth, again)

    active = oracle[oracle["snapshot_month"].astype(str) == month]["customer_id"].astype(str)
    assert set(truth["customer_id"]) == set(active)
    churn_month = pd.Series(
        [parse_month(f"{ts.year}-{ts.month:02d}") for ts in churns["churned_at"]],
        index=churns["customer_id"].astype(str),
    )
    m = parse_month(month)
    left = active.map(churn_month).fillna(1 << 40).to_numpy()
    lived = np.sum(left[:, None] >= m + np.arange(1, horizon + 1)[None, :], axis=1)
    # the realised mean is one draw of 3,000 customers: its standard error is about 0.07 months here
    assert truth["true_lifetime_months"].mean() == pytest.approx(lived.mean(), abs=0.25)
    assert (truth["true_clv"] > 0).all()
