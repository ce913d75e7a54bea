"""Start `churn serve` as a child process, wait until it is ready, stop it with its workers.

Used by `make demo` (``python -m harness.process``: serve, ask, stop), the
serving tests and the serving benchmark, so all three start the service the
way a user does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    url: str, timeout: float = 90.0, process: subprocess.Popen[bytes] | None = None, path: str = "/readyz"
) -> None:
    """Poll ``path`` until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(url + path, timeout=2) as resp,
        ):
            if resp.status == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group (BentoML's supervisor and workers), SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def serving(
    env: dict[str, str], log_path: Path, workers: int = 1, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`churn serve` in its own process group on loopback; yields (base URL, process)."""
    port = port or free_port()
    with _running(["serve", "--port", str(port), "--workers", str(workers)], env, log_path, port, "/readyz") as out:
        yield out


@contextlib.contextmanager
def console(
    env: dict[str, str], log_path: Path, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`churn console` in its own process group on loopback; yields (base URL, process)."""
    port = port or free_port()
    with _running(["console", "--port", str(port)], env, log_path, port, "/livez") as out:
        yield out


@contextlib.contextmanager
def _running(
    args: list[str], env: dict[str, str], log_path: Path, port: int, ready: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    cmd = [sys.executable, "-m", "cli.main", *args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process=process, path=ready)
        yield url, process
    finally:
        stop(process)
