"""`churn drift` end to end: quiet on a stable simulation, loud on a price shock, with the Evidently report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from churn.simulate import SimulationConfig
from serving.process import ROOT
from tests.conftest import make_settings, unique_project
from tests.serving_harness import SERVE_SIM, prepare_home, settings_env

pytestmark = [pytest.mark.slow]


def _drift(settings, reference: str, current: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "drift", "--reference-date", reference, "--current-date", current, "--json"],
        cwd=ROOT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def shocked(tmp_path_factory: pytest.TempPathFactory):
    settings = make_settings(tmp_path_factory.mktemp("shock-home"), unique_project("shock"))
    sim = SimulationConfig(**{**SERVE_SIM.__dict__, "scenario": "price_shock", "drift_start": "2023-10"})
    prepare_home(settings, sim)
    return settings


@pytest.fixture(scope="module")
def stable(tmp_path_factory: pytest.TempPathFactory):
    settings = make_settings(tmp_path_factory.mktemp("stable-home"), unique_project("stable"))
    prepare_home(settings)
    return settings


def test_a_price_shock_is_flagged_on_charges(shocked) -> None:
    result = _drift(shocked, "2023-08-15", "2023-12-01")
    assert result["drift_detected"] is True
    assert "monthly_charges" in result["drifted_features"]
    psi = {f["feature"]: f["psi"] for f in result["features"]}
    assert psi["monthly_charges"] > 0.2 and psi["gender"] < 0.1
    html = Path(result["report"]).read_text(encoding="utf-8")
    assert "monthly_charges" in html and len(html) > 100_000


def test_a_stable_simulation_raises_no_alarm(stable) -> None:
    result = _drift(stable, "2023-03-01", "2023-11-01")
    assert result["drift_detected"] is False, result["drifted_features"]
    assert not result["scores"]["flagged"]
    assert result["concept"]["flagged"] is False and result["concept"]["labelled_rows"] > 0


def test_windows_that_the_store_lacks_are_named(stable) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "drift", "--reference-date", "2019-01-01", "--current-date", "2023-11-01"],
        cwd=ROOT,
        env=settings_env(stable),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "2019-01" in done.stderr and "Traceback" not in done.stderr


def test_drift_retrains_and_the_gate_decides(shocked) -> None:
    from monitoring.respond import check_and_respond
    from tests.serving_harness import SERVE_TRAIN
    from training import registry

    before = {m["version"] for m in registry.list_models(shocked)}
    result = check_and_respond(shocked, "2023-08-15", "2023-12-01", train_config=SERVE_TRAIN, report=False)
    response = result["response"]
    assert result["drift_detected"] and response["action"] == "retrained"
    assert response["version"] not in before and response["version"] in {
        m["version"] for m in registry.list_models(shocked)
    }
    champion = registry.read_pointer(shocked)["champion"]
    assert (champion == response["version"]) == response["promoted"]
    assert response["decision"]  # the gate says why it promoted or kept the champion


def test_no_drift_trains_nothing(stable) -> None:
    from training import registry

    before = registry.list_models(stable)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "drift", "--reference-date", "2023-03-01", "--current-date", "2023-11-01",
         "--retrain", "--no-report", "--json"],
        cwd=ROOT, env=settings_env(stable), capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["response"] == {"action": "none", "reason": "no drift"}
    assert registry.list_models(stable) == before
