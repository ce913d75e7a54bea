"""The README's feature-store commands, run as a user runs them: `churn features ...` and `feast` by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from churn.offline import write_offline
from harness.settings import redis_available, unique_project
from store.config import REPO_DIR

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FEAST = str(Path(sys.executable).with_name("feast"))


def run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture
def env(tmp_path: Path, small_snapshots) -> dict[str, str]:
    home = tmp_path / "home"
    write_offline(small_snapshots, home / "data/offline/snapshots", home / "data/offline/labels.parquet")
    project = unique_project("cli")
    values = {
        **os.environ,
        "CHURN_HOME": str(home),
        "CHURN_FEAST_PROJECT": project,
        "CHURN_REDIS": "127.0.0.1:6379,db=12",
    }
    yield values
    if redis_available():
        client = redis.Redis(db=12)
        for key in client.scan_iter(match=f"*{project}"):
            client.delete(key)


def churn_json(env: dict[str, str], *args: str) -> dict:
    proc = run([sys.executable, "-m", "cli.main", *args, "--json"], env)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def test_churn_features_commands(env: dict[str, str], small_snapshots) -> None:
    applied = churn_json(env, "features", "apply")
    assert "FeatureService:churn_model_v1" in applied["applied"]
    moved = churn_json(env, "features", "materialize")
    latest = small_snapshots.features[small_snapshots.features.snapshot_month == "2023-09"]
    assert moved["customers"] == len(latest) and moved["start"].startswith("2023-09-01")
    some = latest.customer_id.iloc[0]
    got = churn_json(env, "features", "get", some, "nobody")
    assert got["unknown"] == ["nobody"]
    assert got["found"][some]["total_charges_to_date"] == pytest.approx(latest.total_charges_to_date.iloc[0])
    exported = churn_json(env, "features", "env")
    assert exported["CHURN_FEAST_PROJECT"] == env["CHURN_FEAST_PROJECT"]


def test_feast_cli_by_hand_with_the_readme_exports(env: dict[str, str], small_snapshots) -> None:
    proc = run([sys.executable, "-m", "cli.main", "features", "env"], env)
    exports = dict(line.removeprefix("export ").split("=", 1) for line in proc.stdout.splitlines())
    by_hand = {**env, **exports}
    assert run([FEAST, "apply"], by_hand, cwd=REPO_DIR).returncode == 0
    listed = run([FEAST, "feature-services", "list"], by_hand, cwd=REPO_DIR)
    assert "churn_model_v1" in listed.stdout
    if not redis_available():
        pytest.fail("no Redis at 127.0.0.1:6379")
    assert run([FEAST, "-f", "feature_store.redis.yaml", "apply"], by_hand, cwd=REPO_DIR).returncode == 0
    mat = run(
        [FEAST, "-f", "feature_store.redis.yaml", "materialize", "2023-08-15T00:00:00", "2023-09-01T00:00:01"],
        by_hand,
        cwd=REPO_DIR,
    )
    assert mat.returncode == 0, mat.stderr
    inc = run(
        [FEAST, "-f", "feature_store.redis.yaml", "materialize-incremental", "2023-09-02T00:00:00"],
        by_hand,
        cwd=REPO_DIR,
    )
    assert inc.returncode == 0, inc.stderr
    keys = list(redis.Redis(db=12).scan_iter(match=f"*{env['CHURN_FEAST_PROJECT']}"))
    latest = small_snapshots.features[small_snapshots.features.snapshot_month == "2023-09"]
    assert len(keys) == len(latest)
