"""Hardening benchmark: the service under a hung Redis, a huge chunked body, batch amplification and a /health flood.

    .venv/bin/python benchmarks/bench_outage.py [--before 8d92d53] [--outage 20] [--no-write]

Runs the same four measurements against two versions of the code, in one run:
``before`` (a git revision checked out into a temporary worktree, default the
last commit before the hardening issue) and ``after`` (this checkout). Each
version builds its own small home (800 customers × 12 months), serves it with
2 workers from its own tree on a free loopback port, against a redis-server of
the benchmark's own on a free port (so the outage touches nothing else):

1. outage: Redis is frozen with SIGSTOP for ``--outage`` seconds (a hung server:
   connections accepted, nothing answered) while two clients send predictions
   and one polls ``/livez`` every 50 ms; p99 of the 503s and of ``/livez`` during
   the outage, and the time from SIGCONT to the first 200;
2. a chunked 128 MiB body: status, seconds to the answer and the workers'
   peak resident-memory growth;
3. batch amplification: predictions one key obtains in 10 s with batches of
   1,000 copies of one id, at a rate limit of 50 per second;
4. prediction p99 (one client, 20 req/s, 15 s) alone and under a 150 req/s
   flood of ``/health``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from bench_foundation import machine, write_section  # noqa: E402

RATE = 50
PREPARE = """
import json, sys
from pathlib import Path
from harness.homes import prepare_home
from harness.settings import make_settings
settings = make_settings(Path(sys.argv[1]), sys.argv[2], profile="redis", redis=sys.argv[3])
prepare_home(settings)
from churn.offline import read_snapshots, snapshot_months
latest = snapshot_months(settings.snapshots_dir)[-1]
ids = [str(i) for i in read_snapshots(settings.snapshots_dir, [latest]).customer_id.iloc[:50]]
print("RESULT " + json.dumps({"env": settings.to_env(), "ids": ids}))
"""


def strong_key(label: str) -> str:
    return f"bench-{label}-{secrets.token_hex(16)}"


class Client:
    """Plain HTTP/1.1 on loopback, one connection per request (as a probe or a naive client would)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(
        self, method: str, path: str, body: Any = None, key: str | None = None, timeout: float = 30
    ) -> tuple[int, float, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if key:
            headers["X-API-Key"] = key
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            status, payload = 0, b""
        finally:
            conn.close()
        elapsed = (time.perf_counter() - started) * 1e3
        try:
            return status, elapsed, json.loads(payload)
        except ValueError:
            return status, elapsed, None


def p99(values: list[float]) -> float | None:
    import numpy as np

    return float(np.percentile(values, 99)) if values else None


def paced(seconds: float, per_second: float, fn: Any) -> list[Any]:
    """Call ``fn`` at a steady rate for ``seconds`` (skipping beats it overran); the results in order."""
    out, start, beat = [], time.monotonic(), 1.0 / per_second
    n = 0
    while (now := time.monotonic()) - start < seconds:
        due = start + n * beat
        if now < due:
            time.sleep(due - now)
        out.append(fn())
        n = max(n + 1, int((time.monotonic() - start) / beat))
    return out


def in_threads(*jobs: Any) -> list[Any]:
    results: list[Any] = [None] * len(jobs)

    def run(i: int, job: Any) -> None:
        results[i] = job()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def worker_rss_mb(pid: int) -> float:
    import psutil

    total = 0.0
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any("worker" in part for part in child.cmdline()):
                total += child.memory_info().rss / 2**20
    return total


def outage(client: Client, redis_proc: Any, cid: str, keys: list[str], seconds: float) -> dict[str, Any]:
    events: list[tuple[str, float, int, float]] = []  # (kind, t sent, status, ms)
    stop_at = [0.0]
    lock = threading.Lock()

    def loop(kind: str, path: str, key: str | None, per_second: float) -> None:
        body = {"customer_id": cid} if key else None

        def one() -> None:
            sent = time.monotonic()
            status, ms, _ = client.call("POST" if key else "GET", path, body, key, timeout=30)
            with lock:
                events.append((kind, sent, status, ms))

        while time.monotonic() < stop_at[0]:
            paced(min(1.0, max(0.0, stop_at[0] - time.monotonic())), per_second, one)

    t0 = time.monotonic()
    stop_at[0] = t0 + 3 + seconds + 15
    threads = [
        threading.Thread(target=loop, args=("predict", "/predict_churn", keys[0], 10)),
        threading.Thread(target=loop, args=("predict", "/predict_churn", keys[1], 10)),
        threading.Thread(target=loop, args=("livez", "/livez", None, 20)),
    ]
    for t in threads:
        t.start()
    time.sleep(3)
    redis_proc.pause()
    frozen = time.monotonic()
    time.sleep(seconds)
    redis_proc.resume()
    thawed = time.monotonic()
    for t in threads:
        t.join()
    during = [e for e in events if frozen + 0.5 <= e[1] < thawed]
    first_ok = min(
        (e[1] + e[3] / 1e3 for e in events if e[0] == "predict" and e[1] >= thawed and e[2] == 200), default=None
    )
    refused = [e[3] for e in during if e[0] == "predict" and e[2] != 200]
    return {
        "predict_during": len([e for e in during if e[0] == "predict"]),
        "predict_non200": len(refused),
        "statuses": sorted({e[2] for e in during if e[0] == "predict"}),
        "refused_p99_ms": p99(refused),
        "refused_max_ms": max(refused, default=None),
        "livez_p99_ms": p99([e[3] for e in during if e[0] == "livez"]),
        "livez_max_ms": max((e[3] for e in during if e[0] == "livez"), default=None),
        "first_200_after_s": None if first_ok is None else first_ok - thawed,
    }


def chunked_body(port: int, pid: int, key: str, mib: int = 128) -> dict[str, Any]:
    before = worker_rss_mb(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], worker_rss_mb(pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    chunk = b'{"customer_id": "' + b"x" * (2**20 - 18)

    def body() -> Iterator[bytes]:
        for _ in range(mib):
            yield chunk

    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    status = 0
    try:
        conn.putrequest("POST", "/predict_churn")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("X-API-Key", key)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        with contextlib.suppress(OSError):
            for part in body():
                conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            conn.send(b"0\r\n\r\n")
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException):
        status = 0
    finally:
        conn.close()
    seconds = time.perf_counter() - started
    time.sleep(0.5)
    done.set()
    sampler.join()
    return {"mib": mib, "status": status, "seconds": seconds, "rss_growth_mb": peak[0] - before}


def amplification(client: Client, cid: str, key: str, seconds: float = 10) -> dict[str, Any]:
    served, statuses = 0, []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status, _, payload = client.call("POST", "/predict_churn/batch", {"customer_ids": [cid] * 1000}, key)
        statuses.append(status)
        if status == 200 and isinstance(payload, dict):
            served += len(payload.get("predictions") or payload.get("results") or [])
        if status != 200:
            time.sleep(0.05)
    return {"requests": len(statuses), "statuses": sorted(set(statuses)), "predictions": served, "seconds": seconds}


def flood(client: Client, cid: str, probe_key: str, flood_key: str) -> dict[str, Any]:
    def probe() -> list[float]:
        rows = paced(15, 20, lambda: client.call("POST", "/predict_churn", {"customer_id": cid}, probe_key))
        return [ms for status, ms, _ in rows if status == 200]

    quiet = probe()
    flood_statuses: list[int] = []

    def flooding() -> None:
        def hit() -> None:
            flood_statuses.append(client.call("GET", "/health", None, flood_key)[0])

        in_threads(*[lambda: paced(15, 50, hit)] * 3)

    loud, _ = in_threads(probe, flooding)
    return {
        "quiet_p99_ms": p99(quiet),
        "flood_p99_ms": p99(loud),
        "flood_statuses": {str(s): flood_statuses.count(s) for s in sorted(set(flood_statuses))},
    }


def measure(tree: Path, label: str, outage_s: float, work: Path) -> dict[str, Any]:
    from harness.homes import RedisProcess
    from harness.process import free_port, stop, wait_ready

    redis_proc = RedisProcess(work / f"redis-{label}")
    (work / f"redis-{label}").mkdir()
    redis_proc.start()
    try:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("CHURN_")}
        base_env["PYTHONPATH"] = str(tree)
        home = work / f"home-{label}"
        prepared = subprocess.run(
            [sys.executable, "-c", PREPARE, str(home), f"bench_outage_{label}", f"127.0.0.1:{redis_proc.port}"],
            cwd=tree,
            env=base_env,
            capture_output=True,
            text=True,
            check=True,
        )
        info = json.loads(prepared.stdout.split("RESULT ", 1)[1])
        keys = {name: strong_key(name) for name in ("a", "b", "chunk", "batch", "probe", "flood")}
        env = {
            **base_env,
            **info["env"],
            "CHURN_API_KEYS": ",".join(keys.values()),
            "CHURN_RATE_LIMIT": str(RATE),
            "PYTHONUNBUFFERED": "1",
        }
        port = free_port()
        cmd = [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", "2"]
        with open(work / f"serve-{label}.log", "wb") as log:
            proc = subprocess.Popen(
                cmd, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_ready(f"http://127.0.0.1:{port}", timeout=180, process=proc)
            client = Client(port)
            cid = info["ids"][0]
            result = {"outage": outage(client, redis_proc, cid, [keys["a"], keys["b"]], outage_s)}
            time.sleep(2)
            result["chunked"] = chunked_body(port, proc.pid, keys["chunk"])
            result["amplification"] = amplification(client, cid, keys["batch"])
            result["flood"] = flood(client, cid, keys["probe"], keys["flood"])
            return result
        finally:
            stop(proc)
    finally:
        redis_proc.stop(save=False)


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bench-before-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), rev], cwd=ROOT, check=True, capture_output=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False)


