"""Redis memory per customer, measured from our own keys, for the capacity plan (docs/capacity.md).

    .venv/bin/python benchmarks/bench_capacity.py [--customers 50000]

Simulates ``--customers`` customers, materializes the latest snapshot of each into Redis database 13 (the
redis profile, Feast's layout: one hash per customer holding every feature view's values and timestamps),
and reads Redis's own accounting: ``used_memory`` before and after, and ``MEMORY USAGE`` of 2,000 sampled
keys. The project's keys are removed afterwards.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from bench_foundation import machine, write_section  # noqa: E402

DB = 13


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    import random

    import redis

    from churn.offline import write_offline
    from churn.simulate import SimulationConfig, simulate
    from churn.temporal import build_snapshots
    from harness.settings import make_settings, unique_project
    from store.feast_store import apply
    from store.materialize import materialize

    client = redis.Redis(db=DB)
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp:
        project = unique_project("capacity")
        settings = make_settings(Path(tmp), project, profile="redis", redis=f"127.0.0.1:6379,db={DB}")
        raw = simulate(SimulationConfig(customers=args.customers, months=3, seed=42, burn_in_months=24))
        write_offline(build_snapshots(raw), settings.snapshots_dir, settings.labels_path)
        apply(settings)
        client.memory_purge()
        before = client.info("memory")["used_memory"]
        began = time.perf_counter()
        result = materialize(settings, workers=2)
        seconds = time.perf_counter() - began
        after = client.info("memory")["used_memory"]
        keys = [k for k in client.scan_iter(match=f"*{project}", count=5000)]
        sample = random.Random(0).sample(keys, min(2000, len(keys)))
        usage = sum(client.memory_usage(k) or 0 for k in sample) / len(sample)
        fields = client.hlen(sample[0])
        for i in range(0, len(keys), 5000):
            client.delete(*keys[i : i + 5000])
    per_customer = (after - before) / result.customers
    body = "\n".join(
        [
            "## Capacity: Redis memory per customer",
            "",
            f"{datetime.now(UTC):%Y-%m-%d}, {machine()}, Redis {client.info('server')['redis_version']}. Command: "
            f"`.venv/bin/python benchmarks/bench_capacity.py` ({result.customers:,} customers materialized "
            "into Redis, redis profile, 2 processes).",
            "",
            "| measure | value |",
            "|---|---|",
            f"| keys written | {len(keys):,} (one hash per customer, {fields} fields: features + one timestamp per "
            "feature view) |",
            f"| `used_memory` growth per customer | {per_customer:,.0f} bytes |",
            f"| `MEMORY USAGE` per key (2,000 sampled) | {usage:,.0f} bytes |",
            f"| per million customers | {per_customer * 1e6 / 2**30:.2f} GiB |",
            f"| materialization | {seconds:.1f} s, {result.customers / seconds:,.0f} customers/s |",
        ]
    )
    print(body)
    if not args.no_write:
        write_section(body, "capacity")


if __name__ == "__main__":
    main()
