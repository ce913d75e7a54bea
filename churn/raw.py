"""The raw dataset both sources write under ``CHURN_HOME/data/raw/``.

One Parquet file per record type (``churn.schema.RAW_TABLES``) plus
``manifest.json``: the source, the months it observed and, for the simulator,
its parameters. The simulator also writes its oracle (true hazards) and each
customer's response to retention offers beside the raw records; they are never
features.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from churn.declared import METERED_KEY, METERED_PREFIX
from churn.errors import InputError
from churn.events import load_events, merge_events
from churn.io import replace_dir, write_csv, write_json
from churn.lineage import describe, of_manifest
from churn.privacy import forgotten_ids, tombstones
from churn.schema import ENTITY, RAW_TABLES

ORACLE_FILE = "oracle_hazard.parquet"
OFFERS_FILE = "offer_response.parquet"
UPLIFT_FILE = "uplift_oracle.parquet"  # the simulator's true effect of each action on each customer-month
APPLIED_FILE = "applied_treatments.parquet"  # the treatments a closed-loop world applied (`churn simulate step`)
TREATED_HAZARD_FILE = "treated_hazard.parquet"  # their hazards, untreated and treated, month by month
REJECTS_FILE = "rejects.csv"
REFUSED_REJECTS_FILE = "ingest_rejects.csv"  # beside data/raw/ when an ingest is refused and nothing is replaced
DEFAULT_MAX_REJECT_SHARE = 0.05


@dataclass
class RawData:
    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    oracle: pd.DataFrame | None = None
    offers: pd.DataFrame | None = None
    rejects: pd.DataFrame | None = field(default=None, repr=False)
    effects: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)  # by file name: UPLIFT_FILE, ...

    @property
    def first_snapshot_month(self) -> str:
        return str(self.manifest["first_snapshot_month"])

    @property
    def last_snapshot_month(self) -> str:
        """The first month not fully observed: it gets snapshots (to score) but no labels."""
        return str(self.manifest["last_snapshot_month"])

    @property
    def behaviour_tables(self) -> list[str]:
        return list(self.manifest.get("behaviour_tables", []))


@dataclass
class IngestResult:
    """What an ingest read and kept, before it is saved: the CLI refuses or replaces the raw data from this."""

    raw: RawData
    rows: int
    accepted: int
    rejected: int

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.raw.manifest["source"],
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "first_snapshot_month": self.raw.first_snapshot_month,
            "last_snapshot_month": self.raw.last_snapshot_month,
        }


def _to_arrow(df: pd.DataFrame) -> pa.Table:
    """Ids as dictionary-encoded strings: millions of repeated ids cost a few bytes each."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if "customer_id" in table.column_names and not pa.types.is_dictionary(table.schema.field("customer_id").type):
        idx = table.schema.get_field_index("customer_id")
        table = table.set_column(idx, "customer_id", table.column("customer_id").dictionary_encode())
    return table


def without_forgotten(raw: RawData, raw_dir: Path) -> RawData:
    """The raw data without customers erased by `churn forget` (their tombstones beside the raw folder)."""
    if not tombstones(raw_dir):
        return raw
    frames = [df for df in (*raw.tables.values(), raw.oracle, raw.offers, raw.rejects, *raw.effects.values())
              if df is not None]  # fmt: skip
    gone = forgotten_ids({i for df in frames if ENTITY in df for i in df[ENTITY].astype(str).unique()}, raw_dir)

    def keep(df: pd.DataFrame | None) -> pd.DataFrame | None:
        if df is None or ENTITY not in df or not gone:
            return df
        return df[~df[ENTITY].astype(str).isin(gone).to_numpy()].reset_index(drop=True)

    return replace(raw, tables={name: keep(df) for name, df in raw.tables.items()},
                   oracle=keep(raw.oracle), offers=keep(raw.offers), rejects=keep(raw.rejects),
                   effects={name: keep(df) for name, df in raw.effects.items()})  # fmt: skip


def save_raw(raw: RawData, raw_dir: Path) -> None:
    """Replace the raw folder whole, so a rerun never mixes two sources; forgotten customers never come back."""
    raw = without_forgotten(raw, raw_dir)

    def fill(tmp: Path) -> None:
        for name, df in raw.tables.items():
            pq.write_table(_to_arrow(df), tmp / f"{name}.parquet", compression="zstd")
        if raw.oracle is not None:
            pq.write_table(_to_arrow(raw.oracle), tmp / ORACLE_FILE, compression="zstd")
        if raw.offers is not None:
            pq.write_table(_to_arrow(raw.offers), tmp / OFFERS_FILE, compression="zstd")
        for name, df in raw.effects.items():
            pq.write_table(_to_arrow(df), tmp / name, compression="zstd")
        if raw.rejects is not None:
            write_csv(raw.rejects, tmp / REJECTS_FILE)
        write_json(raw.manifest, tmp / "manifest.json")

    replace_dir(raw_dir, fill)


