"""The README's feature-store commands, run as a user runs them: `churn features ...` and `feast` by hand."""

from __future__ import annotations

import json
import os
import shutil
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
    assert "FeatureService:churn_model_v2" in applied["applied"]
    moved = churn_json(env, "features", "materialize")
    latest = small_snapshots.features[small_snapshots.features.snapshot_month == "2023-09"]
    assert moved["customers"] == len(latest) and moved["start"].startswith("2023-09-01")
    some = latest.customer_id.iloc[0]
    got = churn_json(env, "features", "get", some, "nobody")
    assert got["unknown"] == ["nobody"]
    assert got["found"][some]["total_charges_to_date"] == pytest.approx(latest.total_charges_to_date.iloc[0])
    exported = churn_json(env, "features", "env")
    assert exported["CHURN_HOME"] == env["CHURN_HOME"] and exported["BENTOML_HOME"].endswith("bentoml")
    assert (Path(exported["CHURN_FEAST_REPO"]) / "feature_store.yaml").exists()


def test_feast_by_hand_in_a_rendered_repository(env: dict[str, str], small_snapshots) -> None:
    """`churn features render` writes a Feast repository for these settings; `feast -c` on it sees the platform's."""
    if not redis_available():
        pytest.fail("no Redis at 127.0.0.1:6379")
    rendered = churn_json({**env, "CHURN_PROFILE": "redis"}, "features", "render")
    repo = Path(rendered["repo"])
    # nothing exported: the rendered files carry every value
    bare = {k: v for k, v in env.items() if not k.startswith("CHURN_")}
    assert run([FEAST, "-c", str(repo), "apply"], bare).returncode == 0
    # declarations are stable: applying them again changes nothing (it used to print a 170-line protobuf diff)
    again = run([FEAST, "-c", str(repo), "apply"], bare)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Updated" not in again.stdout and "Created" not in again.stdout, again.stdout[-3000:]
    listed = run([FEAST, "-c", str(repo), "feature-services", "list"], bare)
    assert "churn_model_v2" in listed.stdout
    mat = run([FEAST, "-c", str(repo), "materialize", "2023-08-15T00:00:00", "2023-09-01T00:00:01"], bare)
    assert mat.returncode == 0, mat.stderr
    inc = run([FEAST, "-c", str(repo), "materialize-incremental", "2023-09-02T00:00:00"], bare)
    assert inc.returncode == 0, inc.stderr
    keys = list(redis.Redis(db=12).scan_iter(match=f"*{env['CHURN_FEAST_PROJECT']}"))
    latest = small_snapshots.features[small_snapshots.features.snapshot_month == "2023-09"]
    assert len(keys) == len(latest)
    # and the platform reads what Feast wrote by hand
    got = churn_json({**env, "CHURN_PROFILE": "redis"}, "features", "get", latest.customer_id.iloc[0])
    assert got["unknown"] == []


def test_feast_apply_in_the_feature_repo_needs_nothing_exported(tmp_path: Path) -> None:
    """`cd feature_repo && feast apply` on the default profile: relative paths, the default home beside it."""
    project = tmp_path / "project"
    shutil.copytree(REPO_DIR, project / "feature_repo", ignore=shutil.ignore_patterns("__pycache__"))
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "FEAST_"))}
    done = run([FEAST, "apply"], bare, cwd=project / "feature_repo")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (project / "var" / "feast" / "local" / "registry.db").exists()  # ../var: the default home
    listed = run([FEAST, "feature-views", "list"], bare, cwd=project / "feature_repo")
    assert all(v in listed.stdout for v in ("customer_profile", "customer_billing", "customer_behaviour"))
    # a configuration other than this folder's own: one readable line naming the command to run, no traceback
    other = project / "feature_repo" / "elsewhere.yaml"
    other.write_text((project / "feature_repo" / "feature_store.yaml").read_text())
    refused = run([FEAST, "-f", str(other), "apply"], bare, cwd=project / "feature_repo")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "churn features render" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_the_default_yaml_is_the_local_profile_for_the_default_home() -> None:
    """feature_store.yaml (for people) and profiles/local.yaml (for the platform) describe the same store."""
    import yaml

    from churn.settings import Settings
    from store.config import config_dict

    by_hand = yaml.safe_load((REPO_DIR / "feature_store.yaml").read_text())
    platform = config_dict(Settings(home=REPO_DIR.parent / "var"), "local")
    for section in ("registry", "online_store"):
        by_hand[section]["path"] = str((REPO_DIR / by_hand[section]["path"]).resolve())
    assert by_hand == platform


def test_feast_ui_serves_the_platform_registry(env: dict[str, str]) -> None:
    """`feast ui` on a rendered repository starts and answers (it crashed at start without grpcio)."""
    import time
    import urllib.request

    from harness.process import free_port

    rendered = churn_json(env, "features", "render")
    churn_json(env, "features", "apply")
    bare = {k: v for k, v in env.items() if not k.startswith("CHURN_")}
    port = free_port()
    ui = subprocess.Popen(
        [FEAST, "-c", rendered["repo"], "ui", "--host", "127.0.0.1", "--port", str(port)],
        env=bare, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline, answered = time.monotonic() + 120, None
        while time.monotonic() < deadline and ui.poll() is None and answered is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/projects-list.json", timeout=5) as resp:
                    answered = json.loads(resp.read())
            except OSError:
                time.sleep(0.5)
        output = ui.stdout.read()[-3000:] if ui.poll() is not None and ui.stdout else ""
        assert answered is not None, output
        assert env["CHURN_FEAST_PROJECT"] in [p["id"] for p in answered["projects"]], answered
    finally:
        ui.terminate()
        ui.wait(timeout=30)
