"""Erasure (GDPR Art. 17): remove every trace of some customers from the files under CHURN_HOME, and keep them out.

Why one sweep over files rather than a list of known outputs: a platform grows
new outputs; a list goes stale and leaves copies behind. Every file under the
home is read by its format — Parquet and CSV by rows, JSON lines by records —
and rewritten without the rows that carry a forgotten id, atomically (write,
then rename), so a crash leaves each file in its old or its new state and a
rerun finishes the job. The rest of each file is rewritten unchanged. Files
that cannot hold an id (model artifacts, Feast's registry, the tombstones
themselves) are left alone and listed.

The tombstones keep forgotten customers from coming back: they hold a salted
SHA-256 of each id, never the id; raw data is filtered through them on every
save, so a later ingest or simulation cannot bring a customer back, and every
training set built from it leaves them out.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from churn.io import atomic_path, write_json
from churn.schema import ENTITY

ID_COLUMNS = (ENTITY, "customerID")  # the raw schema's id, and the Telco file's own name in an ingest's rejects
SKIP_DIRS = ("bentoml", "feast", "privacy", "prefect")  # artifacts and registries: no customer rows in them
SKIP_SUFFIXES = (".db", ".lock", ".tmp", ".png", ".bento")
DERIVED_DIRS = ("reports", "outputs")  # pages a command writes again: deleted when they name a forgotten customer


def privacy_dir(raw_dir: Path) -> Path:
    return Path(raw_dir).parent / "privacy"


def _salt(folder: Path) -> bytes:
    path = folder / "salt"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def id_hash(customer_id: str, salt: bytes) -> str:
    return hashlib.sha256(salt + str(customer_id).encode()).hexdigest()


def tombstones(raw_dir: Path) -> set[str]:
    """The salted hashes of every forgotten customer (empty before the first erasure)."""
    path = privacy_dir(raw_dir) / "tombstones.json"
    return set(json.loads(path.read_text())["hashes"]) if path.exists() else set()


def add_tombstones(raw_dir: Path, ids: Iterable[str]) -> int:
    """Record ids as forgotten (their salted hashes); returns how many were new."""
    folder = privacy_dir(raw_dir)
    salt = _salt(folder)
    known = tombstones(raw_dir)
    new = {id_hash(i, salt) for i in ids} - known
    if new:
        write_json({"hashes": sorted(known | new), "note": "salted SHA-256 of forgotten customer ids"},
                   folder / "tombstones.json")  # fmt: skip
    return len(new)


def forgotten_ids(ids: Iterable[Any], raw_dir: Path) -> set[str]:
    """The tombstoned ones among ``ids`` (each distinct id hashed once; the tombstones and the salt read once)."""
    hashes = tombstones(raw_dir)
    if not hashes:
        return set()
    salt = _salt(privacy_dir(raw_dir))
    return {i for i in {str(x) for x in ids} if id_hash(i, salt) in hashes}


# --- the sweep -----------------------------------------------------------------------------------------------------


def _id_column(names: Iterable[str]) -> str | None:
    return next((c for c in ID_COLUMNS if c in names), None)


def _parquet(path: Path, ids: set[str]) -> int:
    table = pq.read_table(path)
    column = _id_column(table.column_names)
    if column is None:
        return 0
    hit = pc.is_in(pc.cast(table[column], pa.string()), value_set=pa.array(sorted(ids), type=pa.string()))
    removed = int(pc.sum(hit).as_py() or 0)
    if removed:
        kept = table.filter(pc.invert(pc.fill_null(hit, False)))
        with atomic_path(path) as tmp:
            pq.write_table(kept, tmp, compression="zstd")
    return removed


def _csv(path: Path, ids: set[str]) -> int:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    column = _id_column(frame.columns)
    if column is None:
        return 0
    hit = frame[column].isin(ids)
    if hit.any():
        with atomic_path(path) as tmp:
            frame[~hit].to_csv(tmp, index=False)
    return int(hit.sum())


def _jsonl(path: Path, ids: set[str]) -> int:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not _record_of(line, ids)]
    if len(kept) != len(lines):
        with atomic_path(path) as tmp:
            tmp.write_text("".join(kept), encoding="utf-8")
    return len(lines) - len(kept)


def _record_of(line: str, ids: set[str]) -> bool:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return any(i in line for i in ids)  # a torn line: drop it if it names a forgotten customer
    return isinstance(record, dict) and str(record.get(ENTITY)) in ids


READERS = {".parquet": _parquet, ".csv": _csv, ".jsonl": _jsonl}


def sweep(home: Path, ids: Iterable[str]) -> dict[str, Any]:
    """Rewrite every file under ``home`` that holds rows of ``ids`` without them; returns rows removed per file
    (relative paths), the derived pages deleted because they named one, and files in another format that still do."""
    wanted = {str(i) for i in ids}
    removed: dict[str, int] = {}
    deleted: list[str] = []
    unhandled: list[str] = []
    for path in sorted(Path(home).rglob("*")):
        rel = path.relative_to(home)
        if not path.is_file() or rel.parts[0] in SKIP_DIRS or path.suffix in SKIP_SUFFIXES:
            continue
        reader = READERS.get(path.suffix)
        if reader is not None:
            count = reader(path, wanted)
            if count:
                removed[str(rel)] = count
        elif path.stat().st_size < 50_000_000 and _mentions(path, wanted):
            if rel.parts[0] in DERIVED_DIRS:  # a report or an output page: rebuilt by its command, never edited
                path.unlink()
                deleted.append(str(rel))
            else:
                unhandled.append(str(rel))
    return {"rows_removed": removed, "deleted": deleted, "unhandled": unhandled}


def _mentions(path: Path, ids: set[str]) -> bool:
    data = path.read_bytes()
    return any(i.encode() in data for i in ids)


# --- retention -----------------------------------------------------------------------------------------------------


def expired(home: Path, days: int, now: float) -> list[Path]:
    """Personal data kept longer than ``days``: prediction-log days (by their UTC date) and batch-score files (by
    when they were written — a replayed month's scores are as personal as today's)."""
    from datetime import UTC, date, datetime

    cutoff = now - days * 86_400
    out: list[Path] = []
    logs = Path(home) / "logs" / "predictions"
    for folder in sorted(logs.iterdir()) if logs.exists() else []:
        try:
            day = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + 86_400 <= cutoff:
            out.append(folder)
    outputs = Path(home) / "outputs"
    out += [p for p in sorted(outputs.glob("batch_scores_*.parquet")) if p.stat().st_mtime <= cutoff]
    return out


def purge_expired(home: Path, days: int, now: float, dry_run: bool = False) -> dict[str, Any]:
    """Delete what :func:`expired` finds (nothing with ``dry_run``); returns what was (or would be) deleted."""
    import shutil

    if days < 1:
        raise ValueError("retention: CHURN_RETENTION_DAYS must be at least 1")
    found = expired(home, days, now)
    if not dry_run:
        for path in found:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    listed = [str(p.relative_to(home)) for p in found]
    return {"retention_days": days, ("would_delete" if dry_run else "deleted"): listed}