def raw_lineage(raw_dir: Path) -> dict[str, str | None] | None:
    """The lineage of the raw data in ``raw_dir``, or None when there is none."""
    path = Path(raw_dir) / "manifest.json"
    if not path.exists():
        return None
    try:
        return of_manifest(json.loads(path.read_text()))
    except (json.JSONDecodeError, OSError):
        return None


def check_rejects(
    raw: RawData, raw_dir: Path, rows: int, accepted: int, max_reject_share: float = DEFAULT_MAX_REJECT_SHARE
) -> None:
    """Refuse an ingest that accepted nothing or rejected more than ``max_reject_share`` of its rows.

    The rejects are written beside the raw folder (``data/ingest_rejects.csv``)
    so they can be read, and the raw data already there is left exactly as it
    was: a bad export must never replace good data.
    """
    if not 0.0 <= max_reject_share <= 1.0:
        raise InputError(f"--max-reject-share: must be between 0 and 1, got {max_reject_share}")
    rejected = rows - accepted
    share = rejected / rows if rows else 1.0
    if accepted > 0 and share <= max_reject_share:
        return
    path = Path(raw_dir).parent / REFUSED_REJECTS_FILE
    if raw.rejects is not None:
        write_csv(raw.rejects, path)
    why = (
        f"no row of {rows:,} was accepted"
        if accepted == 0
        else f"{rejected:,} of {rows:,} rows rejected ({share:.1%}, above --max-reject-share {max_reject_share:g})"
    )
    raise InputError(f"ingest: {why}; nothing was replaced in {raw_dir}; the rejects are in {path}")


def replace_raw(raw: RawData, raw_dir: Path) -> dict[str, Any]:
    """Save a new raw dataset and say what it replaced: ``{"lineage", "replaced", "source_changed"}``.

    ``replaced`` is the earlier data's lineage when its fingerprint differs (None
    for a first ingest or a rerun of the same input); ``source_changed`` is true
    when the earlier data came from another source, which every store built from
    it must now be rebuilt for.
    """
    before = raw_lineage(raw_dir)
    save_raw(raw, raw_dir)
    after = of_manifest(raw.manifest)
    replaced = before if before and before.get("fingerprint") != after.get("fingerprint") else None
    changed = bool(replaced and replaced.get("source") != after.get("source"))
    note = (
        f"replaced {describe(replaced)} data: rebuild (`churn build`), re-apply and reload the online store "
        "(`churn features materialize`) and retrain before serving"
        if changed
        else None
    )
    return {"lineage": after, "replaced": replaced, "source_changed": changed, "note": note}


def load_raw(raw_dir: Path, with_extras: bool = False, customers: list[str] | None = None) -> RawData:
    """The raw folder; with ``customers``, only those customers' records (a bucket of a distributed build)."""
    raw_dir = Path(raw_dir)
    manifest_path = raw_dir / "manifest.json"
    if not manifest_path.exists():
        raise InputError(f"raw data: nothing at {raw_dir} — run `churn simulate` or `churn ingest telco PATH` first")
    manifest = json.loads(manifest_path.read_text())
    tables = {}
    metered = [f"{METERED_PREFIX}{name}" for name in manifest.get(METERED_KEY, {})]
    for name in [*RAW_TABLES, *metered]:
        path = raw_dir / f"{name}.parquet"
        if path.exists():
            if customers is None:
                tables[name] = pd.read_parquet(path)
            else:
                wanted = pc.field("customer_id").isin(pa.array(customers, type=pa.string()))
                tables[name] = ds.dataset(path, format="parquet").to_table(filter=wanted).to_pandas()
    events = load_events(raw_dir)
    if customers is not None and len(events):
        events = events[events["customer_id"].astype(str).isin(set(customers))]
    raw = RawData(tables=merge_events(tables, events), manifest=manifest)
    if with_extras:
        raw.oracle, raw.offers = load_extras(raw_dir)
    return raw


def known_customers(raw_dir: Path) -> set[str]:
    """The customer ids the raw data holds (none before an ingest): what consent, erasure and campaigns check
    the ids they are given against, reading one column."""
    path = Path(raw_dir) / "customers.parquet"
    return set(pq.read_table(path, columns=[ENTITY])[ENTITY].cast("string").to_pylist()) if path.exists() else set()


def load_manifest(raw_dir: Path) -> dict[str, Any]:
    """The raw folder's manifest, or {} when there is none yet."""
    path = Path(raw_dir) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load_effect(raw_dir: Path, name: str) -> pd.DataFrame | None:
    """One of the simulator's effect files (``UPLIFT_FILE``, ``APPLIED_FILE``, ``TREATED_HAZARD_FILE``), or None
    where the data has none."""
    path = Path(raw_dir) / name
    return pd.read_parquet(path) if path.exists() else None


def load_extras(raw_dir: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The simulator's oracle hazards and offer responses (None where the source has none), without the raw tables."""
    raw_dir = Path(raw_dir)
    oracle = pd.read_parquet(raw_dir / ORACLE_FILE) if (raw_dir / ORACLE_FILE).exists() else None
    offers = pd.read_parquet(raw_dir / OFFERS_FILE) if (raw_dir / OFFERS_FILE).exists() else None
    return oracle, offers
