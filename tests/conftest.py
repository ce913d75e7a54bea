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


def redis_available(host: str = "127.0.0.1", port: int = 6379) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def unique_project(prefix: str) -> str:
    import os
    import uuid

    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any CHURN_* variable an earlier test's store exported, plus ``extra``."""
    import os

    return {**{k: v for k, v in os.environ.items() if not k.startswith("CHURN_")}, **extra}


def make_settings(home: Path, project: str, profile: str = "local", **extra: object):
    """Settings from the arguments and the defaults only, never from CHURN_* variables.

    Feast expands its yaml from the environment, so every ``get_store`` call sets
    CHURN_* variables in the test process; a setting not given here must not be
    picked up from whatever an earlier test's store left there (a Redis Cluster's
    node list, say).
    """
    from churn.settings import Settings

    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    return Settings(**{**defaults, "home": home, "profile": profile, "feast_project": project, **extra})


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
