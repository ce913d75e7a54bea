"""Batch benchmark: score 1,000,000 customers through the offline store, then decide over the scores.

    .venv/bin/python benchmarks/bench_batch.py [--customers 1000000] [--base 20000]

Trains a champion on a simulated base population (``--base`` customers × 24
months), then builds an offline store of ``--customers`` customers for the last
two months by copying the base population's snapshots under new ids (the same
feature distribution; the simulator's cost grows with its 72-month burn-in, which
is not what this measures). Each stage runs in a fresh process reporting wall
time and peak memory:

1. `churn score` for every customer (Feast point-in-time read through the DuckDB
   offline store, calibrated probabilities, exact factors for would-be targets,
   Saabas for the rest, atomic Parquet write);
2. `churn decide` over the million scores (default catalogue, 10% control);
3. baseline, same run: scoring row by row through Feast online reads (Redis,
   database 13, where the base population was materialized) on a sample,
   extrapolated to the same population.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from bench_foundation import entry, machine, run_stage_process, write_section  # noqa: E402

REDIS = "127.0.0.1:6379,db=13"


def stage(*argv: str) -> dict:
    """One stage in a fresh process (its own peak memory): `python <this file> --stage NAME ARGS...`."""
    import contextlib
    import os
    import resource
    import time
    from pathlib import Path

    stage, home, project, arg, redis = argv[0], Path(argv[1]), argv[2], argv[3], argv[4]
    from churn.settings import Settings

    settings = Settings(home=home, feast_project=project, redis=redis, profile="redis")
    t = time.perf_counter()
    out = {}
    if stage == "score":
        from batch.jobs import score

        r = score(settings, arg)
        out = {"customers": r.customers, "exact": r.exact_factors, "path": str(r.path)}
    elif stage == "decide":
        from batch.plan import make_plan

        _, summary = make_plan(settings, Path(arg))
        out = {"customers": summary["customers"], "targeted": summary["targeted"]}
    elif stage == "rowwise":
        from store.feast_store import get_store
        from store.online import FeastOnlineReader as OnlineReader
        from training import registry

        store = get_store(settings)
        reader = OnlineReader(store)
        model = registry.load_champion(settings)
        sample = json.loads((home / "base_ids.json").read_text())[: int(arg)]
        t = time.perf_counter()
        for cid in sample:
            online = reader.read([cid])
            model.predict_proba(online.features)
        out = {"sample": len(sample)}
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            store.teardown()
    out["seconds"] = time.perf_counter() - t
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def build_home(home: Path, project: str, base: int, customers: int) -> str:
    """Train on the base population, then replace the offline store by ``customers`` copies-with-new-ids."""

    import pandas as pd

    from churn.offline import read_snapshots, snapshot_months
    from churn.simulate import SimulationConfig
    from harness.homes import prepare_home
    from harness.settings import make_settings
    from store.feast_store import apply
    from training.config import TrainConfig

    settings = make_settings(home, project, profile="redis", redis=REDIS)  # the base population goes online too
    prepare_home(settings, SimulationConfig(customers=base, months=24, seed=42), TrainConfig(bootstrap=0, report=False))
    months = snapshot_months(settings.snapshots_dir)[-2:]
    base_ids = read_snapshots(settings.snapshots_dir, [months[-1]]).customer_id.astype(str).tolist()
    (home / "base_ids.json").write_text(json.dumps(base_ids))
    for month in months:
        snaps = read_snapshots(settings.snapshots_dir, [month])
        copies = -(-customers // len(snaps))
        big = pd.concat([snaps.assign(customer_id=snaps.customer_id + f"-{c:03d}") for c in range(copies)])
        big = big.iloc[:customers] if len(big) > customers else big
        folder = settings.snapshots_dir / f"snapshot_month={month}"
        for old in folder.glob("*.parquet"):
            old.unlink()
        big.drop(columns=["snapshot_month"], errors="ignore").to_parquet(folder / "part-0.parquet", index=False)
    for month in snapshot_months(settings.snapshots_dir)[:-2]:  # only the two big months stay
        for old in (settings.snapshots_dir / f"snapshot_month={month}").glob("*.parquet"):
            old.unlink()
        (settings.snapshots_dir / f"snapshot_month={month}").rmdir()
    apply(settings)
    return f"{months[-1]}-01"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--base", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=1000, help="customers for the row-by-row baseline")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from harness.settings import unique_project

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        home = Path(tmp)
        project = unique_project("batch")
        day = build_home(home, project, args.base, args.customers)
        scored = run_stage_process(__file__, "score", str(home), project, day, REDIS)
        decided = run_stage_process(__file__, "decide", str(home), project, scored["path"], REDIS)
        rowwise = run_stage_process(__file__, "rowwise", str(home), project, str(args.sample), REDIS)
    per_row = rowwise["seconds"] / rowwise["sample"]
    extrapolated = per_row * scored["customers"]
    body = "\n".join(
        [
            f"## Batch: score and decide for {scored['customers']:,} customers",
            "",
            f"{datetime.now(UTC):%Y-%m-%d}, {machine()}. Command: `.venv/bin/python benchmarks/bench_batch.py` "
            f"(champion trained on {args.base:,} simulated customers × 24 months; the offline store then holds "
            f"{scored['customers']:,} customers per month, copies of that population under new ids).",
            "",
            "| stage | wall time | peak memory | target |",
            "|---|---|---|---|",
            f"| `churn score` (Feast offline read, predict, {scored['exact']:,} exact + "
            f"{scored['customers'] - scored['exact']:,} approximate explanations, Parquet) | {scored['seconds']:.1f} s | "
            f"{scored['peak_mb'] / 1024:.2f} GB | ≤ 60 s, ≤ 8 GB: "
            f"{'met' if scored['seconds'] <= 60 and scored['peak_mb'] <= 8192 else 'NOT met'} |",
            f"| `churn decide` ({decided['targeted']:,} targeted) | {decided['seconds']:.1f} s | "
            f"{decided['peak_mb'] / 1024:.2f} GB | ≤ 10 s: {'met' if decided['seconds'] <= 10 else 'NOT met'} |",
            f"| baseline: row-by-row Feast online read + predict, {rowwise['sample']:,} customers | "
            f"{rowwise['seconds']:.1f} s ({per_row * 1000:.2f} ms/customer) → {extrapolated / 3600:.1f} h for "
            f"{scored['customers']:,} | | |",
        ]
    )
    print(body)
    if not args.no_write:
        write_section(body, "batch")


if __name__ == "__main__":
    entry(stage, main)
