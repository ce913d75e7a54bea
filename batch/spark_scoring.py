"""Batch scoring as a Spark job (the `spark` profile): the same rows as :func:`batch.scoring.score`, at any scale.

Feast's Spark offline store does the point-in-time join as Spark SQL and hands
back a Spark DataFrame (nothing collected on the driver); the champion is
broadcast once per executor and :func:`batch.scoring.score_frame` — the very
function the single-machine path calls — scores, decides and explains each
Arrow batch in ``mapInPandas``. Executors write Parquet parts into a temporary
folder under ``outputs/``; the driver then streams them, batch by batch, into
``batch_scores_YYYY-MM-DD.parquet`` and renames it into place, so readers see
the whole file or the previous one. The master is ``CHURN_SPARK_MASTER``:
``local[2]`` here, a cluster's master elsewhere.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from batch.scoring import ScoreResult, not_profiled, score_frame, scores_path, scoring_job
from churn.actions import Catalogue, load_catalogue
from churn.io import atomic_path
from churn.schema import ENTITY, EVENT_TIMESTAMP
from churn.settings import Settings
from store.feast_store import feature_service, service_features
from store.spark import spark_session


def _arrow_schema(template: pd.DataFrame) -> pa.Schema:
    schema = pa.Schema.from_pandas(template, preserve_index=False).remove_metadata()
    # a column that happened to be empty in the sample is still a string column
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema])


SPARK_STEPS = 3  # the progress messages score_spark reports


def score_spark(
    settings: Settings,
    day: str | None = None,
    catalogue: Catalogue | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScoreResult:
    # imported here: pyspark only on the profile that asks for it
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    began = time.perf_counter()
    say = progress or (lambda _: None)
    job = scoring_job(settings, day, nthread=1)  # one thread per Spark task
    # plain names: the task closure below must capture the date and version, never the job (it holds the model)
    when, day, month, version, model = job.when, job.day, job.month, job.version, job.model
    catalogue = catalogue or load_catalogue()
    store, spark = spark_session(settings)

    say("point-in-time join (Spark)")
    ids = spark.read.parquet(str(settings.snapshots_dir / f"snapshot_month={month}")).select(ENTITY)
    left_out = not_profiled(settings)  # every objection on record: a short list, nothing collected
    if left_out:
        ids = ids.filter(~F.col(ENTITY).isin(sorted(left_out)))
    entity = ids.withColumn(EVENT_TIMESTAMP, F.lit(when.to_pydatetime()).cast("timestamp"))
    joined = store.get_historical_features(entity_df=entity, features=feature_service(store, job.service)).to_spark_df()
    features = service_features(store, job.service)
    joined = joined.select(ENTITY, EVENT_TIMESTAMP, *features)

    # the output schema from a few rows of the month's own snapshot (same features): no Spark job runs twice
    part = settings.snapshots_dir / f"snapshot_month={month}" / "part-0.parquet"
    sample = ds.dataset(str(part), format="parquet").head(64).to_pandas()
    template = score_frame(model, sample, catalogue, version, when, features, job.lifetime)
    schema = _arrow_schema(template)
    shared = spark.sparkContext.broadcast((model, job.lifetime))

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        champion, lifetime = shared.value
        for batch in batches:
            if len(batch):
                yield score_frame(champion, batch, catalogue, version, when, features, lifetime)

    say("scoring, deciding and explaining (Spark)")
    parts = settings.outputs_dir / f".spark-{day}-{uuid.uuid4().hex[:8]}"
    try:
        joined.mapInPandas(score_batches, from_arrow_schema(schema)).write.parquet(str(parts))
        say("writing")
        path = scores_path(settings, day)
        customers = exact = 0
        with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in ds.dataset(str(parts), format="parquet").to_batches():
                table = pa.Table.from_batches([batch]).cast(schema)
                writer.write_table(table)
                customers += table.num_rows
                exact += int(pa.compute.sum(pa.compute.equal(table["factors_method"], "exact")).as_py() or 0)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
        shared.unpersist()
    return ScoreResult(
        path=path,
        date=day,
        customers=customers,
        model_version=version,
        exact_factors=exact,
        approximate_factors=customers - exact,
        seconds=round(time.perf_counter() - began, 2),
        warnings=job.warnings,
        objected_not_scored=len(left_out),
    )
