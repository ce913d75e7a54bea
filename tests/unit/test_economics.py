"""Decision economics: the original design's worked examples, bands and the CLV default."""

from __future__ import annotations

import numpy as np
import pytest

from churn.economics import default_clv, expected_value, risk_band


def test_design_worked_examples() -> None:
    ev = expected_value(0.8, 100, 0.4, 50)
    assert float(ev) == pytest.approx(-18.0)  # do not target
    ev = expected_value(0.5, 2000, 0.4, 75)
    assert float(ev) == pytest.approx(325.0)  # target
    both = expected_value(np.array([0.8, 0.5]), np.array([100, 2000]), 0.4, np.array([50, 75]))
    np.testing.assert_allclose(both, [-18.0, 325.0])


def test_risk_bands_cover_every_probability() -> None:
    p = np.array([0.0, 0.049, 0.05, 0.149, 0.15, 0.3, 1.0])
    assert list(risk_band(p)) == ["low", "low", "medium", "medium", "high", "critical", "critical"]
    with pytest.raises(ValueError, match="increasing"):
        risk_band(p, bounds=(0.3, 0.1, 0.5))


def test_clv_grows_with_charges_and_shrinks_with_the_retained_hazard() -> None:
    clv = default_clv(np.array([50.0, 100.0, 100.0]), np.array([0.02, 0.02, 0.2]))  # retained hazards
    assert clv[1] == pytest.approx(2 * clv[0])
    assert clv[2] < clv[1]
    assert clv[1] == pytest.approx(0.3 * 100 * 1.01 / 0.03)  # (1 + d) / (d + p) months
    assert default_clv(100.0, 0.0) == pytest.approx(0.3 * 100 * 60)  # capped lifetime
    assert default_clv(np.nan, 0.1) == 0.0
    assert default_clv(100.0) == pytest.approx(0.3 * 100 * 1.01 / 0.03)  # 2%/month once retained


def test_an_at_risk_customer_is_worth_acting_on_with_the_defaults() -> None:
    from churn.actions import best_actions, load_catalogue

    clv = default_clv(np.array([70.0, 70.0]))
    d = best_actions(np.array([0.3, 0.01]), clv, load_catalogue(), {"contract_type": np.array(["Month-to-month"] * 2)})
    assert d.targeted.tolist() == [True, False]
    assert d.action[0] == "contract_upgrade" and d.expected_value[0] == pytest.approx(0.3 * clv[0] * 0.30 - 25)
