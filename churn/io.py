"""Atomic file and folder writes: a crash leaves the previous state (or nothing), never half of one.

A file is written to a temporary name beside it and renamed over it. A folder
(the raw data, the offline store's snapshots) is a symlink to one generation:
the new generation is built beside it, the link is replaced in one rename, and
the old generation removed — so the folder always exists, old or new, whatever
moment a process is killed at. What a killed run leaves behind (a temporary
file, a half-built generation) is cleaned up by the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# CSV cells a spreadsheet would run as a formula: neutralised with a leading quote in every CSV we write
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_temporaries(folder: Path, name: str) -> None:
    """Remove temporary files a killed writer of ``name`` left (their process is gone)."""
    for leftover in folder.glob(f".{name}.*.tmp"):
        match = _TMP.match(leftover.name)
        if match and match["name"] == name and not _alive(int(match["pid"])):
            leftover.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_temporaries(path.parent, path.name)
    tmp_path = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    tmp_path.touch(mode=0o600)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_parquet(data: pd.DataFrame | pa.Table, path: Path, row_group_size: int | None = None) -> None:
    """Whole or not at all. ``row_group_size``: smaller groups let a reader filtering on a sorted column skip most
    of the file by the groups' min/max statistics (one customer's scores out of a million)."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_size)


def write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(obj: Any, path: Path) -> None:
    write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", path)


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that start like a formula (``= + - @``, tab, CR) get a leading quote: opened in a spreadsheet,
    a hand-supplied value must never run as one."""
    out = df
    for column in df.columns:
        if df[column].dtype == object:
            values = df[column]
            # judged once per distinct value: plan columns repeat a few values over a million rows, and a check
            # per cell cost ~0.8 s per column there
            codes, uniques = pd.factorize(values)
            flagged = np.array([isinstance(u, str) and u.startswith(FORMULA_START) for u in uniques] + [False])
            risky = pd.Series(flagged[codes], index=values.index)  # code -1 (missing) takes the trailing False
            if risky.any():
                out = out.copy() if out is df else out
                out[column] = values.where(~risky, "'" + values.astype(str))
    return out


def write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        neutralise_formulas(df).to_csv(tmp, index=False)


def csv_text(df: pd.DataFrame) -> str:
    """The bytes :func:`write_csv` would write, for a download."""
    return str(neutralise_formulas(df).to_csv(index=False))


def _generations(target: Path) -> list[Path]:
    return [p for p in target.parent.glob(f".{target.name}.gen-*") if p.is_dir() and not p.is_symlink()]


def replace_dir(target: Path, fill: Callable[[Path], None]) -> None:
    """Build a new generation of the folder ``target`` with ``fill``, then switch ``target`` to it atomically.

    ``target`` is a symlink to its current generation (``.<name>.gen-<id>``
    beside it); the switch is one rename of a new symlink over it, so readers
    see the old folder or the new one, never neither. A folder written by an
    older version (a real directory) is moved aside once, then linked: the one
    moment without the folder, at the first write after an upgrade.
    """
    target = Path(target)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    current = parent / os.readlink(target) if target.is_symlink() else None
    for leftover in _generations(target):  # what a killed run left: half-built generations
        if leftover != current:
            shutil.rmtree(leftover, ignore_errors=True)
    for leftover in parent.glob(f".{target.name}.link-*"):  # and links it never renamed into place
        leftover.unlink(missing_ok=True)
    generation = parent / f".{target.name}.gen-{uuid.uuid4().hex[:12]}"
    generation.mkdir()
    try:
        fill(generation)
    except BaseException:
        shutil.rmtree(generation, ignore_errors=True)
        raise
    if target.exists() and not target.is_symlink():  # a real folder from before generations: keep it linkable
        legacy = parent / f".{target.name}.gen-legacy-{uuid.uuid4().hex[:8]}"
        os.replace(target, legacy)
        current = legacy
    link = parent / f".{target.name}.link-{uuid.uuid4().hex[:8]}"
    os.symlink(generation.name, link)
    os.replace(link, target)
    if current is not None and current != generation:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(current)
