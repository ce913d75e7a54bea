"""The audit log: every admin action (promotion, rollback, campaign launch) as one JSON line, append-only.

Layout: ``CHURN_HOME/logs/audit.jsonl``, owner-only. Each entry names who acted
by the key's id (the first 12 hex digits of its SHA-256 — never the key), what
was done, when, and the state before and after. Entries are chained: each
carries the SHA-256 of the line before it, so a line edited or removed later
breaks the chain and :func:`verify` says where. Appends take an exclusive lock,
so two admins acting at once never interleave their lines.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def audit_path(home: Path) -> Path:
    return Path(home) / "logs" / "audit.jsonl"


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def _last_line(handle: Any) -> str | None:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if not size:
        return None
    back = min(size, 1 << 16)
    handle.seek(size - back)
    lines = handle.read(back).decode("utf-8", "replace").splitlines()
    return lines[-1] if lines else None


def append(home: Path, who: str, action: str, before: Any, after: Any, detail: str = "") -> dict[str, Any]:
    """Record one action; returns the entry as written."""
    path = audit_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            last = _last_line(handle)
            entry = {
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "who": who,
                "action": action,
                "before": before,
                "after": after,
                "detail": detail,
                "previous_sha256": _digest(last) if last else GENESIS,
            }
            handle.write((json.dumps(entry, default=str, sort_keys=True) + "\n").encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return entry


def read(home: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The entries, newest first (at most ``limit``)."""
    path = audit_path(home)
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    entries.reverse()
    return entries[:limit] if limit is not None else entries


def verify(home: Path) -> str | None:
    """None when the chain is whole, else where it breaks (an edited, removed or inserted line)."""
    path = audit_path(home)
    if not path.exists():
        return None
    previous = GENESIS
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            return f"line {number} is not JSON"
        if entry.get("previous_sha256") != previous:
            return f"line {number} does not follow line {number - 1} (edited, removed or inserted)"
        previous = _digest(line)
    return None
