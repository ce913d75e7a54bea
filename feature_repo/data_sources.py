"""The offline store's snapshot Parquet, partitioned hive-style by snapshot month.

The folder (not a glob) with ``ParquetFormat`` is what Feast's DuckDB store reads
correctly; see docs/decisions/0002-feast-duckdb-offline-store.md. Feast's Spark
offline store only reads a ``SparkSource``, so the source class follows the
profile; both name the same files.
"""

from datetime import UTC, datetime
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


# Feast stamps a source with the time it was constructed and compares the stamp on `feast apply`: every apply
# reported "Updated feature view" with a protobuf diff although nothing had changed. A declaration's time is the
# declaration's, not the process's, so it is fixed here; a second apply is a no-op.
DECLARED_AT = datetime(2024, 1, 1, tzinfo=UTC)


def snapshots_source(path: str, spark: bool = False) -> Any:
    """The snapshot folder ``path`` as Feast's source: a SparkSource for the spark profile, else a FileSource."""
    if spark:  # imported here: pyspark only on the profile that asks for it
        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

        source: Any = SparkSource(path=path, file_format="parquet", **_COMMON)
    else:
        source = FileSource(path=path, file_format=ParquetFormat(), **_COMMON)
    source.created_timestamp = source.last_updated_timestamp = DECLARED_AT
    return source
