"""Serving benchmark: `churn serve` (redis profile, 2 workers) under wrk on loopback, against two floors and a baseline.

    .venv/bin/python benchmarks/bench_serving.py [--customers 20000] [--seconds 30]

Needs Redis at 127.0.0.1:6379 (database 13; the run's keys are removed) and
`wrk` (Debian package). Builds a home (simulate, build, materialize, train with
the default grid), then measures, in one run:

1. the full endpoint, closed loop ``wrk -t2 -c16 -d30s``: req/s, p50/p95/p99, non-2xx;
2. one client at a time (``-c1``): p50/p95/p99; the same for explained requests;
3. the highest closed-loop rate whose p95 stays under 100 ms (concurrency sweep);
4. worker memory after ~10,000 and ~100,000 requests;
5. floors: a BentoML endpoint returning a constant (same server settings), and the
   online read + prediction + decision in-process (the compute's cost);
6. baseline: the straightforward endpoint — Feast ``get_online_features`` through
   the FeatureService, a DataFrame, ``predict_proba``, BentoML's default response path.

Requests pick customers at random (seeded) from 2,000 materialized ids, with an
API key and a rate limit raised for the benchmark client (`CHURN_RATE_LIMIT`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from bench_foundation import entry, machine, run_stage_process, write_section  # noqa: E402

REDIS_DB = 13
KEY = "bench-key-0123456789abcdef"

WRK_SCRIPT = """
local ids = {%(ids)s}
math.randomseed(42)
local explain = %(explain)s
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "%(key)s"
request = function()
  local id = ids[math.random(#ids)]
  local body = '{"customer_id":"' .. id .. '"' .. (explain and ',"explain":true' or '') .. '}'
  return wrk.format(nil, nil, nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "non2xx": %%d, "errors": %%d, ' ..
    '"p50": %%f, "p95": %%f, "p99": %%f, "max": %%f}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


def stage(*argv: str) -> dict:
    """The compute floor in a process of its own: the engine called directly, `python <this file> --stage IDS_JSON`."""
    (ids_json,) = argv
    import time

    import numpy as np

    from churn.settings import get_settings
    from serving.engine import Engine, Query

    ids = json.loads(ids_json)
    engine = Engine(get_settings())
    rng = np.random.default_rng(0)
    out = {}
    for explain in (False, True):
        for i in ids[:200]:
            engine.predict([Query(i, explain=explain)])
        samples = []
        for i in rng.choice(ids, 3000):
            t = time.perf_counter()
            engine.predict([Query(str(i), explain=explain)])
            samples.append((time.perf_counter() - t) * 1e3)
        s = np.array(samples)
        out["explain" if explain else "plain"] = {"p50": float(np.percentile(s, 50)), "mean": float(s.mean())}
    return out


def wrk(url: str, ids: list[str], threads: int, conns: int, seconds: float, explain: bool = False) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(
            WRK_SCRIPT % {"ids": ",".join(json.dumps(i) for i in ids), "explain": str(explain).lower(), "key": KEY}
        )
        script = fh.name
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        script,
        url + "/predict_churn",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(script)
    result = json.loads(re.search(r"RESULT (\{.*\})", out).group(1))  # type: ignore[union-attr]
    result["rps"] = result["requests"] / result["seconds"]
    return result


def start(cmd: list[str], env: dict[str, str], log: Path, url: str) -> subprocess.Popen[bytes]:
    from harness.process import wait_ready

    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    wait_ready(url, timeout=120, process=proc)
    return proc


@contextlib.contextmanager
def reference_service(home: Path, name: str, cls: str, env: dict[str, str]) -> Iterator[str]:
    """A comparison service of benchmarks/services/, served by `bentoml serve` on a free port."""
    from harness.process import free_port, stop

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "bentoml", "serve", f"benchmarks.services.{name}_service:{cls}", "--port", str(port)]
    server = start(cmd, {**env, "PYTHONPATH": str(ROOT)}, home / f"{name}.log", url)
    try:
        yield url
    finally:
        stop(server)


def worker_rss_mb(proc: subprocess.Popen[bytes]) -> float:
    """Resident memory of the server's worker processes (descendants running BentoML's worker module)."""
    import psutil

    total = 0.0
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if any("worker.service" in part for part in child.cmdline()):
                total += child.memory_info().rss / 2**20
        except psutil.Error:
            continue
    if total == 0:
        raise RuntimeError("found no worker processes to measure")
    return total


def fmt(r: dict) -> str:
    return (
        f"{r['rps']:,.0f} req/s, p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms, "
        f"non-2xx {r['non2xx']}, socket errors {r['errors']}"
    )


@contextlib.contextmanager
def redis_home(prefix: str, customers: int, months: int, train: Any) -> Iterator[tuple[Any, Path, list[str]]]:
    """A trained home on the redis profile (database REDIS_DB), and 2,000 customers of its latest month; the
    run's Redis keys are removed on the way out. Shared by the serving and events benchmarks."""
    import redis

    from churn.offline import read_snapshots, snapshot_months
    from churn.simulate import SimulationConfig
    from harness.homes import prepare_home
    from harness.settings import make_settings, unique_project

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        home = Path(tmp)
        settings = make_settings(home, unique_project("bench"), profile="redis", redis=f"127.0.0.1:6379,db={REDIS_DB}")
        try:
            began = time.perf_counter()
            prepare_home(settings, SimulationConfig(customers=customers, months=months, seed=42), train)
            print(f"home ready in {time.perf_counter() - began:.0f} s", file=sys.stderr)
            latest = snapshot_months(settings.snapshots_dir)[-1]
            sample = read_snapshots(settings.snapshots_dir, [latest]).customer_id.sample(2000, random_state=0)
            yield settings, home, [str(i) for i in sample]
        finally:
            client = redis.Redis(db=REDIS_DB)
            for key in client.scan_iter(match=f"*{settings.feast_project}*", count=1000):
                client.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from harness.homes import settings_env
    from harness.process import free_port, stop
    from training.config import TrainConfig

    train = TrainConfig(bootstrap=0, report=False)
    with redis_home("bench-serving-", args.customers, args.months, train) as (settings, home, ids):
        env = settings_env(
            settings, CHURN_API_KEYS=KEY, CHURN_RATE_LIMIT="1000000", CHURN_SERVE_WORKERS="2", OMP_NUM_THREADS="1"
        )
        results: dict[str, object] = {}
        # 5b. compute floor, in-process
        results["in_process"] = run_stage_process(__file__, json.dumps(ids), env=env)

        # 1-4. the full endpoint
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", "2"],
            env,
            home / "serve.log",
            url,
        )
        try:
            wrk(url, ids, 2, 16, 5)  # warm-up
            results["closed"] = wrk(url, ids, 2, 16, args.seconds)
            results["single"] = wrk(url, ids, 1, 1, 15)
            results["single_explain"] = wrk(url, ids, 1, 1, 15, explain=True)
            results["closed_explain"] = wrk(url, ids, 2, 16, 15, explain=True)
            sweep = {}
            for conns in (16, 32, 64, 128, 256):
                sweep[conns] = wrk(url, ids, 2, conns, 10)
            results["sweep"] = sweep
            # memory: a fresh count from here on
            done = 0
            first = wrk(url, ids, 2, 16, 5)
            done += first["requests"]
            rss_10k = worker_rss_mb(server)
            at_10k = done
            while done < 100_000:
                done += wrk(url, ids, 2, 16, 10)["requests"]
            results["memory"] = {
                "after": at_10k,
                "rss_mb": rss_10k,
                "after2": done,
                "rss2_mb": worker_rss_mb(server),
            }
            log_lines = sum(1 for _ in (home / "logs" / "predictions").rglob("*.jsonl"))
            results["prediction_log_files"] = log_lines
        finally:
            stop(server)

        # 5a. framework floor: a constant BentoML endpoint, same server settings
        with reference_service(home, "const", "Const", env) as url:
            wrk(url, ids, 2, 16, 5)
            results["const"] = wrk(url, ids, 2, 16, args.seconds)

        # 6. baseline: the straightforward endpoint
        with reference_service(home, "naive", "Naive", env) as url:
            wrk(url, ids, 2, 16, 5)
            results["naive"] = wrk(url, ids, 2, 16, args.seconds)
            results["naive_single"] = wrk(url, ids, 1, 1, 15)

    print(json.dumps(results, indent=1, default=str))
    body = render(results, args)
    print(body)
    if not args.no_write:
        write_section(body, "serving")


def render(r: dict, args: argparse.Namespace) -> str:
    closed, const, naive = r["closed"], r["const"], r["naive"]
    sweep = r["sweep"]
    ok = [(c, s) for c, s in sweep.items() if s["p95"] < 100 and s["non2xx"] == 0]
    best_c, best = max(ok, key=lambda cs: cs[1]["rps"]) if ok else (None, None)
    mem = r["memory"]
    growth = (mem["rss2_mb"] - mem["rss_mb"]) / mem["rss_mb"] * 100
    inproc = r["in_process"]
    ceiling = 2 * 1000 / inproc["plain"]["mean"]
    lines = [
        "## Serving: `POST /predict_churn` on loopback (redis profile, 2 workers, wrk on the same 2 cores)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {machine()}. Command: `.venv/bin/python benchmarks/bench_serving.py` "
        f"({args.customers:,} customers × {args.months} months materialized; the champion trained with the default "
        "grid; 2,000 customers drawn at random per request; API key on, rate limit raised for the client).",
        "",
        "| measurement | result |",
        "|---|---|",
        f"| full endpoint, `wrk -t2 -c16 -d{args.seconds}s` | {fmt(closed)} |",
        f"| one client at a time (`-c1`) | {fmt(r['single'])} |",
        f"| explained (exact TreeSHAP), one client | {fmt(r['single_explain'])} |",
        f"| explained, `-c16` | {fmt(r['closed_explain'])} |",
        "| highest closed-loop rate with p95 < 100 ms | "
        + (f"{best['rps']:,.0f} req/s at {best_c} connections (p95 {best['p95']:.1f} ms)" if best else "none")
        + " |",
        f"| worker memory (2 workers) after {mem['after']:,} / {mem['after2']:,} requests | "
        f"{mem['rss_mb']:.0f} MB / {mem['rss2_mb']:.0f} MB ({growth:+.1f}%) |",
        f"| floor: BentoML endpoint returning a constant, `-c16` | {fmt(const)} |",
        f"| floor: online read + predict + decision in-process | {inproc['plain']['mean'] * 1000:.0f} µs per request "
        f"(p50 {inproc['plain']['p50'] * 1000:.0f} µs; explained {inproc['explain']['mean'] * 1000:.0f} µs) → "
        f"≤ {ceiling:,.0f} req/s on 2 cores with no HTTP at all |",
        f"| baseline: straightforward endpoint (resolve the FeatureService, Feast read, DataFrame, BentoML's default "
        f"response), `-c16` "
        f"| {fmt(naive)} |",
        f"| baseline, one client | {fmt(r['naive_single'])} |",
        "",
        "Sweep (closed loop, 10 s each): "
        + "; ".join(
            f"c{c}: {s['rps']:,.0f} req/s, p95 {s['p95']:.0f} ms, non-2xx {s['non2xx']}" for c, s in sweep.items()
        )
        + ".",
        "",
        f"Targets: ≥ 1,000 req/s with p99 ≤ 50 ms and zero non-2xx at `-c16` — "
        f"{'met' if closed['rps'] >= 1000 and closed['p99'] <= 50 and closed['non2xx'] == 0 else 'NOT met'} "
        f"({closed['rps']:,.0f} req/s, p99 {closed['p99']:.1f} ms); one client p50 ≤ 3 ms, p95 ≤ 5 ms — "
        f"{'met' if r['single']['p50'] <= 3 and r['single']['p95'] <= 5 else 'NOT met'}; memory growth ≤ 10% — "
        f"{'met' if growth <= 10 else 'NOT met'}. The full endpoint reaches "
        f"{closed['rps'] / const['rps'] * 100:.0f}% of the constant endpoint's rate and "
        f"{closed['rps'] / naive['rps']:.1f}× the straightforward one's.",
        "",
        "The constant endpoint is BentoML's API path as it comes (tracing spans, the response schema applied per call, "
        "the access log, collector pauses): the framework's cost out of the box. The full endpoint can pass it because "
        "it leaves exactly those out (docs/decisions/0003-serving.md); what remains is uvicorn, the ASGI stack and "
        "our work, whose in-process cost is the second floor.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    entry(stage, main)
