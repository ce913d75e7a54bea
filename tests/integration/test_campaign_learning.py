"""Campaigns that learn: randomised campaigns launched and stepped on the closed-loop simulator, an uplift model
learned from their matured outcomes, and a plan that values the learned actions by their uplift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batch.plan import learned_response
from churn.actions import load_catalogue
from churn.campaigns import launch
from churn.closed_loop import active_customers, step, world_of
from churn.decisions import decide
from churn.errors import InputError
from churn.offline import read_snapshots, write_offline
from churn.raw import known_customers, load_raw, save_raw
from churn.settings import get_settings
from churn.simulate import SimulationConfig, simulate
from churn.temporal import build_snapshots
from churn.timeutil import month_label, month_start
from churn.treatment_effects import ACTIONS
from training.uplift import load_uplift, train_uplift

pytestmark = pytest.mark.integration


def _campaign_plan(ids: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Everyone active, half held out, the other half given an action drawn at random: a randomised campaign."""
    control = rng.random(len(ids)) < 0.5
    return pd.DataFrame(
        {
            "customer_id": ids,
            "targeted": ~control,
            "control": control,
            "best_action": np.asarray(ACTIONS, dtype=object)[rng.integers(0, len(ACTIONS), len(ids))],
            "cost": 10.0,
            "clv": 500.0,
        }
    )


@pytest.fixture(scope="module")
def learned_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("learning")
    mp = pytest.MonkeyPatch()
    mp.setenv("CHURN_HOME", str(home))
    get_settings.cache_clear()
    settings = get_settings()
    save_raw(simulate(SimulationConfig(customers=3_000, months=6, seed=3, burn_in_months=24)), settings.raw_dir)
    rng = np.random.default_rng(8)
    catalogue = load_catalogue().names
    for k in range(5):  # three campaign months, then two so the last one's three-month window passes
        config, _ = world_of(settings.raw_dir)
        month = config.start_index + config.months
        plan = None
        if k < 3:
            plan = _campaign_plan(sorted(active_customers(settings.raw_dir, month)[0]), rng)
            launch(home / "data", plan, month_start(month), 0.5, f"wave-{month_label(month)}",
                   known_customers(settings.raw_dir), catalogue)  # fmt: skip
        raw, _ = step(settings.raw_dir, plan)
        save_raw(raw, settings.raw_dir)
    write_offline(build_snapshots(load_raw(settings.raw_dir)), settings.snapshots_dir, settings.labels_path)
    yield home
    mp.undo()
    get_settings.cache_clear()


def test_an_uplift_model_is_learned_from_matured_campaigns_and_reports_held_out_qini(learned_home: Path) -> None:
    settings = get_settings()
    report = train_uplift(settings)
    assert report["campaigns"] == ["wave-2023-07", "wave-2023-08", "wave-2023-09"]
    assert report["actions"] == sorted(ACTIONS) and report["skipped"] == {}
    held = report["held_out"]
    assert held["held_out_month"] == "2023-09"
    for action in ACTIONS:
        entry = held["actions"][action]
        assert entry["treated"] > 300 and entry["control"] > 1000
        assert np.isfinite(entry["qini"]) and np.isfinite(entry["qini_oracle"])  # the simulation's truth, beside
    # off-policy values on the held-out month: the campaign as run, doing nothing, and targeting by uplift
    policies = held["policies"]
    assert 0 < policies["support"] <= 1 and policies["targeted_by_learned"] > 0
    for name in ("learned_uplift", "as_run", "no_action"):
        low, high = policies[name]["value_ci95"]
        assert low <= policies[name]["value"] <= high
    # doing nothing keeps the CLV of those who stay and spends nothing: its estimate is near the mean CLV kept
    assert 400 < policies["no_action"]["value"] < 500
    model, metadata = load_uplift(settings)  # type: ignore[misc]
    assert metadata["version"] == report["version"] and model.actions == tuple(sorted(ACTIONS))


def test_a_plan_values_learned_actions_by_uplift_and_never_targets_a_customer_they_would_harm(
    learned_home: Path,
) -> None:
    settings = get_settings()
    if load_uplift(settings) is None:
        train_uplift(settings)
    month = read_snapshots(settings.snapshots_dir)["snapshot_month"].astype(str).max()
    scores = read_snapshots(settings.snapshots_dir, [month]).assign(probability=0.05)
    catalogue = load_catalogue()
    prevented, basis = learned_response(settings, scores, catalogue)
    assert basis["source"] == "uplift" and set(basis["actions"].values()) == {"uplift"}
    plan = decide(scores, catalogue, prevented=prevented, control_fraction=0.0)
    frame = plan.frame.set_index("customer_id")
    targeted = frame[frame["targeted"].astype(bool)]
    assert len(targeted) > 0
    by_id = pd.DataFrame(prevented, index=scores["customer_id"].astype(str))
    # each target's action prevents churn for them, and its EV is uplift x CLV - cost
    chosen = np.array([by_id.loc[c, a] for c, a in zip(targeted.index, targeted["best_action"], strict=True)])
    assert (chosen > 0).all()
    harmed_by_all = by_id.index[(by_id <= 0).all(axis=1)]
    assert not set(harmed_by_all) & set(targeted.index)
    cost = {a.name: a.cost for a in catalogue.actions}
    expected = chosen * targeted["clv"].to_numpy(float) - targeted["best_action"].map(cost).to_numpy(float)
    np.testing.assert_allclose(targeted["expected_value"].to_numpy(float), expected, atol=0.02)


def test_learning_before_any_campaign_has_matured_says_so(churn_home: Path) -> None:
    settings = get_settings()
    save_raw(simulate(SimulationConfig(customers=200, months=3, seed=1, burn_in_months=12)), settings.raw_dir)
    write_offline(build_snapshots(load_raw(settings.raw_dir)), settings.snapshots_dir, settings.labels_path)
    with pytest.raises(InputError, match="no campaign has matured"):
        train_uplift(settings)


def test_the_scheduled_readout_reads_the_matured_campaigns_and_learns_again(learned_home: Path) -> None:
    from operations.steps import campaign_readouts

    settings = get_settings()
    result = campaign_readouts(settings)
    assert sorted(r["campaign"] for r in result["reported"]) == ["wave-2023-07", "wave-2023-08", "wave-2023-09"]
    assert result["uplift"]["actions"] == sorted(ACTIONS)
    model, metadata = load_uplift(settings)  # type: ignore[misc]
    assert metadata["version"] == result["uplift"]["version"]
    assert metadata["campaigns"] == ["wave-2023-07", "wave-2023-08", "wave-2023-09"] and model.actions
    # nothing new matured: a second run reports nothing and learns nothing
    again = campaign_readouts(settings)
    assert again["reported"] == [] and "uplift" not in again
