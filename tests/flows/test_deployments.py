"""prefect.yaml: every entrypoint a flow, every cron valid; and one deployment run end to end on a real server."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness.homes import prepare_home, settings_env
from harness.process import ROOT, free_port
from harness.settings import make_settings, unique_project

DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
BIN = Path(os.environ.get("VIRTUAL_ENV") or (ROOT / ".venv")) / "bin"


def _load(entrypoint: str):
    path, name = entrypoint.split(":")
    spec = importlib.util.spec_from_file_location(f"entry_{Path(path).stem}", ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_every_deployment_points_at_a_flow_with_a_valid_schedule(deployment: dict) -> None:
    from prefect import Flow
    from prefect.client.schemas.schedules import CronSchedule

    assert isinstance(_load(deployment["entrypoint"]), Flow)
    [schedule] = deployment["schedules"]
    CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])  # raises on an invalid cron or zone
    assert deployment["work_pool"]["name"] == "churn-process"


def test_the_schedules_are_the_documented_cadences() -> None:
    cron = {d["name"]: d["schedules"][0]["cron"].split() for d in DEPLOYMENTS}
    assert cron["materialize-daily"][2:] == ["*", "*", "*"]  # every day
    assert cron["batch-score-daily"][2:] == ["*", "*", "*"]
    assert cron["drift-weekly"][2:4] == ["*", "*"] and cron["drift-weekly"][4] != "*"  # one weekday
    assert cron["training-monthly"][2] != "*" and cron["training-monthly"][3:] == ["*", "*"]  # one day a month
    # materialization comes before scoring on the same day
    assert int(cron["materialize-daily"][1]) * 60 + int(cron["materialize-daily"][0]) < int(
        cron["batch-score-daily"][1]
    ) * 60 + int(cron["batch-score-daily"][0])


def _api(url: str, path: str, body: dict | None = None, attempts: int = 5) -> dict | list:
    """One call to Prefect's API; a 503 (its database busy on a loaded machine) is retried a few times."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            if err.code != 503 or attempt == attempts - 1:
                raise
            time.sleep(2.0 * (attempt + 1))
    raise AssertionError("unreachable")


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_server_deploys_and_runs_the_materialization(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", unique_project("deploy"))
    prepare_home(settings)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**settings_env(settings), "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "CHURN_PROJECT_DIR": str(ROOT)}  # fmt: skip
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _api(api, "/health")
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
                time.sleep(0.5)

        def prefect(*args: str) -> str:
            done = subprocess.run([BIN / "prefect", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=300)  # fmt: skip
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            return done.stdout + done.stderr

        prefect("work-pool", "create", "churn-process", "--type", "process")
        prefect("--no-prompt", "deploy", "--all")
        deployments = {d["name"]: d["id"] for d in _api(api, "/deployments/filter", {})}
        assert set(deployments) == {d["name"] for d in DEPLOYMENTS}
        run = _api(api, f"/deployments/{deployments['materialize-daily']}/create_flow_run", {})
        worker = prefect("worker", "start", "--pool", "churn-process", "--run-once")
        state = _api(api, f"/flow_runs/{run['id']}")["state"]
        assert state["type"] == "COMPLETED", (state.get("message"), worker[-3000:])
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()
    # the run really loaded the online store: the sqlite file of the local profile has the customers
    from store.materialize import online_health

    assert online_health(settings)["fresh_share"] == 1.0


def test_no_flow_module_shadows_a_package_of_the_platform() -> None:
    # Prefect puts an entrypoint's folder on sys.path: flows/training.py once hid the `training` package
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert not {p.stem for p in (ROOT / "flows").glob("*.py")} & packages
