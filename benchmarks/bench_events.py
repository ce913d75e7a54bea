"""Events benchmark: event in → a prediction that reflects it, at 200 events/s while wrk loads `/predict_churn`.

    .venv/bin/python benchmarks/bench_events.py [--customers 20000] [--months 12] [--rate 200] [--seconds 30]

Needs Redis at 127.0.0.1:6379 (database 13; the run's keys are removed) and
`wrk` (Debian package). Builds a home on the redis profile (simulate, build,
materialize, train), starts `churn serve` with 2 workers, then measures in one run:

1. the baseline: ``wrk -t2 -c16`` against ``/predict_churn`` alone;
2. the same wrk load while an open-loop sender posts one ``ticket_opened`` event
   at a time at ``--rate`` events/s (8 client threads, keep-alive), each followed
   at once by ``/predict_churn`` for that customer. The latency of an event is
   from its scheduled send time (so queueing counts: no coordinated omission) to
   the prediction's answer. Every tenth prediction asks for the explanation and
   checks that the customer's ``tickets_90d`` went up by the event: the count of
   checks that failed is reported.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from bench_foundation import machine, write_section  # noqa: E402
from bench_serving import KEY, WRK_SCRIPT, fmt, redis_home, start, wrk  # noqa: E402

SENDERS = 8


class Client:
    """One keep-alive connection per sender thread."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "X-API-Key": KEY}
        self.conn.request("POST", path, body=data, headers=headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")


def send_events(port: int, ids: list[str], rate: float, seconds: float, run: str) -> dict:
    """Open-loop events at ``rate``; per event: POST /events, then POST /predict_churn; latencies in ms."""
    n = int(rate * seconds)
    rng = np.random.default_rng(7)
    customers = [str(c) for c in rng.choice(ids, n)]
    local = threading.local()
    expected: dict[str, int] = {}
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.5
    results: list[tuple[float, float, int, bool | None]] = []

    def one(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = Client(port)
        due = t0 + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        cid = customers[i]
        check = i % 10 == 0
        when = datetime.now(UTC).isoformat()
        event = {"event_id": f"{run}-{i}", "customer_id": cid, "type": "ticket_opened", "at": when}
        sent = time.perf_counter()
        status, body = local.client.post("/events", {"events": [event]})
        posted = time.perf_counter()
        ok = status == 200 and body.get("applied") == 1
        with lock:
            expected[cid] = expected.get(cid, 0) + 1
            wanted = expected[cid]
        status2, answer = local.client.post("/predict_churn", {"customer_id": cid, "explain": check, "top_k": 20})
        done = time.perf_counter()
        reflected = None
        if check and status2 == 200:
            used = {f["feature"]: f["value"] for f in answer.get("factors", [])}
            reflected = used.get("tickets_90d") is not None and used["tickets_90d"] >= wanted
        results.append(((posted - sent) * 1e3, (done - due) * 1e3, int(ok and status2 == 200), reflected))

    began = time.perf_counter()
    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - began
    post_ms = np.array([r[0] for r in results])
    total_ms = np.array([r[1] for r in results])
    checks = [r[3] for r in results if r[3] is not None]
    return {
        "events": n,
        "rate": n / elapsed,
        "ok": int(sum(r[2] for r in results)),
        "post_p50": float(np.percentile(post_ms, 50)),
        "post_p99": float(np.percentile(post_ms, 99)),
        "p50": float(np.percentile(total_ms, 50)),
        "p95": float(np.percentile(total_ms, 95)),
        "p99": float(np.percentile(total_ms, 99)),
        "max": float(total_ms.max()),
        "checks": len(checks),
        "checks_failed": int(sum(1 for c in checks if not c)),
    }


def wrk_background(url: str, ids: list[str], seconds: float) -> tuple[subprocess.Popen[str], str]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT % {"ids": ",".join(json.dumps(i) for i in ids), "explain": "false", "key": KEY})
    cmd = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "5s", "-s", fh.name, url + "/predict_churn"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True), fh.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    import re

    from harness.homes import settings_env
    from harness.process import free_port, stop
    from training.config import DEFAULT_GRID, TrainConfig

    train = TrainConfig(bootstrap=0, report=False, grid=DEFAULT_GRID[:2], folds=2)
    with redis_home("bench-events-", args.customers, args.months, train) as (settings, home, ids):
        env = settings_env(
            settings,
            CHURN_API_KEYS=f"predict+explain+events:{KEY}",
            CHURN_RATE_LIMIT="1000000",
            CHURN_SERVE_WORKERS="2",
            OMP_NUM_THREADS="1",
        )
        results: dict[str, object] = {}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", "2"], env, home / "s.log", url
        )
        try:
            wrk(url, ids, 2, 16, 5)  # warm-up
            send_events(port, ids, 50, 2, "warm")
            results["alone"] = wrk(url, ids, 2, 16, args.seconds)
            results["events_alone"] = send_events(port, ids, args.rate, min(args.seconds, 15), "solo")
            proc, script = wrk_background(url, ids, args.seconds + 4)
            time.sleep(2)
            results["events"] = send_events(port, ids, args.rate, args.seconds, "load")
            out, _ = proc.communicate()
            Path(script).unlink()
            loaded = json.loads(re.search(r"RESULT (\{.*\})", out).group(1))  # type: ignore[union-attr]
            loaded["rps"] = loaded["requests"] / loaded["seconds"]
            results["loaded"] = loaded
        finally:
            stop(server)
    print(json.dumps(results, indent=1))
    body = render(results, args)
    print(body)
    if not args.no_write:
        write_section(body, "events")


