"""Appends served predictions to the prediction log without ever making a request wait for the disk.

Requests put records on a bounded in-memory deque (O(1), no lock held across
I/O); a daemon thread writes them out every half second as JSON lines, one
file per UTC day and worker (schema and layout: :mod:`churn.prediction_log`).
If the disk is slow or full, records beyond the bound are dropped and
counted — the response is never delayed or failed for the log's sake.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from churn.prediction_log import day_dir


def worker_id() -> str:
    """Names this serving process in logs and on /health, so an operator can tell replicas and workers apart."""
    return f"{socket.gethostname()}-{os.getpid()}"


class PredictionLogWriter:
    def __init__(self, home: Path, worker: str | None = None, capacity: int = 200_000, interval: float = 0.5) -> None:
        self.home = home
        self.worker = worker or worker_id()
        self.capacity = capacity
        self.interval = interval
        self.queue: deque[dict[str, Any]] = deque()
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def append(self, record: dict[str, Any]) -> None:
        if len(self.queue) >= self.capacity:
            self.dropped += 1
            return
        self.queue.append(record)

    def flush(self) -> None:
        batch: list[dict[str, Any]] = []
        while self.queue:
            try:
                batch.append(self.queue.popleft())
            except IndexError:
                break
        if not batch:
            return
        by_day: dict[str, list[str]] = {}
        for record in batch:
            by_day.setdefault(str(record["logged_at"])[:10], []).append(json.dumps(record, default=str))
        for day, lines in by_day.items():
            try:
                folder = day_dir(self.home, datetime.fromisoformat(day).date())
                folder.mkdir(parents=True, exist_ok=True)
                with open(folder / f"{self.worker}.jsonl", "a", encoding="utf-8") as fh:
                    fh.write("\n".join(lines) + "\n")
                self.written += len(lines)
            except OSError:
                self.failures += 1
                self.dropped += len(lines)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
        self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
