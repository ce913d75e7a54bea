"""The offline store's snapshot Parquet, partitioned hive-style by snapshot month.

The folder (not a glob) with ``ParquetFormat`` is what Feast's DuckDB store reads
correctly; see docs/decisions/0002-feast-duckdb-offline-store.md. Feast's Spark
offline store only reads a ``SparkSource``, so the source class follows the
profile; both name the same files.
"""

from typing import Any

from feast import FileSource
from feast.data_format import ParquetFormat

from churn.schema import CREATED_TIMESTAMP, EVENT_TIMESTAMP

_COMMON: dict[str, Any] = {
    "name": "customer_snapshots",
    "timestamp_field": EVENT_TIMESTAMP,
    "created_timestamp_column": CREATED_TIMESTAMP,
    "description": "One row per active customer per month start, built from data known before it.",
    "tags": {"owner": "churn-platform"},
}


def snapshots_source(path: str, spark: bool = False) -> Any:
    """The snapshot folder ``path`` as Feast's source: a SparkSource for the spark profile, else a FileSource."""
    if spark:  # imported here: pyspark only on the profile that asks for it
        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

        return SparkSource(path=path, file_format="parquet", **_COMMON)
    return FileSource(path=path, file_format=ParquetFormat(), **_COMMON)
