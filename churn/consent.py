"""Objections to direct marketing (GDPR Art. 21): who must never be targeted, from every record the platform has.

Two sources, one answer: the ``consents`` raw table (a CRM's export, through a
mapping) and the platform's own record, ``data/privacy/consents.parquet``,
written by `churn consent record|import` (kept beside the raw folder, so a new
ingest or simulation never wipes an objection). Per customer, the latest record
(by ``recorded_at``, then ``known_at``) decides: objected, or withdrawn.

The right is absolute, so decisions read every record known by now — never
only what the platform's simulated clock would have known.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from churn.errors import InputError
from churn.io import write_csv, write_parquet
from churn.privacy import privacy_dir
from churn.raw import known_customers
from churn.schema import CUSTOMER_ID_PATTERN, ENTITY

COLUMNS = (ENTITY, "recorded_at", "known_at", "objected")
TRUE, FALSE = {"1", "true", "yes", "y", "objected"}, {"0", "false", "no", "n", "withdrawn"}
REJECTS_FILE = "consent_rejects.csv"


def own_records_path(raw_dir: Path) -> Path:
    return privacy_dir(raw_dir) / "consents.parquet"


def record_files(raw_dir: Path) -> list[Path]:
    """The files objections are read from (a reader caching what they decide watches these)."""
    return [p for p in (Path(raw_dir) / "consents.parquet", own_records_path(raw_dir)) if p.exists()]


def _records(raw_dir: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(p, columns=list(COLUMNS)) for p in record_files(raw_dir)]
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True)


def objected(raw_dir: Path, customer_ids: Iterable[str] | None = None) -> set[str]:
    """Customers whose latest record is an objection (optionally only among ``customer_ids``)."""
    records = _records(raw_dir)
    if records.empty:
        return set()
    records = records.assign(**{ENTITY: records[ENTITY].astype(str)})
    if customer_ids is not None:
        records = records[records[ENTITY].isin(set(map(str, customer_ids)))]
    latest = records.sort_values(["recorded_at", "known_at"], kind="stable").groupby(ENTITY).tail(1)
    return set(latest.loc[latest["objected"].astype(bool), ENTITY])


def _append(raw_dir: Path, rows: pd.DataFrame) -> None:
    path = own_records_path(raw_dir)
    rows = rows[list(COLUMNS)]
    if path.exists() and len(before := pd.read_parquet(path)):
        rows = pd.concat([before[list(COLUMNS)], rows], ignore_index=True)
    write_parquet(rows, path)


def record(raw_dir: Path, customer_ids: list[str], objected_: bool, at: datetime | None = None) -> dict[str, Any]:
    """Record objections (or their withdrawal) now; unknown customers are refused by name and nothing is written."""
    ids = list(dict.fromkeys(str(c) for c in customer_ids))
    unknown = sorted(set(ids) - known_customers(raw_dir))
    if not ids or unknown:
        raise InputError(f"consent: {f'unknown customer(s) {unknown[:10]}' if ids else 'give a customer id'}; "
                         "nothing was recorded")  # fmt: skip
    when = pd.Timestamp(at or datetime.now(UTC))
    _append(raw_dir, pd.DataFrame({ENTITY: ids, "recorded_at": when, "known_at": when, "objected": objected_}))
    return {"recorded": len(ids), "objected": objected_, "at": when.isoformat()}


def import_file(raw_dir: Path, path: Path) -> dict[str, Any]:
    """A CSV of ``customer_id, objected, recorded_at`` (ISO 8601 with zone): good rows recorded, bad rows
    (unknown customer, unreadable flag or time) to ``data/privacy/consent_rejects.csv`` with the reason."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"consent import: cannot read {path} ({err})") from None
    missing = [c for c in (ENTITY, "objected", "recorded_at") if c not in frame]
    if missing:
        raise InputError(f"consent import: {path} lacks column(s) {missing}")
    known = known_customers(raw_dir)
    flag = frame["objected"].str.strip().str.lower()
    when = pd.to_datetime(frame["recorded_at"], utc=True, errors="coerce", format="ISO8601")
    reasons = pd.Series("", index=frame.index)
    reasons[~frame[ENTITY].str.fullmatch(CUSTOMER_ID_PATTERN)] = "customer_id: not an id"
    reasons[(reasons == "") & ~frame[ENTITY].isin(known)] = "customer_id: unknown customer"
    reasons[(reasons == "") & ~flag.isin(TRUE | FALSE)] = "objected: not one of true/false, yes/no, 1/0"
    reasons[(reasons == "") & when.isna()] = "recorded_at: not an ISO 8601 time"
    good = reasons == ""
    now = pd.Timestamp(datetime.now(UTC))
    rows = pd.DataFrame({ENTITY: frame.loc[good, ENTITY], "recorded_at": when[good], "known_at": now,
                         "objected": flag[good].isin(TRUE)})  # fmt: skip
    if len(rows):
        _append(raw_dir, rows)
    rejects = privacy_dir(raw_dir) / REJECTS_FILE
    if (~good).any():
        write_csv(frame[~good].assign(line=frame.index[~good] + 2, reason=reasons[~good]), rejects)
    return {"recorded": int(good.sum()), "rejected": int((~good).sum()),
            "rejects": str(rejects) if (~good).any() else None}  # fmt: skip