def render(r: dict, args: argparse.Namespace) -> str:
    ev, solo = r["events"], r["events_alone"]
    met = ev["p99"] <= 50 and ev["checks_failed"] == 0 and ev["ok"] == ev["events"]
    return "\n".join(
        [
            "## Events: event in → a prediction reflecting it (redis profile, 2 workers, wrk on the same 2 cores)",
            "",
            f"{datetime.now(UTC):%Y-%m-%d}, {machine()}. Command: `.venv/bin/python benchmarks/bench_events.py` "
            f"({args.customers:,} customers × {args.months} months materialized; one `ticket_opened` per request at "
            f"{args.rate:.0f} events/s open loop from {SENDERS} client threads, each followed by `/predict_churn` for "
            "that customer; latency from the event's scheduled send to the prediction's answer).",
            "",
            "| measurement | result |",
            "|---|---|",
            f"| `/predict_churn` alone, `wrk -t2 -c16 -d{args.seconds}s` (baseline) | {fmt(r['alone'])} |",
            f"| `/predict_churn` under `wrk -c16` while events flow | {fmt(r['loaded'])} |",
            f"| events alone: event → prediction | {solo['rate']:.0f} events/s, p50 {solo['p50']:.1f} ms, "
            f"p95 {solo['p95']:.1f} ms, p99 {solo['p99']:.1f} ms; `POST /events` p50 {solo['post_p50']:.1f} ms |",
            f"| events under `wrk -c16`: event → prediction | {ev['rate']:.0f} events/s, p50 {ev['p50']:.1f} ms, "
            f"p95 {ev['p95']:.1f} ms, p99 {ev['p99']:.1f} ms, max {ev['max']:.0f} ms; `POST /events` p50 "
            f"{ev['post_p50']:.1f} ms, p99 {ev['post_p99']:.1f} ms |",
            f"| events applied and predicted (200 + applied) | {ev['ok']:,} of {ev['events']:,} |",
            f"| explained predictions showing the event in `tickets_90d` | {ev['checks'] - ev['checks_failed']} of "
            f"{ev['checks']} |",
            "",
            f"Target: p99 ≤ 50 ms at {args.rate:.0f} events/s under `wrk -c16` — "
            f"{'met' if met else 'NOT met'} ({ev['p99']:.1f} ms).",
        ]
    )


if __name__ == "__main__":
    main()