def fmt_ms(v: float | None) -> str:
    return "—" if v is None else (f"{v / 1e3:.1f} s" if v >= 1000 else f"{v:.1f} ms")


def render(r: dict[str, Any], args: argparse.Namespace) -> str:
    b, a = r["before"], r["after"]

    def row(name: str, fn: Any) -> str:
        return f"| {name} | {fn(b)} | {fn(a)} |"

    lines = [
        "## Hardening: a hung Redis, a huge chunked body, batch amplification, a /health flood",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {machine()}. Command: `.venv/bin/python benchmarks/bench_outage.py` "
        f"(before = `{args.before}`, the code before the hardening issue, in a temporary worktree; after = this "
        f"checkout; each serves its own 800-customer home with 2 workers against a redis-server of the benchmark's "
        f"own; rate limit {RATE}/s per key).",
        "",
        "| measurement | before | after |",
        "|---|---|---|",
        row(
            f"Redis frozen (SIGSTOP) {args.outage:.0f} s: predictions sent / answered non-200",
            lambda x: (
                f"{x['outage']['predict_during']} / {x['outage']['predict_non200']} "
                f"(statuses {x['outage']['statuses']})"
            ),
        ),
        row(
            "… p99 (max) of those non-200 answers",
            lambda x: f"{fmt_ms(x['outage']['refused_p99_ms'])} ({fmt_ms(x['outage']['refused_max_ms'])})",
        ),
        row(
            "… `/livez` p99 (max) during the outage",
            lambda x: f"{fmt_ms(x['outage']['livez_p99_ms'])} ({fmt_ms(x['outage']['livez_max_ms'])})",
        ),
        row(
            "… time from SIGCONT to the first 200",
            lambda x: "—" if x["outage"]["first_200_after_s"] is None else f"{x['outage']['first_200_after_s']:.2f} s",
        ),
        row(
            "chunked 128 MiB body: status, seconds, worker memory growth",
            lambda x: (
                f"{x['chunked']['status']}, {x['chunked']['seconds']:.1f} s, {x['chunked']['rss_growth_mb']:+.0f} MB"
            ),
        ),
        row(
            "one key, 10 s of batches of 1,000 copies of one id: predictions served (requests, statuses)",
            lambda x: (
                f"{x['amplification']['predictions']:,} ({x['amplification']['requests']}, "
                f"{x['amplification']['statuses']})"
            ),
        ),
        row("prediction p99, one client at 20 req/s, alone", lambda x: fmt_ms(x["flood"]["quiet_p99_ms"])),
        row(
            "… under a 150 req/s `/health` flood (flood's statuses)",
            lambda x: f"{fmt_ms(x['flood']['flood_p99_ms'])} ({x['flood']['flood_statuses']})",
        ),
        "",
        "Targets (issue 19): a 503 within 50 ms for the whole outage and `/livez` never waiting on a dependency; "
        "413 at 1 MiB however the body is sent; a batch pays one token per row and repeated ids are refused; "
        "`/health` behind a key and its rate limit, so a flood costs the predictions little.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="8d92d53", help="git revision measured as the baseline")
    parser.add_argument("--outage", type=float, default=20.0, help="seconds Redis stays frozen")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-outage-") as tmp, worktree(args.before) as before:
        for label, tree in (("before", before), ("after", ROOT)):
            began = time.perf_counter()
            results[label] = measure(tree, label, args.outage, Path(tmp))
            print(f"{label}: {time.perf_counter() - began:.0f} s", json.dumps(results[label]), file=sys.stderr)
    body = render(results, args)
    print(body)
    if not args.no_write:
        write_section(body, "hardening")


if __name__ == "__main__":
    main()
