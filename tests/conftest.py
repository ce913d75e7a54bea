"""Shared fixtures: a temporary CHURN_HOME per test and one small seeded simulation per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from churn.raw import RawData
from churn.settings import get_settings
from churn.simulate import SimulationConfig, simulate
from churn.temporal import Snapshots, build_snapshots
from harness.settings import make_settings, unique_project

ROOT = Path(__file__).resolve().parents[1]
TELCO_CSV = ROOT.parent / "shared" / "data" / "telco" / "Telco-Customer-Churn.csv"
SMALL = SimulationConfig(customers=300, months=8, start="2023-01", seed=7, burn_in_months=24)


@pytest.fixture
def churn_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os

    home = tmp_path / "home"
    for key in [k for k in os.environ if k.startswith("CHURN_")]:  # what earlier tests' stores exported
        monkeypatch.delenv(key)
    monkeypatch.setenv("CHURN_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def small_raw() -> RawData:
    return simulate(SMALL)


@pytest.fixture(scope="session")
def small_snapshots(small_raw: RawData) -> Snapshots:
    return build_snapshots(small_raw)


@pytest.fixture(scope="session")
def telco_csv() -> Path:
    if not TELCO_CSV.exists():
        pytest.fail(f"the shared Telco CSV is expected at {TELCO_CSV} (CI lays shared/ beside the clone)")
    return TELCO_CSV


@pytest.fixture(scope="session")
def feast_home(tmp_path_factory: pytest.TempPathFactory, small_snapshots: Snapshots):
    """A CHURN_HOME holding the small simulation's offline store, with the local profile applied."""
    from churn.offline import write_offline
    from store.feast_store import apply

    home = tmp_path_factory.mktemp("feast-home")
    settings = make_settings(home, unique_project("local"))
    write_offline(small_snapshots, settings.snapshots_dir, settings.labels_path)
    apply(settings)
    return settings


def documented_band(probability: float) -> str:
    """The risk band of a probability by the bounds the README documents (low < 0.05 ≤ medium < 0.15 ≤ high < 0.30)."""
    return (
        "low"
        if probability < 0.05
        else "medium"
        if probability < 0.15
        else "high"
        if probability < 0.30
        else "critical"
    )
