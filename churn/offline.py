"""The offline store: snapshot Parquet partitioned hive-style by ``snapshot_month=YYYY-MM``, and labels.

Feast's file sources read the partition folder directly (see feature_repo/), so
the layout here is the contract between temporalization and the feature store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from churn.declared import MANIFEST_KEY as FEATURES_KEY
from churn.declared import FeatureSet, features_of
from churn.errors import InputError
from churn.io import replace_dir, write_json, write_parquet
from churn.labels import MANIFEST_KEY, Labels, labels_of
from churn.lineage import of_manifest
from churn.schema import (
    CATEGORICAL_FEATURES,
    ENTITY,
    EVENT_TIMESTAMP,
    FEATURES,
    PARTITION,
    SNAPSHOT_COLUMNS,
    TIMES_COLUMNS,
)
from churn.temporal import Snapshots
from churn.timeutil import month_index_of_ns


def offline_arrow(df: pd.DataFrame) -> pa.Table:
    """A frame as the offline store writes it: microsecond UTC timestamps, ids and categories as strings."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    # microsecond timestamps: what Feast, DuckDB and Spark all read without surprises
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type):
            fields.append(pa.field(field.name, pa.timestamp("us", tz="UTC")))
        elif field.name == ENTITY or field.name in CATEGORICAL_FEATURES or field.name in TIMES_COLUMNS:
            fields.append(pa.field(field.name, pa.string()))
        else:
            fields.append(field)
    return table.cast(pa.schema(fields), safe=True).replace_schema_metadata(None)


MANIFEST = "manifest.json"
PART_FILE = "part-0.parquet"


def month_folder(snapshots_dir: Path, month: str) -> Path:
    """The partition folder of one snapshot month: the layout Feast's sources read (``snapshot_month=YYYY-MM``)."""
    return Path(snapshots_dir) / f"{PARTITION}={month}"


def snapshots_path(snapshots_dir: Path, month: str) -> Path:
    """The one Parquet file of a snapshot month."""
    return month_folder(snapshots_dir, month) / PART_FILE


def stored_columns(frame: pd.DataFrame) -> list[str]:
    """The columns a snapshot file stores: the platform's, then the deployment's declared features."""
    return [*SNAPSHOT_COLUMNS, *(c for c in frame.columns if c not in SNAPSHOT_COLUMNS and c != PARTITION)]


def write_month(frame: pd.DataFrame, snapshots_dir: Path, month: str) -> None:
    """One month's snapshot rows as the offline store stores them (its folder must not exist yet)."""
    folder = month_folder(snapshots_dir, month)
    folder.mkdir(parents=True)
    pq.write_table(offline_arrow(frame[stored_columns(frame)]), folder / PART_FILE, compression="zstd")


def write_offline_manifest(offline_dir: Path, raw_manifest: dict[str, Any], counts: dict[str, int]) -> None:
    """What the offline store was built from (the raw data's lineage, its labels and declared features), written
    after the data it describes."""
    own = {key: raw_manifest[key] for key in (MANIFEST_KEY, FEATURES_KEY) if raw_manifest.get(key)}
    write_json({"lineage": of_manifest(raw_manifest), **counts, **own}, Path(offline_dir) / MANIFEST)


def _offline_manifest(offline_dir: Path) -> dict[str, Any]:
    path = Path(offline_dir) / MANIFEST
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (json.JSONDecodeError, OSError):
        return {}


def offline_features(offline_dir: Path) -> FeatureSet:
    """The features of the data in the offline store: the platform's, plus the ones its source declares."""
    return features_of(_offline_manifest(offline_dir))


def offline_labels(offline_dir: Path) -> Labels:
    """The category labels of the data in the offline store: the platform's, plus its source's own."""
    return labels_of(_offline_manifest(offline_dir))


