"""`churn forget`: every trace of a customer gone from every file and from the online store, nothing else touched."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import redis

from batch.jobs import score
from batch.plan import make_plan
from churn.errors import InputError
from churn.offline import read_snapshots, snapshot_months
from churn.prediction_log import day_dir, make_record
from churn.raw import load_raw, save_raw
from churn.settings import Settings
from harness.homes import prepare_home, settings_env
from harness.process import ROOT
from harness.settings import make_settings, unique_project
from operations.forget import forget
from store.feast_store import get_store
from store.online import read_online
from store.redis_online import entity_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REDIS_DB = 12


@pytest.fixture(scope="module", params=["local", "redis"])
def home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    extra = {"redis": f"127.0.0.1:6379,db={REDIS_DB}"} if request.param == "redis" else {}
    settings = make_settings(tmp_path_factory.mktemp(f"forget-{request.param}"), unique_project("forget"),
                             profile=request.param, **extra)  # fmt: skip
    prepare_home(settings)
    score(settings)
    make_plan(settings, sorted(settings.outputs_dir.glob("batch_scores_*.parquet"))[-1])
    yield settings
    if request.param == "redis":
        client = redis.Redis(db=REDIS_DB)
        for key in client.scan_iter(match=f"*{settings.feast_project}*", count=1000):
            client.delete(key)


def _active(settings: Settings, k: int) -> list[str]:
    month = snapshot_months(settings.snapshots_dir)[-1]
    return sorted(read_snapshots(settings.snapshots_dir, [month])["customer_id"].astype(str))[:k]


def _log_predictions(settings: Settings, ids: list[str]) -> Path:
    path = day_dir(settings.home_dir, date(2024, 1, 2)) / "worker-1.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = dict(logged_at="2024-01-02T00:00:00+00:00", request_id="r", model_version="m", feature_timestamp=None,
                  what_if=False, probability=0.1, risk_band="medium", action="none", clv=1.0, cost=0.0,
                  success_rate=0.0, expected_value=0.0, target=False, features={"tenure_months": 3})  # fmt: skip
    path.write_text("".join(json.dumps(make_record(customer_id=i, **fields)) + "\n" for i in ids))
    return path


def _decoded(path: Path) -> pd.DataFrame | str | bytes:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas()
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return path.read_bytes()


def _traces(settings: Settings, customer: str) -> list[str]:
    """Every place under CHURN_HOME and in the online store that still holds ``customer``."""
    found = []
    for path in sorted(settings.home_dir.rglob("*")):
        if not path.is_file():
            continue
        content = _decoded(path)
        if isinstance(content, pd.DataFrame):
            hit = any((content[c].astype(str) == customer).any() for c in content.columns if content[c].dtype == object
                      or isinstance(content[c].dtype, pd.CategoricalDtype))  # fmt: skip
        elif isinstance(content, str):
            hit = customer in content
        else:
            hit = customer.encode() in content
        if hit:
            found.append(str(path.relative_to(settings.home_dir)))
    store = get_store(settings)
    if settings.profile == "redis":
        client = redis.Redis(db=REDIS_DB)
        key = entity_key(customer, store.config.entity_key_serialization_version)
        for name in client.scan_iter(match=f"*{settings.feast_project}*", count=1000):
            kind = client.type(name)
            values = list(client.hgetall(name).values()) if kind == b"hash" else [client.dump(name) or b""]
            if key in name or any(customer.encode() in v for v in values):
                found.append(f"redis:{name!r}")
    return found


def _contents(settings: Settings, without: set[str]) -> dict[str, object]:
    """What every row-holding file says about everyone else (Parquet decoded, text by lines)."""
    out: dict[str, object] = {}
    for path in sorted(settings.home_dir.rglob("*")):
        rel = str(path.relative_to(settings.home_dir))
        if not path.is_file() or rel.split("/")[0] in ("feast", "bentoml", "privacy", "reports"):
            continue
        if path.suffix == ".parquet":
            frame = pq.read_table(path).to_pandas()
            column = "customer_id" if "customer_id" in frame else None
            if column:
                frame = frame[~frame[column].astype(str).isin(without)].reset_index(drop=True)
            out[rel] = frame
        elif path.suffix in (".csv", ".jsonl"):
            out[rel] = [line for line in path.read_text().splitlines() if not any(w in line for w in without)]
    return out


def test_forget_leaves_no_trace_and_touches_nothing_else(home: Settings) -> None:
    victim, neighbour = _active(home, 2)
    _log_predictions(home, [victim, neighbour])
    assert len(_traces(home, victim)) >= 6  # raw, snapshots, labels, scores, plan, log, online store
    before = _contents(home, {victim})

    result = forget(home, [victim])
    assert result["forgotten"] == 1 and result["tombstones_added"] == 1 and result["unhandled"] == []
    rewritten = {Path(p).name for p in result["rows_removed"]}
    assert {"customers.parquet", "labels.parquet", "part-0.parquet", "action_plan.csv", "worker-1.jsonl"} <= rewritten
    assert _traces(home, victim) == []
    after = _contents(home, {victim})
    assert after.keys() == before.keys()
    for rel, content in before.items():
        if isinstance(content, pd.DataFrame):
            pd.testing.assert_frame_equal(after[rel], content, obj=rel)  # type: ignore[arg-type]
        else:
            assert after[rel] == content, rel
    # the neighbour is untouched: still served from the online store; the forgotten customer is not found
    online = read_online(get_store(home), [victim, neighbour])
    assert online.unknown == [victim] and list(online.features.index) == [neighbour]
    # the tombstone holds a salted hash, never the id, and keeps the customer out of the next ingest
    assert victim not in (home.raw_dir.parent / "privacy" / "tombstones.json").read_text()
    raw = load_raw(home.raw_dir)
    raw.tables["customers"] = pd.concat([raw.tables["customers"], raw.tables["customers"].iloc[:1].assign(
        customer_id=victim)], ignore_index=True)  # fmt: skip
    save_raw(raw, home.raw_dir)
    assert victim not in set(load_raw(home.raw_dir).tables["customers"]["customer_id"].astype(str))


def test_forgetting_an_unknown_customer_changes_nothing(home: Settings) -> None:
    stamps = {p: p.stat().st_mtime_ns for p in home.home_dir.rglob("*") if p.is_file()}
    with pytest.raises(InputError, match=r"unknown customer\(s\) \['NOBODY42'\]; nothing was changed"):
        forget(home, ["NOBODY42", _active(home, 3)[2]])
    assert {p: p.stat().st_mtime_ns for p in home.home_dir.rglob("*") if p.is_file()} == stamps


def test_a_killed_erasure_leaves_whole_files_and_a_rerun_completes_it(home: Settings) -> None:
    victim = _active(home, 4)[3]
    env = settings_env(home)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "forget", victim, "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    time.sleep(4.0)  # past the imports, into the erasure (or done: either way the files must be whole)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    for path in home.home_dir.rglob("*.parquet"):
        pq.read_table(path)  # every file is whole: its old or its new state
    if home.profile == "local":
        with sqlite3.connect(home.home_dir / "feast" / "local" / "online.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    done = subprocess.run([sys.executable, "-m", "cli.main", "forget", victim, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert _traces(home, victim) == []
