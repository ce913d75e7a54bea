"""The offline store's snapshot Parquet, partitioned hive-style by snapshot month.

The folder (not a glob) with ``ParquetFormat`` is what Feast's DuckDB store reads
correctly; see docs/decisions/0002-feast-duckdb-offline-store.md. Feast's Spark
offline store only reads a ``SparkSource``, so the source class follows the
profile (``CHURN_PROFILE``); both name the same files. The location follows
``CHURN_HOME``, which our code sets before it calls Feast.
"""

import os
from pathlib import Path

from feast import FileSource
from feast.data_format import ParquetFormat

_HOME = Path(os.environ.get("CHURN_HOME") or Path(__file__).resolve().parents[1] / "var").resolve()
_PATH = str(_HOME / "data" / "offline" / "snapshots")
_COMMON = {
    "name": "customer_snapshots",
    "timestamp_field": "event_timestamp",
    "created_timestamp_column": "created_timestamp",
    "description": "One row per active customer per month start, built from data known before it.",
    "tags": {"owner": "churn-platform"},
}

if os.environ.get("CHURN_PROFILE") == "spark":
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

    snapshots_source = SparkSource(path=_PATH, file_format="parquet", **_COMMON)
else:
    snapshots_source = FileSource(path=_PATH, file_format=ParquetFormat(), **_COMMON)
