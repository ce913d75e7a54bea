"""The flows on small data under Prefect's test harness: the demo chain, the online-store refresh, alarms, replay."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from churn.simulate import SimulationConfig
from harness.homes import SHOCK_SIM, prepare_home, settings_env
from harness.process import ROOT
from harness.settings import make_settings, redis_available, unique_project

pytestmark = [pytest.mark.slow]

FLOW_REDIS_DB = 9  # the flows' own Redis database; flushed before and after


def test_the_demo_flow_runs_the_platform_end_to_end(tmp_path: Path, use_settings) -> None:
    from flows.demo import demo_flow
    from training import registry

    settings = make_settings(tmp_path / "home", unique_project("demo"))
    use_settings(settings)
    out = demo_flow(customers=600, months=16, seed=5, bootstrap=0)
    champion = registry.read_pointer(settings)["champion"]
    assert out["champion"] == champion  # the first model is promoted: there was no champion
    scores = pd.read_parquet(out["batch_scores"])
    plan = pd.read_csv(out["action_plan"])
    assert len(plan) == len(scores) == int(out["online_store"].split(": ")[1].split(" ")[0].replace(",", ""))
    assert set(scores["model_version"]) == {champion}
    assert int(plan["targeted"].sum()) == out["targeted"]
    assert Path(out["drift_report"]).exists() and Path(out["model_report"]).exists()


@pytest.fixture
def redis_home(tmp_path: Path) -> Iterator:
    if not redis_available():
        pytest.fail("Redis is expected at 127.0.0.1:6379 (.ci/run starts it)")
    import redis

    settings = make_settings(tmp_path / "home", unique_project("flowredis"), profile="redis",
                             redis=f"127.0.0.1:6379,db={FLOW_REDIS_DB}")  # fmt: skip
    client = redis.Redis(db=FLOW_REDIS_DB)
    client.flushdb()
    prepare_home(settings)
    client.flushdb()  # prepare_home materialized; the flow under test starts from an empty store
    yield settings, client
    client.flushdb()


def test_materialization_reloads_a_store_that_lost_its_data(redis_home, use_settings) -> None:
    from flows.materialize import materialize_flow

    settings, client = redis_home
    use_settings(settings)
    first = materialize_flow()
    assert first["mode"] == "reload" and first["before"]["fresh_share"] == 0.0
    assert first["after"]["fresh_share"] == 1.0 and client.dbsize() == first["customers"] + 1  # + the store's marker
    second = materialize_flow()
    assert second["mode"] == "incremental" and second["before"]["fresh_share"] == 1.0
    client.flushdb()  # Redis restarted without persistence: the registry still says "materialized"
    third = materialize_flow()
    assert third["mode"] == "reload" and third["after"]["fresh_share"] == 1.0
    assert client.dbsize() == first["customers"] + 1


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def shocked(tmp_path_factory: pytest.TempPathFactory):
    settings = make_settings(tmp_path_factory.mktemp("flow-shock"), unique_project("flowshock"))
    prepare_home(settings, SHOCK_SIM)
    return settings


def test_a_drift_alarm_is_posted_to_the_webhook(shocked, use_settings) -> None:
    from flows.drift import drift_flow

    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        use_settings(shocked, CHURN_ALERT_WEBHOOK=f"http://127.0.0.1:{server.server_port}/hook")
        result = drift_flow(reference_date="2023-08-01", current_date="2023-12-01", retrain=False)
    finally:
        server.shutdown()
    assert result["drift_detected"]
    [alarm] = _Hook.received
    assert alarm["event"] == "drift" and "monthly_charges" in alarm["text"]
    assert alarm["details"]["report"] == result["report"]


def test_an_unreachable_webhook_never_fails_the_flow(shocked, use_settings) -> None:
    from flows.drift import drift_flow
    from harness.process import free_port

    use_settings(shocked, CHURN_ALERT_WEBHOOK=f"http://127.0.0.1:{free_port()}/nobody-listens")
    result = drift_flow(reference_date="2023-08-01", current_date="2023-12-01", retrain=False)
    assert result["drift_detected"]
    [alarm] = result["announced"]  # the alarm was still raised (log, artifact), and its failed delivery recorded
    assert alarm["event"] == "drift" and alarm["webhook_delivered"] is False


def test_replay_shows_the_alarm_the_retraining_and_the_plan_month_by_month(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", unique_project("replay"))
    sim = SimulationConfig(customers=1000, months=18, start="2023-01", seed=21, burn_in_months=36,
                           scenario="price_shock", drift_start="2024-05")  # fmt: skip
    from churn.offline import write_offline
    from churn.raw import save_raw
    from churn.simulate import simulate
    from churn.temporal import build_snapshots
    from store.feast_store import apply

    raw = simulate(sim)
    save_raw(raw, settings.raw_dir)
    write_offline(build_snapshots(raw), settings.snapshots_dir, settings.labels_path)
    apply(settings)
    before = {p: p.stat().st_mtime_ns for p in settings.home_dir.rglob("*") if p.is_file()}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "replay", "--months", "3", "--bootstrap", "0", "--keep", "--json"],
        cwd=ROOT, env=settings_env(settings), capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    rows, own = result["months"], Path(result["home"])
    # the user's home comes out as it went in: no champion of the replay's, no file touched, only replays/ added
    after = {p: p.stat().st_mtime_ns for p in settings.home_dir.rglob("*") if p.is_file() and own not in p.parents}
    assert after == before and not (settings.home_dir / "registry").exists()
    # 18 months from 2023-01 are labelled; the store's last snapshot is 2024-07's
    assert [r["month"] for r in rows] == ["2024-05", "2024-06", "2024-07"], rows
    # May's snapshot cannot see May's bills yet; June's can: the first alarm is June's, on charges
    assert rows[0]["drift_detected"] is False and rows[0]["retrained"] is False
    assert rows[1]["drift_detected"] is True and "monthly_charges" in rows[1]["drifted_features"]
    assert rows[1]["retrained"] is True and rows[1]["decision"]
    assert (rows[1]["champion"] != rows[0]["champion"]) == rows[1]["promoted"]
    for row in rows:
        plan = pd.read_csv(own / "outputs" / f"action_plan_{row['month']}-01.csv")
        assert int(plan["targeted"].sum()) == row["plan_size"]
