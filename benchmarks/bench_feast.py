"""Feature-store benchmark: training sets, materialization into Redis, online read latency.

    .venv/bin/python benchmarks/bench_feast.py [--customers 100000] [--months 24] [--subset 200000]

Needs Redis at 127.0.0.1:6379 (database 13 is used and its project keys removed).
Every stage runs in a fresh process that reports wall time and peak memory:

1. training set for every label row (≈2.4M) through the DuckDB offline store;
   same run, baseline: Feast's default file (Dask) offline store on a subset,
   with 10% of the subset's entity rows moved past the TTL (they must come back
   with null features, not vanish) — rows returned vs asked;
2. materialize the latest snapshot of every customer into Redis: stock settings
   (no write batching) as the baseline, then Feast's own knobs
   (``online_write_batch_size``, feature views in parallel processes, Redis ``skip_dedup``), then the
   platform's writer in Feast's layout (what `churn features materialize` runs); the project's keys are
   deleted before each variant, so each one writes every row (Feast skips rows no newer than the stored ones);
3. online reads from Redis for 1 and 100 customers: p50/p95/p99.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_foundation import entry, machine, run_stage_process, write_section  # noqa: E402

REDIS = "127.0.0.1:6379,db=13"


def _store(settings: Any, name: str) -> Any:
    """The redis profile's FeatureStore, with one knob changed for the variant ``name`` (explicit config, no env)."""
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    from store.config import REPO_DIR, config_dict

    data = config_dict(settings, "redis")
    if name == "materialize_stock":
        data.pop("materialization", None)
    if name == "materialize_skip_dedup":
        data["online_store"]["skip_dedup"] = True
    if name == "train_file":
        data["offline_store"] = {"type": "file"}
        data["registry"]["path"] = str(settings.home_dir / "feast" / "file" / "registry.db")
    for folder in ("redis", "file"):
        (settings.home_dir / "feast" / folder).mkdir(parents=True, exist_ok=True)
    config = RepoConfig(**data)
    config.repo_path = REPO_DIR
    return FeatureStore(repo_path=str(REPO_DIR), config=config)


