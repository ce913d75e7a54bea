"""The action catalogue and the best action per customer: worked examples, eligibility, segments, bad catalogues."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn.actions import best_actions, load_catalogue, parse_catalogue
from churn.errors import InputError

ONE = {"actions": [{"name": "offer", "cost": 50, "success_rate": 0.4}]}


def test_design_worked_examples_decide_as_the_design_says() -> None:
    cat = parse_catalogue(ONE, "test")
    d = best_actions(np.array([0.8]), np.array([100.0]), cat)
    assert d.row(0) == {
        "action": "offer",
        "cost": 50.0,
        "success_rate": 0.4,
        "expected_value": pytest.approx(-18.0),
        "target": False,
    }
    cat75 = parse_catalogue({"actions": [{"name": "offer", "cost": 75, "success_rate": 0.4}]}, "test")
    d = best_actions(np.array([0.5]), np.array([2000.0]), cat75)
    assert d.row(0)["expected_value"] == pytest.approx(325.0) and d.row(0)["target"] is True


def test_best_action_respects_eligibility_and_segments() -> None:
    cat = parse_catalogue(
        {
            "actions": [
                {"name": "call", "cost": 10, "success_rate": 0.1},
                {
                    "name": "upgrade",
                    "cost": 20,
                    "success_rate": 0.5,
                    "eligible": {"contract_type": ["Month-to-month"]},
                    "segments": [{"when": {"senior_citizen": [True]}, "success_rate": 0.05}],
                },
            ]
        },
        "test",
    )
    customers = pd.DataFrame(
        {"contract_type": ["Month-to-month", "Two year", "Month-to-month"], "senior_citizen": [False, False, True]}
    )
    d = best_actions(np.full(3, 0.5), np.full(3, 400.0), cat, customers)
    # EV: call 0.5*400*0.1-10 = 10; upgrade 0.5*400*0.5-20 = 80 (0.05 for seniors: -10)
    assert list(d.action) == ["upgrade", "call", "call"]
    np.testing.assert_allclose(d.expected_value, [80.0, 10.0, 10.0])
    assert d.targeted.all()
    # works the same from plain column arrays (the API's one-row path)
    d2 = best_actions(np.full(3, 0.5), np.full(3, 400.0), cat, {c: customers[c].to_numpy() for c in customers})
    assert list(d2.action) == list(d.action)


def test_no_action_pays_means_no_target_but_shows_the_best_candidate() -> None:
    cat = load_catalogue()
    d = best_actions(np.array([0.001]), np.array([10.0]), cat, pd.DataFrame({"contract_type": ["Two year"]}))
    assert d.targeted.tolist() == [False] and d.expected_value[0] < 0 and d.action[0] != "none"


def test_default_catalogue_ships_with_no_action_and_three_offers() -> None:
    cat = load_catalogue()
    assert cat.names == ["none", "loyalty_call", "discount", "contract_upgrade"]
    assert cat.columns == {"contract_type"}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "non-empty `actions`"),
        ({"actions": [{"name": "a", "cost": 1}]}, r"actions\[0\].success_rate: missing"),
        ({"actions": [{"name": "a", "cost": -1, "success_rate": 0.1}]}, r"actions\[0\].cost: must be at least 0"),
        ({"actions": [{"name": "a", "cost": 1, "success_rate": 1.5}]}, "between 0.0 and 1.0"),
        ({"actions": [{"name": "a", "cost": "x", "success_rate": 0.5}]}, "must be a number"),
        ({"actions": [{"name": "a", "cost": 1, "success_rate": 0.5, "colour": 1}]}, "unknown key"),
        ({"actions": [{"name": "a", "cost": 1, "success_rate": 0.5}] * 2}, "more than once"),
    ],
)
def test_malformed_catalogues_name_the_problem(doc: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_catalogue(doc, "cat.yaml")


def test_catalogue_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_catalogue(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("actions: [unclosed")
    with pytest.raises(InputError, match="not valid YAML"):
        load_catalogue(bad)
