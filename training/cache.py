"""Work that retraining repeats on the same data, kept under ``CHURN_HOME/cache`` by what it was computed from.

The replay, the drift response and the power study retrain again and again on
data that has not changed: the training set (Feast's point-in-time join) and,
on simulated data, the true customer values both cost as much as a model fit.
Each is stored as Parquet under a key that hashes everything it depends on —
for the training set, the feature service's definition, the platform clock and
the size and modification time of every snapshot and label file, so a rebuild,
an ingest or an erasure (which rewrites those files) is a miss, never a stale
hit. The files sit under CHURN_HOME, where ``churn forget`` sweeps every table
anyway. Only the newest few entries per kind are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from churn.io import write_parquet

KEEP = 3  # entries per kind: the current data and a couple of recent states (a replay walks forward)


def key_of(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def file_stamps(paths: list[Path]) -> list[tuple[str, int, int]]:
    """(name, size, mtime in ns) of each file: what changes when a file is rewritten."""
    out = []
    for path in sorted(paths):
        stat = path.stat()
        out.append((str(path), stat.st_size, stat.st_mtime_ns))
    return out


def cached(
    home: Path, kind: str, parts: dict[str, Any], build: Callable[[], pd.DataFrame]
) -> tuple[pd.DataFrame, bool]:
    """The frame for ``parts`` from the cache, else built and stored; returns (frame, whether it was a hit)."""
    folder = Path(home) / "cache" / kind
    path = folder / f"{key_of(parts)}.parquet"
    if path.exists():
        try:
            frame = pd.read_parquet(path)
            path.touch()  # recently used: kept by the pruning below
            return frame, True
        except Exception:  # a damaged entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    frame = build()
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet(frame, path)
    entries = sorted(folder.glob("*.parquet"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[KEEP:]:
        old.unlink(missing_ok=True)
    return frame, False
