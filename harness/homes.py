"""A trained, materialized CHURN_HOME and a real `churn serve` process on a free loopback port.

Shared by the serving tests and the serving benchmark.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from churn.offline import write_offline
from churn.raw import save_raw
from churn.settings import Settings
from churn.simulate import SimulationConfig, simulate
from churn.temporal import build_snapshots
from harness.process import free_port, serving
from serving.auth import SCOPES
from store.feast_store import apply
from store.materialize import materialize
from training.config import DEFAULT_GRID, TrainConfig
from training.train import train

SERVE_SIM = SimulationConfig(customers=800, months=12, start="2023-01", seed=11, burn_in_months=36)
SERVE_TRAIN = TrainConfig(folds=2, bootstrap=5, grid=DEFAULT_GRID[:1], report=False)


def prepare_home(settings: Settings, sim: SimulationConfig = SERVE_SIM, train_config: TrainConfig = SERVE_TRAIN) -> str:
    """Simulate, build, apply, materialize into the profile's online store, train; returns the champion."""
    raw = simulate(sim)
    save_raw(raw, settings.raw_dir)
    write_offline(build_snapshots(raw), settings.snapshots_dir, settings.labels_path)
    apply(settings)
    materialize(settings)
    return train(settings, train_config).version


SHOCK_SIM = SimulationConfig(**{**SERVE_SIM.__dict__, "scenario": "price_shock", "drift_start": "2023-10"})


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment with exactly these settings as CHURN_* (none inherited), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURN_")}
    return {**env, **settings.to_env(), "PYTHONUNBUFFERED": "1", **extra}


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[int, dict[str, str], Any]:
        """(status, headers, parsed JSON or text) — never raises on an HTTP error status."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {**self.headers, **(headers or {})}
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, rheaders, payload = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            status, rheaders, payload = err.code, dict(err.headers), err.read()
        try:
            return status, rheaders, json.loads(payload)
        except ValueError:
            return status, rheaders, payload.decode(errors="replace")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _plain_key(entry: str) -> str:
    """The key of a ``[SCOPES:]KEY`` entry (what a client sends)."""
    head, sep, rest = entry.partition(":")
    return rest if sep and all(scope in SCOPES for scope in head.split("+")) else entry


@contextlib.contextmanager
def running_server(settings: Settings, log_path: Path, workers: int = 1, **env: str) -> Iterator[Server]:
    """`churn serve` as a user starts it (serving/process.py), with the settings' environment."""
    key = _plain_key(env.get("CHURN_API_KEYS", "").split(",")[0]) or None
    with serving(settings_env(settings, **env), log_path, workers=workers) as (url, process):
        yield Server(url=url, process=process, log_path=log_path, key=key, headers={"X-API-Key": key} if key else {})


class RedisProcess:
    """A redis-server of the test's own on a free port; stop() saves its data so start() brings it back."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        cmd += ["--save", "", "--appendonly", "no", "--dbfilename", "dump.rdb"]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise TimeoutError(f"redis-server on {self.port} did not start")

    def stop(self, save: bool = True) -> None:
        """Shut it down; with ``save``, its data comes back at the next start (else it starts empty)."""
        if self.process is None:
            return
        if not save:
            (self.folder / "dump.rdb").unlink(missing_ok=True)
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(port=self.port).shutdown(save=save, nosave=not save)
        self.process.wait(timeout=10)
        self.process = None

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections are accepted by the kernel and never answered — a hung server."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
