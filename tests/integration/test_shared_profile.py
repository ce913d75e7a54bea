"""The `shared` profile: Feast's SQL registry in the real PostgreSQL, Redis online store, Parquet offline side.

Each run creates a database of its own on 127.0.0.1:5432 (trust auth; .ci/run starts the server when nothing
answers) and drops it afterwards; Redis database 8 is flushed before and after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from churn.offline import read_snapshots, snapshot_months, write_offline
from churn.temporal import build_snapshots
from harness.settings import make_settings, redis_available, unique_project
from store.feast_store import apply, get_store
from store.materialize import materialize, online_health
from store.online import read_online
from store.training_sets import build_training_set

pytestmark = pytest.mark.integration
REDIS_DB = 8


def _postgres(sql: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=3) as c:
        c.execute(sql)


@pytest.fixture
def shared_settings(tmp_path: Path, small_raw) -> Iterator:
    import psycopg
    import redis

    if not redis_available():
        pytest.fail("Redis is expected at 127.0.0.1:6379 (.ci/run starts it)")
    database = f"churn_feast_{uuid.uuid4().hex[:10]}"
    try:
        _postgres(f"CREATE DATABASE {database}")
    except psycopg.OperationalError as err:
        pytest.fail(f"PostgreSQL is expected at 127.0.0.1:5432 with trust auth (.ci/run starts it): {err}")
    client = redis.Redis(db=REDIS_DB)
    client.flushdb()
    settings = make_settings(
        tmp_path / "home", unique_project("shared"), profile="shared", redis=f"127.0.0.1:6379,db={REDIS_DB}",
        registry_url=f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
    )  # fmt: skip
    write_offline(build_snapshots(small_raw), settings.snapshots_dir, settings.labels_path)
    yield settings
    client.flushdb()
    _postgres(f"DROP DATABASE {database} WITH (FORCE)")


def test_the_shared_profile_applies_materializes_and_serves(shared_settings) -> None:
    applied = apply(shared_settings)
    assert "FeatureService:churn_model_v2" in applied.applied
    # another machine of the deployment: a fresh store object reads the same registry from PostgreSQL
    other = get_store(shared_settings)
    assert {fv.name for fv in other.list_feature_views()} >= {"customer_profile", "customer_billing"}
    materialize(shared_settings)
    month = snapshot_months(shared_settings.snapshots_dir)[-1]
    offline = read_snapshots(shared_settings.snapshots_dir, [month]).set_index("customer_id")
    ids = offline.index[:25].astype(str).tolist()
    online = read_online(other, [*ids, "nobody"])
    assert online.unknown == ["nobody"]
    for name in ("monthly_charges", "tenure_months", "tickets_90d"):
        got = online.features.loc[ids, name].to_numpy(np.float64)
        want = offline.loc[ids, name].to_numpy(np.float64)
        np.testing.assert_allclose(got, want, equal_nan=True)
    health = online_health(shared_settings)
    assert health["fresh_share"] == 1.0


def test_the_shared_profile_builds_training_sets_point_in_time(shared_settings) -> None:
    from churn.offline import read_labels

    apply(shared_settings)
    labels = read_labels(shared_settings.labels_path).head(200)
    frame = build_training_set(get_store(shared_settings), labels)
    snaps = read_snapshots(shared_settings.snapshots_dir)
    joined = labels.merge(snaps, on=["customer_id", "event_timestamp"])
    merged = frame.merge(joined, on=["customer_id", "event_timestamp"], suffixes=("", "_snap"))
    assert len(merged) == len(labels) == len(frame)
    np.testing.assert_allclose(merged["monthly_charges"], merged["monthly_charges_snap"], equal_nan=True)
