"""One trained home for the model tests: a small simulation, trained once per session."""

from __future__ import annotations

import pytest

from churn.offline import write_offline
from churn.raw import save_raw
from churn.simulate import SimulationConfig, simulate
from churn.temporal import build_snapshots
from harness.settings import make_settings, unique_project
from store.feast_store import apply
from training.config import DEFAULT_GRID, TrainConfig
from training.train import train

CONFIG = TrainConfig(folds=2, bootstrap=20, grid=DEFAULT_GRID[:2])
PROGRESS: list[tuple[str, int, int | None]] = []  # what the session's first training reported, step by step


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """(settings, the first TrainResult): later tests may train more versions, never touch this one's artifact."""
    home = tmp_path_factory.mktemp("train-home")
    settings = make_settings(home, unique_project("train"))
    raw = simulate(SimulationConfig(customers=1500, months=14, seed=21, burn_in_months=36))
    save_raw(raw, settings.raw_dir)
    write_offline(build_snapshots(raw), settings.snapshots_dir, settings.labels_path)
    apply(settings)
    return settings, train(settings, CONFIG, progress=lambda *step: PROGRESS.append(step))
