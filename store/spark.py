"""Spark for the `spark` profile: the session Feast's offline store uses, and temporalization as a Spark job.

The distributed build runs the very builder the single machine runs
(:func:`churn.temporal.build_snapshots`), once per bucket of customers, in
Spark tasks: a customer's snapshots depend only on that customer's records,
except ``is_high_value`` (top 25% of the month's charges), which the driver
recomputes over each whole month with the same function
(:func:`churn.temporal.high_value`) before the month is written. Buckets are
every n-th customer of the sorted ids, so the split repeats. The offline store
is replaced whole (build in a sibling folder, then swap), as the single-machine
build does; a test shows both builds write identical snapshots and labels.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from churn.errors import InputError
from churn.io import replace_dir, write_parquet
from churn.offline import offline_arrow, stored_columns, write_month, write_offline_manifest
from churn.raw import load_raw
from churn.schema import PARTITION
from churn.settings import Settings
from churn.temporal import build_snapshots, high_value
from store.feast_store import get_store


def spark_session(settings: Settings) -> tuple[Any, Any]:
    """(the profile's FeatureStore, the Spark session its offline store and engine use), started from its spark_conf.

    PySpark takes its workers' Python from ``PYSPARK_PYTHON`` when the context
    starts; rather than write the environment, the context is told this
    interpreter (which has the platform's packages) directly. Feast's engine
    gets the same session afterwards.
    """
    # imported here: pyspark (and its JVM) only on the profile that asks for it
    from feast.infra.offline_stores.contrib.spark_offline_store.spark import (
        get_spark_session_or_start_new_with_repoconfig,
    )

    if settings.profile != "spark":
        raise InputError(f"Spark jobs need CHURN_PROFILE=spark (the active profile is {settings.profile!r})")
    store = get_store(settings)
    session = get_spark_session_or_start_new_with_repoconfig(store.config.offline_store)
    session.sparkContext.pythonExec = sys.executable
    return store, session


def _build_bucket(raw_dir: str, ids: list[str], out: str, index: int) -> tuple[int, int]:
    """One Spark task: the builder on one bucket's records, written as Parquet parts."""
    snaps = build_snapshots(load_raw(Path(raw_dir), customers=ids))
    features = offline_arrow(snaps.features[[*stored_columns(snaps.features), PARTITION]])
    pq.write_table(features, f"{out}/features/part-{index}.parquet")
    pq.write_table(offline_arrow(snaps.labels), f"{out}/labels/part-{index}.parquet")
    return len(snaps.features), len(snaps.labels)


def build_offline_spark(settings: Settings, buckets: int | None = None) -> dict[str, int]:
    """Raw data → the offline store (snapshots by month, labels), the builder's work spread over Spark tasks."""
    _, spark = spark_session(settings)
    customers = settings.raw_dir / "customers.parquet"
    if not customers.exists():
        raise InputError(f"raw data: nothing at {settings.raw_dir} — run `churn simulate` or `churn ingest` first")
    ids = sorted(str(i) for i in pq.read_table(customers, columns=["customer_id"]).column(0).to_pylist())
    n = max(1, min(buckets or 4 * spark.sparkContext.defaultParallelism, len(ids)))
    staging = settings.offline_dir / f".spark-build-{uuid.uuid4().hex[:8]}"
    (staging / "features").mkdir(parents=True)
    (staging / "labels").mkdir()
    raw_dir, out = str(settings.raw_dir), str(staging)
    try:
        tasks = spark.sparkContext.parallelize([(i, ids[i::n]) for i in range(n)], n)
        counts = tasks.map(lambda job: _build_bucket(raw_dir, job[1], out, job[0])).collect()
        parts = ds.dataset(str(staging / "features"), format="parquet")
        months = sorted(pc.unique(parts.to_table(columns=[PARTITION]).column(0)).to_pylist())

        def fill(tmp: Path) -> None:
            for month in months:  # one month in memory at a time
                table = parts.to_table(filter=pc.field(PARTITION) == month)
                frame = table.drop_columns([PARTITION]).to_pandas()
                frame["is_high_value"] = high_value(frame["monthly_charges"].to_numpy(np.float64))
                write_month(frame.sort_values(["customer_id"], kind="stable"), tmp, month)

        replace_dir(settings.snapshots_dir, fill)
        labels = ds.dataset(str(staging / "labels"), format="parquet").to_table()
        labels = labels.take(pc.sort_indices(labels, [("event_timestamp", "ascending"), ("customer_id", "ascending")]))
        write_parquet(pa.table(labels), settings.labels_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    totals = {"snapshots": sum(c[0] for c in counts), "labels": sum(c[1] for c in counts), "months": len(months)}
    write_offline_manifest(settings.offline_dir, json.loads((settings.raw_dir / "manifest.json").read_text()), totals)
    return {**totals, "buckets": n}