def stage(*argv: str) -> dict:
    """One stage in a fresh process (its own peak memory): `python <this file> --stage NAME HOME ARG`."""
    import os
    import resource
    import time
    from datetime import timedelta

    import numpy as np
    import pandas as pd

    from churn.clock import platform_clock
    from churn.offline import read_labels, read_snapshots, snapshot_months
    from churn.settings import Settings
    from churn.timeutil import month_label, month_start
    from store.feast_store import feature_service, objects_for, quiet_stdout
    from store.materialize import materialize
    from store.online import FeastOnlineReader
    from store.training_sets import build_training_set

    stage, home, arg = argv[0], Path(argv[1]), argv[2]
    out: dict[str, Any] = {}
    if stage == "prepare":
        from churn.offline import write_offline
        from churn.simulate import SimulationConfig, simulate
        from churn.temporal import build_snapshots

        customers, months = map(int, arg.split(","))
        snaps = build_snapshots(simulate(SimulationConfig(customers=customers, months=months, seed=2)))
        write_offline(snaps, home / "data/offline/snapshots", home / "data/offline/labels.parquet")
        out["labels"] = len(snaps.labels)
    else:
        settings = Settings(
            home=home, profile="redis", redis=os.environ["BENCH_REDIS"], feast_project=os.environ["BENCH_PROJECT"]
        )
        store = _store(settings, stage)
        if stage == "apply" or stage == "train_file":
            with quiet_stdout():
                store.apply(objects_for(settings))
        if stage == "train_duckdb":
            labels = read_labels(settings.labels_path)
            t = time.perf_counter()
            df = build_training_set(store, labels)
            out.update(rows_in=len(labels), rows_out=len(df), seconds=time.perf_counter() - t)
        elif stage == "train_file":
            labels = read_labels(settings.labels_path).sample(n=int(arg), random_state=0).reset_index(drop=True)
            far = labels.index % 10 == 0
            labels.loc[far, "event_timestamp"] += pd.Timedelta(days=45)  # past the TTL: nulls expected
            labels = labels.drop_duplicates(["customer_id", "event_timestamp"])
            t = time.perf_counter()
            with quiet_stdout():
                df = store.get_historical_features(entity_df=labels, features=feature_service(store)).to_df()
            out.update(
                rows_in=len(labels), rows_out=len(df), seconds=time.perf_counter() - t, past_ttl_in=int(far.sum())
            )
        elif stage == "materialize_parallel":  # Feast's materialize, feature views split over two processes
            t = time.perf_counter()
            r = materialize(settings.model_copy(update={"materialize_writer": "feast"}), workers=2)
            out.update(customers=r.customers, seconds=time.perf_counter() - t)
        elif stage == "materialize_platform":  # `churn features materialize`: the platform's writer
            t = time.perf_counter()
            r = materialize(settings)
            out.update(customers=r.customers, seconds=time.perf_counter() - t)
        elif stage == "flush":
            import redis as redis_lib

            client = redis_lib.Redis(host="127.0.0.1", port=6379, db=int(os.environ["BENCH_REDIS"].split("db=")[1]))
            keys = list(client.scan_iter(match=f"*{settings.feast_project}", count=10_000))
            for begin in range(0, len(keys), 10_000):
                client.delete(*keys[begin : begin + 10_000])
            out["deleted"] = len(keys)
        elif stage.startswith("materialize"):
            # the variant's knobs, Feast's own materialize, the window `churn` uses: the clock month
            clock = month_start(platform_clock(settings)).to_pydatetime()
            t = time.perf_counter()
            with quiet_stdout():
                store.materialize(start_date=clock, end_date=clock + timedelta(seconds=1))
            out["seconds"] = time.perf_counter() - t
            month = month_label(platform_clock(settings))
            out["customers"] = len(read_snapshots(settings.snapshots_dir, [month], ["customer_id"]))
        elif stage == "online":
            ids = read_snapshots(
                settings.snapshots_dir, [snapshot_months(settings.snapshots_dir)[-1]], ["customer_id"]
            ).customer_id.to_numpy()
            rng = np.random.default_rng(0)
            reader = FeastOnlineReader(store)
            for batch, n in ((1, 2000), (100, 300)):
                reader.read(list(rng.choice(ids, batch)))
                lat = []
                for _ in range(n):
                    pick = list(rng.choice(ids, batch))
                    t = time.perf_counter()
                    reader.read(pick)
                    lat.append((time.perf_counter() - t) * 1000)
                raw = []
                svc = feature_service(store)
                for _ in range(n):
                    pick = list(rng.choice(ids, batch))
                    t = time.perf_counter()
                    store.get_online_features(features=svc, entity_rows={"customer_id": pick})
                    raw.append((time.perf_counter() - t) * 1000)
                out[f"batch_{batch}"] = {
                    q: float(np.percentile(lat, p)) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))
                }
                out[f"batch_{batch}_feast_only"] = {
                    q: float(np.percentile(raw, p)) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))
                }
        elif stage == "teardown":
            with quiet_stdout():
                store.teardown()
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["children_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out


def run(name: str, home: Path, arg: str, env: dict[str, str]) -> dict:
    result = run_stage_process(__file__, name, str(home), arg, env=env)
    print(name, json.dumps(result), file=sys.stderr)
    return result


def main() -> None:
    import os
    import uuid

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--subset", type=int, default=200_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "BENCH_REDIS": REDIS, "BENCH_PROJECT": f"bench_{uuid.uuid4().hex[:8]}"}
    with tempfile.TemporaryDirectory(prefix="bench-feast-") as tmp:
        home = Path(tmp)
        prep = run("prepare", home, f"{args.customers},{args.months}", env)
        run("apply", home, "", env)
        duck = run("train_duckdb", home, "", env)
        dask = run("train_file", home, str(args.subset), env)
        mats = {}
        try:
            variants = ("materialize_stock", "materialize", "materialize_parallel", "materialize_skip_dedup",
                        "materialize_platform")  # fmt: skip
            for variant in variants:
                run("flush", home, "", env)
                mats[variant] = run(variant, home, "", env)
            online = run("online", home, "", env)
        finally:
            run("teardown", home, "", env)
    n = next((m.get("customers") for m in mats.values() if m.get("customers")), args.customers)
    rate = {k: n / v["seconds"] for k, v in mats.items()}
    lost = dask["rows_in"] - dask["rows_out"]
    body = f"""
## Feature store: training sets, materialization, online reads ({args.customers:,} customers × {args.months} months)

Run `python benchmarks/bench_feast.py` on {datetime.now(UTC):%Y-%m-%d} ({machine()}); Feast 0.67, Redis 7 on loopback.

**Training set** (`get_historical_features` through `churn_model_v1`, target ≤ 60 s and ≤ 6 GB):

| offline store | entity rows in | rows out | wall time | peak memory |
|---|---|---|---|---|
| DuckDB (ours) | {duck["rows_in"]:,} | {duck["rows_out"]:,} | {duck["seconds"]:.1f} s | {duck["peak_mb"]:,.0f} MB |
| Feast default file/Dask (baseline, subset; {dask["past_ttl_in"]:,} rows past the TTL) | {dask["rows_in"]:,} | {dask["rows_out"]:,} ({lost:,} dropped) | {dask["seconds"]:.1f} s | {dask["peak_mb"]:,.0f} MB |

**Materialization** of the latest snapshot of {n:,} customers into Redis, each variant into an emptied project (target ≥ 2.5× stock in the same run, ≤ 1 GB):

| settings | wall time | customers/s | peak memory |
|---|---|---|---|
| stock `feast materialize` (no write batching) — baseline | {mats["materialize_stock"]["seconds"]:.1f} s | {rate["materialize_stock"]:,.0f} | {mats["materialize_stock"]["peak_mb"]:,.0f} MB |
| Feast with `online_write_batch_size: 10000` (the profiles' setting) | {mats["materialize"]["seconds"]:.1f} s | {rate["materialize"]:,.0f} | {mats["materialize"]["peak_mb"]:,.0f} MB |
| Feast, 2 processes (`CHURN_MATERIALIZE_WRITER=feast churn features materialize --workers 2`: views split across processes) | {mats["materialize_parallel"]["seconds"]:.1f} s | {rate["materialize_parallel"]:,.0f} | {mats["materialize_parallel"]["peak_mb"]:,.0f} MB parent + 2 × ≤ {mats["materialize_parallel"]["children_peak_mb"]:,.0f} MB workers |
| batching + Redis `skip_dedup: true` (rejected: an older write could overwrite a newer one) | {mats["materialize_skip_dedup"]["seconds"]:.1f} s | {rate["materialize_skip_dedup"]:,.0f} | {mats["materialize_skip_dedup"]["peak_mb"]:,.0f} MB |
| **the platform's writer** (`churn features materialize`: Feast's bytes, one HSET per customer, dedup kept, registry intervals recorded; the marker included) | {mats["materialize_platform"]["seconds"]:.1f} s | {rate["materialize_platform"]:,.0f} ({rate["materialize_platform"] / rate["materialize_stock"]:.1f}× stock) | {mats["materialize_platform"]["peak_mb"]:,.0f} MB |

**Online reads** from Redis after the platform's writer loaded it, in-process, through `store.online.FeastOnlineReader` (feature vector, timestamps, unknown-id detection) and, beside it, the bare Feast call (ms):

| customers per call | p50 | p95 | p99 | Feast call alone p50 / p99 |
|---|---|---|---|---|
| 1 | {online["batch_1"]["p50"]:.2f} | {online["batch_1"]["p95"]:.2f} | {online["batch_1"]["p99"]:.2f} | {online["batch_1_feast_only"]["p50"]:.2f} / {online["batch_1_feast_only"]["p99"]:.2f} |
| 100 | {online["batch_100"]["p50"]:.2f} | {online["batch_100"]["p95"]:.2f} | {online["batch_100"]["p99"]:.2f} | {online["batch_100_feast_only"]["p50"]:.2f} / {online["batch_100_feast_only"]["p99"]:.2f} |

Label rows in the prepared store: {prep["labels"]:,}.
"""
    print(body)
    if not args.no_write:
        write_section(body, "feast")


if __name__ == "__main__":
    entry(stage, main)
