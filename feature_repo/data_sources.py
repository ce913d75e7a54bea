"""The offline store's snapshot Parquet, partitioned hive-style by snapshot month.

The folder (not a glob) with ``ParquetFormat`` is what Feast's DuckDB store reads
correctly; see docs/decisions/0002-feast-duckdb-offline-store.md. The location
follows ``CHURN_HOME``, which our code sets before it calls Feast.
"""

import os
from pathlib import Path

from feast import FileSource
from feast.data_format import ParquetFormat

_HOME = Path(os.environ.get("CHURN_HOME") or Path(__file__).resolve().parents[1] / "var").resolve()

snapshots_source = FileSource(
    name="customer_snapshots",
    path=str(_HOME / "data" / "offline" / "snapshots"),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="One row per active customer per month start, built from data known before it.",
    tags={"owner": "churn-platform"},
)
