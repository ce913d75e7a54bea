"""The closed loop: treatment effects on the hazard, the uplift oracle, and `churn simulate step`."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn.closed_loop import active_customers, step
from churn.errors import InputError
from churn.raw import APPLIED_FILE, TREATED_HAZARD_FILE, UPLIFT_FILE, save_raw
from churn.simulate import SimulationConfig, simulate
from churn.treatment_effects import ACTIONS, EffectCoefficients, logit_shifts, sleeping_dog
from tests.unit.test_cli import churn, one_json

WORLD = SimulationConfig(customers=2_000, months=4, start="2023-01", seed=11, burn_in_months=24, drift_start="2023-09")


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("world") / "raw"
    save_raw(simulate(WORLD), folder)
    return folder


def _state(**columns: object) -> dict[str, object]:
    base: dict[str, object] = {
        "contract_type": np.array(["Month-to-month"]),
        "tenure_months": np.array([3.0]),
        "num_support_tickets_3m": np.array([0.0]),
        "num_late_payments_6m": np.array([0.0]),
        "monthly_charges": np.array([55.0]),
    }
    return {**base, **{k: np.asarray(v) for k, v in columns.items()}}


def test_each_action_acts_on_the_customers_its_documented_function_names() -> None:
    no_latent = np.zeros((1, len(ACTIONS)))
    call, discount, upgrade = (ACTIONS.index(a) for a in ("loyalty_call", "discount", "contract_upgrade"))
    base = logit_shifts(_state(), np.zeros(1), no_latent)[0]
    c = EffectCoefficients()
    assert base[call] == pytest.approx(c.loyalty_call)
    assert base[discount] == pytest.approx(c.discount)
    assert base[upgrade] == pytest.approx(c.contract_upgrade)
    # a call helps more after tickets; a discount helps the price-sensitive with high bills more
    assert logit_shifts(_state(num_support_tickets_3m=[2.0]), np.zeros(1), no_latent)[0, call] == pytest.approx(
        c.loyalty_call + 2 * c.loyalty_call_tickets
    )
    sensitive = logit_shifts(_state(monthly_charges=[95.0]), np.ones(1), no_latent)[0, discount]
    assert sensitive == pytest.approx(c.discount + c.discount_price_sensitivity + 3 * c.discount_charges)
    # no upgrade for a customer already on a term, not even its noise
    on_term = logit_shifts(_state(contract_type=["One year"]), np.zeros(1), np.full((1, 3), 2.0))[0]
    assert on_term[upgrade] == 0.0
    # sleeping dogs: quiet long-tenure month-to-month customers are harmed by any contact
    dog = _state(tenure_months=[50.0])
    assert sleeping_dog(dog, c).tolist() == [True]
    shifts = logit_shifts(dog, np.zeros(1), no_latent)[0]
    assert shifts == pytest.approx(base + c.sleeping_dog)
    assert shifts[call] > 0 and shifts[upgrade] > 0
    assert not sleeping_dog(_state(tenure_months=[50.0], num_support_tickets_3m=[1.0]), c)[0]
    assert not sleeping_dog(_state(tenure_months=[50.0], num_late_payments_6m=[1.0]), c)[0]
    assert not sleeping_dog(_state(tenure_months=[40.0]), c)[0]


def test_the_uplift_oracle_covers_every_customer_month_and_holds_harm(world: Path) -> None:
    oracle = pd.read_parquet(world / "oracle_hazard.parquet")
    uplift = pd.read_parquet(world / UPLIFT_FILE)
    assert len(uplift) == len(oracle)
    keys = ["customer_id", "snapshot_month"]
    joined = oracle.astype({k: str for k in keys}).merge(uplift.astype({k: str for k in keys}), on=keys)
    assert len(joined) == len(oracle)
    for action in ACTIONS:
        u = joined[f"uplift_{action}"].to_numpy()
        assert (u < joined["hazard"].to_numpy()).all()  # a treated hazard stays above 0
        assert (u > joined["hazard"].to_numpy() - 1).all()
    # a discount cuts about a fifth of the hazard over everyone, sleeping dogs included (docs/simulator.md)
    relative = (joined["uplift_discount"] / joined["hazard"]).mean()
    assert 0.15 < relative < 0.30
    # offers can backfire: some customer-months have a negative true effect for every action
    assert all((joined[f"uplift_{a}"] < 0).any() for a in ACTIONS)


def test_an_empty_step_is_the_open_loop_simulation_of_one_more_month(tmp_path: Path, world: Path) -> None:
    raw, applied = step(world)
    assert applied.empty
    save_raw(raw, tmp_path / "stepped")
    save_raw(simulate(replace(WORLD, months=WORLD.months + 1)), tmp_path / "open")
    assert _digests(tmp_path / "stepped") == _digests(tmp_path / "open")
    assert APPLIED_FILE not in _digests(tmp_path / "stepped")


def _plan(world: Path, n: int, action: str = "discount") -> pd.DataFrame:
    month = WORLD.start_index + WORLD.months
    active, _ = active_customers(world, month)
    ids = sorted(active)[:n]
    return pd.DataFrame({"customer_id": ids, "action": action})


def test_a_step_with_a_plan_is_reproducible_and_moves_only_the_treated(tmp_path: Path, world: Path) -> None:
    plan = _plan(world, 600)
    first, applied = step(world, plan)
    again, _ = step(world, plan)
    save_raw(first, tmp_path / "a")
    save_raw(again, tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert len(applied) == 600 and set(applied["month"]) == {"2023-05"}
    assert first.manifest["treatments"]["rows"] == 600
    assert first.manifest["lineage"] != simulate(replace(WORLD, months=5)).manifest["lineage"]

    treated = pd.read_parquet(tmp_path / "a" / TREATED_HAZARD_FILE).astype({"customer_id": str})
    assert set(treated["customer_id"]) == set(plan["customer_id"])  # all still customers in their first month
    month = treated[treated["snapshot_month"].astype(str) == "2023-05"]
    uplift = pd.read_parquet(tmp_path / "a" / UPLIFT_FILE).astype({"customer_id": str, "snapshot_month": str})
    check = month.merge(uplift[uplift["snapshot_month"] == "2023-05"], on="customer_id")
    # the hazard the world used is the untreated one less the uplift oracle's discount effect, to rounding
    np.testing.assert_allclose(check["treated_hazard"], check["hazard"] - check["uplift_discount"], atol=1e-12)
    # the oracle keeps the untreated hazard: the same as without the plan
    open_loop = simulate(replace(WORLD, months=5)).oracle.astype({"customer_id": str, "snapshot_month": str})
    stepped = first.oracle.astype({"customer_id": str, "snapshot_month": str})
    pd.testing.assert_frame_equal(open_loop, stepped)


def test_in_the_stepped_month_a_helpful_offer_only_ever_keeps_customers(world: Path) -> None:
    """The stepped month's random draws are the open loop's (the same customers are active), so a customer whose
    treated hazard is lower can only stay where the open loop kept them, never leave where it kept them."""
    plan = _plan(world, 2_000)
    treated_world, _ = step(world, plan)
    open_world, _ = step(world)
    left = {}
    for name, raw in (("treated", treated_world), ("open", open_world)):
        events = raw.tables["churn_events"].astype({"customer_id": str})
        stamp = events["churned_at"]
        left[name] = set(events.loc[(stamp >= "2023-05-01") & (stamp < "2023-06-01"), "customer_id"])
    t = treated_world.effects[TREATED_HAZARD_FILE].astype({"customer_id": str, "snapshot_month": str})
    t = t[t["snapshot_month"] == "2023-05"]
    helped = set(t.loc[t["treated_hazard"] < t["hazard"], "customer_id"])
    harmed = set(t.loc[t["treated_hazard"] > t["hazard"], "customer_id"])
    assert helped and harmed
    assert not (left["treated"] - left["open"]) & helped
    assert not (left["open"] - left["treated"]) & harmed
    assert len(left["open"] & helped) > len(left["treated"] & helped)


def test_a_plan_is_refused_by_name_and_nothing_is_applied(world: Path) -> None:
    month = WORLD.start_index + WORLD.months
    active, known = active_customers(world, month)
    someone = sorted(active)[0]
    gone = sorted(known - active)[0]
    cases = [
        (pd.DataFrame({"customer_id": ["C9999999"], "action": ["discount"]}), "C9999999"),
        (pd.DataFrame({"customer_id": [gone], "action": ["discount"]}), f"{gone}.*not customers in 2023-05"),
        (pd.DataFrame({"customer_id": [someone, someone], "action": ["discount", "loyalty_call"]}), "more than once"),
        (pd.DataFrame({"customer_id": [someone], "action": ["free_phone"]}), "free_phone"),
        (pd.DataFrame({"customer_id": [someone], "action": ["none"]}), "needs an action"),
        (pd.DataFrame({"customer": [someone]}), "customer_id"),
    ]
    for plan, message in cases:
        with pytest.raises(InputError, match=message):
            step(world, plan)


def test_an_action_plan_treats_its_targets_and_never_its_control_group(world: Path) -> None:
    ids = sorted(active_customers(world, WORLD.start_index + WORLD.months)[0])[:4]
    plan = pd.DataFrame(
        {
            "customer_id": ids,
            "targeted": [True, True, False, False],
            "control": [False, False, True, False],
            "best_action": ["discount", "loyalty_call", "discount", "none"],
        }
    )
    _, applied = step(world, plan)
    assert applied[["customer_id", "action"]].values.tolist() == [[ids[0], "discount"], [ids[1], "loyalty_call"]]


def test_cli_steps_a_simulation_month_by_month_and_refuses_a_bad_plan(tmp_path: Path) -> None:
    home = tmp_path / "home"
    one_json(churn(home, "simulate", "--customers", "300", "--months", "3", "--seed", "5", "--json"))
    raw = home / "data" / "raw"
    before = _digests(raw)
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,action\nC9999999,discount\n")
    refused = churn(home, "simulate", "step", "--plan", str(bad))
    assert refused.returncode == 2 and "C9999999" in refused.stderr and "Traceback" not in refused.stderr
    assert _digests(raw) == before
    active = sorted(active_customers(raw, SimulationConfig(start="2023-01", months=3).start_index + 3)[0])
    plan = tmp_path / "plan.csv"
    plan.write_text("customer_id,action\n" + "".join(f"{c},loyalty_call\n" for c in active[:5]))
    out = one_json(churn(home, "simulate", "step", "--plan", str(plan), "--json"))
    assert out["stepped"] == "2023-04" and out["treated"] == 5 and out["last_snapshot_month"] == "2023-05"
    out = one_json(churn(home, "simulate", "step", "--json"))
    assert out["stepped"] == "2023-05" and out["treated"] == 0 and out["treatments_total"] == 5
    assert out["last_snapshot_month"] == "2023-06"
    applied = pd.read_parquet(raw / APPLIED_FILE)
    assert sorted(applied["customer_id"]) == active[:5]
