"""Shared fixtures: a temporary CHURN_HOME per test and one small seeded simulation per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from churn.raw import RawData
from churn.settings import get_settings
from churn.simulate import SimulationConfig, simulate
from churn.temporal import Snapshots, build_snapshots

ROOT = Path(__file__).resolve().parents[1]
TELCO_CSV = ROOT.parent / "shared" / "data" / "telco" / "Telco-Customer-Churn.csv"
SMALL = SimulationConfig(customers=300, months=8, start="2023-01", seed=7, burn_in_months=24)


@pytest.fixture
def churn_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CHURN_HOME", str(home))
    monkeypatch.delenv("CHURN_AS_OF", raising=False)
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