def offline_lineage(offline_dir: Path) -> dict[str, str | None] | None:
    """The lineage of the data the offline store was built from, or None for a store built before lineage."""
    path = Path(offline_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        return of_manifest(json.loads(path.read_text()))
    except (json.JSONDecodeError, OSError):
        return None


def write_offline(snapshots: Snapshots, snapshots_dir: Path, labels_path: Path) -> dict[str, int]:
    """Replace the offline store whole; identical input gives byte-identical files."""
    features = snapshots.features

    def fill(tmp: Path) -> None:
        for month, part in features.groupby(PARTITION, sort=True):
            write_month(part, tmp, str(month))

    replace_dir(snapshots_dir, fill)
    write_parquet(offline_arrow(snapshots.labels), labels_path)
    return {"snapshots": len(features), "labels": len(snapshots.labels), "months": features[PARTITION].nunique()}


def snapshot_months(snapshots_dir: Path) -> list[str]:
    if not Path(snapshots_dir).exists():
        return []
    return sorted(p.name.split("=", 1)[1] for p in Path(snapshots_dir).glob(f"{PARTITION}=*") if p.is_dir())


def read_snapshots(
    snapshots_dir: Path,
    months: list[str] | None = None,
    columns: list[str] | None = None,
    customer_ids: list[str] | None = None,
) -> pd.DataFrame:
    """The snapshots of ``months`` (default: all), only ``customer_ids`` when given (the console's history of one
    customer reads a few rows, not every month whole)."""
    available = snapshot_months(snapshots_dir)
    if not available:
        raise InputError(f"offline store: no snapshots under {snapshots_dir} — run `churn build` first")
    wanted = available if months is None else [m for m in months if m in available]
    paths = [str(snapshots_path(snapshots_dir, m)) for m in wanted]
    if not paths:
        return pd.DataFrame(columns=list(columns or SNAPSHOT_COLUMNS))
    dataset = ds.dataset(paths, format="parquet", partitioning="hive", partition_base_dir=str(snapshots_dir))
    where = ds.field(ENTITY).isin(customer_ids) if customer_ids is not None else None
    table = dataset.to_table(columns=columns, filter=where)
    df = table.to_pandas()
    for col in df.columns:
        if isinstance(df[col].dtype, pd.DatetimeTZDtype):
            df[col] = df[col].astype("datetime64[ns, UTC]")
    if PARTITION in df.columns:
        df[PARTITION] = df[PARTITION].astype(str)
    return typed_features(df, offline_features(Path(snapshots_dir).parent))


_NULLABLE_INTS = tuple(f.name for f in FEATURES if f.dtype == "int" and f.nullable)


def typed_features(df: pd.DataFrame, declared: FeatureSet | None = None) -> pd.DataFrame:
    """Nullable whole-number features as pandas' ``Int64``, as the builder made them.

    Parquet keeps the integers, but pandas reads an integer column with nulls
    as float64 (and an all-null one too): the contracts would then see floats
    where the schema says counts.
    """
    names = _NULLABLE_INTS if declared is None else declared.nullable_ints
    for name in names:
        if name in df.columns and df[name].dtype != "Int64":
            df[name] = pd.to_numeric(df[name]).astype("Int64")
    return df


def read_labels(labels_path: Path) -> pd.DataFrame:
    if not Path(labels_path).exists():
        raise InputError(f"offline store: no labels at {labels_path} — run `churn build` first")
    df = pd.read_parquet(labels_path)
    df[EVENT_TIMESTAMP] = df[EVENT_TIMESTAMP].astype("datetime64[ns, UTC]")
    return df


def matured_labels(labels: pd.DataFrame, clock_month: int) -> pd.DataFrame:
    """Labels known at the start of ``clock_month``: a snapshot's label (churn within its month) matures a month on.

    Training and monitoring read labels through this so that a platform clock
    set in the past (``CHURN_AS_OF``, a replay) never sees an outcome from after it.
    """
    ns = labels[EVENT_TIMESTAMP].astype("datetime64[ns, UTC]").astype("int64").to_numpy()
    return labels[month_index_of_ns(ns) < clock_month].reset_index(drop=True)
