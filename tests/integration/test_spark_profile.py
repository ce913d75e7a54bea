"""The `spark` profile end to end on local[2]: Feast's Spark engine materializes into Redis, and batch scoring
as a Spark job writes the same rows as the single-machine path (same customers, scores, bands and reasons)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.homes import prepare_home
from harness.settings import make_settings, redis_available, unique_project
from store.feast_store import apply
from store.marker import marker_key
from store.materialize import materialize, online_health

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REDIS_DB = 7


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory):
    """One CHURN_HOME seen through two profiles: trained and materialized on `local`, applied on `spark`."""
    import redis

    if not redis_available():
        pytest.fail("Redis is expected at 127.0.0.1:6379 (.ci/run starts it)")
    client = redis.Redis(db=REDIS_DB)
    client.flushdb()
    home, project = tmp_path_factory.mktemp("spark-profile"), unique_project("sparkp")
    local = make_settings(home, project, redis=f"127.0.0.1:6379,db={REDIS_DB}")
    spark = make_settings(home, project, profile="spark", redis=f"127.0.0.1:6379,db={REDIS_DB}")
    prepare_home(local)
    apply(spark)
    yield local, spark
    client.flushdb()


def test_spark_batch_scoring_equals_the_single_machine_path(homes) -> None:
    from batch.jobs import score
    from churn.actions import parse_catalogue

    local, spark = homes
    # a cheap, effective action makes many customers targets, so exact reasons are compared too
    catalogue = parse_catalogue({"actions": [{"name": "none", "cost": 0, "success_rate": 0},
                                             {"name": "sms", "cost": 3.0, "success_rate": 0.3}]}, "test")  # fmt: skip
    from batch.jobs import step_count

    steps: dict[str, list[str]] = {"local": [], "spark": []}
    single = score(local, catalogue=catalogue, progress=steps["local"].append)
    a = pd.read_parquet(single.path).sort_values("customer_id").reset_index(drop=True)
    # what the CLI and the flows call: the profile picks the engine
    on_spark = score(spark, catalogue=catalogue, progress=steps["spark"].append)
    # the CLI's bar counts the steps each engine reports
    assert (len(steps["local"]), len(steps["spark"])) == (step_count(local), step_count(spark)) == (4, 3)
    assert on_spark.path == single.path  # the same file, rewritten whole
    b = pd.read_parquet(on_spark.path).sort_values("customer_id").reset_index(drop=True)
    assert on_spark.customers == single.customers == len(a) == len(b)
    assert 0 < on_spark.exact_factors == single.exact_factors < len(a)
    assert list(a.columns) == list(b.columns) and (a.dtypes == b.dtypes).all()
    assert (a.customer_id == b.customer_id).all()
    np.testing.assert_allclose(b.probability, a.probability, rtol=0, atol=1e-12)
    for column in a.columns.drop("probability"):
        if a[column].dtype.kind == "f":
            np.testing.assert_allclose(b[column], a[column], rtol=1e-9, equal_nan=True, err_msg=column)
        else:
            assert (a[column].astype(str) == b[column].astype(str)).all(), column
    leftovers = [p.name for p in Path(single.path).parent.iterdir() if p.name.startswith(".spark-")]
    assert leftovers == []  # the executors' parts are gone once the file is in place


def test_the_spark_engine_materializes_into_redis(homes) -> None:
    import redis

    _, spark = homes
    redis.Redis(db=REDIS_DB).flushdb()
    result = materialize(spark)
    health = online_health(spark)
    assert result.customers > 0 and health["fresh_share"] == 1.0
    assert redis.Redis(db=REDIS_DB).dbsize() == result.customers + 1  # and the store's marker
    assert redis.Redis(db=REDIS_DB).exists(marker_key(spark.feast_project))


def test_spark_scoring_refuses_another_profile(homes) -> None:
    from batch.spark_scoring import score_spark
    from churn.errors import InputError

    local, _ = homes
    with pytest.raises(InputError, match="CHURN_PROFILE=spark"):
        score_spark(local)


def test_temporalization_on_spark_writes_the_same_offline_store(tmp_path: Path, small_raw) -> None:
    from churn.offline import read_labels, read_snapshots, write_offline
    from churn.raw import save_raw
    from churn.temporal import build_snapshots
    from store.spark import build_offline_spark

    single = make_settings(tmp_path / "single", unique_project("tsingle"))
    spark = make_settings(tmp_path / "spark", unique_project("tspark"), profile="spark")
    write_offline(build_snapshots(small_raw), single.snapshots_dir, single.labels_path)
    save_raw(small_raw, spark.raw_dir)
    counts = build_offline_spark(spark, buckets=5)  # five tasks, each the builder on every 5th customer
    keys = ["customer_id", "event_timestamp"]
    a = read_snapshots(single.snapshots_dir).sort_values(keys).reset_index(drop=True)
    b = read_snapshots(spark.snapshots_dir).sort_values(keys).reset_index(drop=True)
    assert counts["snapshots"] == len(a) == len(b) and counts["buckets"] == 5
    pd.testing.assert_frame_equal(a, b)  # is_high_value included: recomputed over each whole month
    la = read_labels(single.labels_path).sort_values(keys).reset_index(drop=True)
    lb = read_labels(spark.labels_path).sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(la, lb)
    assert not list(spark.offline_dir.glob(".spark-build-*"))  # the staging parts are gone
