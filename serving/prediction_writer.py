"""Appends served predictions to the prediction log without ever making a request wait for the disk.

Requests put records on a bounded in-memory deque (O(1), no lock held across
I/O); a daemon thread writes them out every half second as JSON lines, one
file per UTC day and worker (schema and layout: :mod:`churn.prediction_log`).
If the disk is slow or full, records beyond the bound are dropped and
counted — the response is never delayed or failed for the log's sake — and
``/health`` says the log is failing. A write that fails part-way is cut back to
the last complete line, so the next record never lands on a torn one. The
records hold customers' features: files are 0600 in 0700 folders.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
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
        self.last_error: str | None = None
        self.on_failure: Callable[[], None] | None = None  # the service counts failures in /metrics
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
                self._append(day_dir(self.home, datetime.fromisoformat(day).date()), lines)
                self.written += len(lines)
                self.last_error = None
            except OSError as err:
                self.failures += 1
                self.dropped += len(lines)
                self.last_error = f"{err.__class__.__name__}: {err.strerror or err}"
                if self.on_failure is not None:
                    self.on_failure()

    def _append(self, folder: Path, lines: list[str]) -> None:
        """Append whole lines; on a failure part-way, cut the file back to where it was."""
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            for parent in (folder, folder.parent):
                parent.chmod(0o700)
        path = folder / f"{self.worker}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            data = ("\n".join(lines) + "\n").encode("utf-8")
            try:
                if os.write(fd, data) != len(data):  # a short write: the disk filled up part-way
                    raise OSError(errno.ENOSPC, "short write")
            except OSError:
                os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)

    def problems(self) -> list[str]:
        return (
            [f"prediction log: writes failing ({self.last_error}); {self.dropped:,} records dropped"]
            if (self.last_error)
            else []
        )

    def stats(self) -> dict[str, Any]:
        return {"written": self.written, "queued": len(self.queue), "dropped": self.dropped,
                "failures": self.failures, "last_error": self.last_error}  # fmt: skip

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
        self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
