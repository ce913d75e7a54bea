"""Batch scoring through the `spark` profile on local[2]: 1M, 3M and 10M customers, and the single-machine 1M.

    .venv/bin/python benchmarks/bench_spark.py [--sizes 1000000,3000000,10000000] [--base 20000]

Trains a champion on a simulated base population (``--base`` customers × 24 months, local profile), then for
each size rewrites the last snapshot month with copies of that population under new ids (the same feature
distribution; the simulator's burn-in is not what this measures) and runs `churn score` in a fresh process:
Feast's Spark offline store joins point-in-time, `mapInPandas` scores, decides and explains (exact TreeSHAP for
the customers the default catalogue targets, Saabas for the rest), and the parts are streamed into one
Parquet file. Wall time and the peak memory of the whole process tree (Python driver, JVM, Python workers),
sampled every 0.5 s. Same run, baseline: the single-machine path at 1M.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from bench_foundation import entry, machine, run_stage_process, write_section  # noqa: E402


def stage(profile: str, home: str, project: str, day: str) -> dict:
    """`churn score` on ``profile`` in this fresh process, with the peak memory of its whole process tree."""
    import threading
    import time

    import psutil

    peak = [0]

    def watch() -> None:
        me = psutil.Process()
        while True:
            try:
                rss = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    from batch.jobs import score
    from churn.settings import Settings

    settings = Settings(home=Path(home), feast_project=project, profile=profile)
    t = time.perf_counter()
    r = score(settings, day)
    return {"seconds": time.perf_counter() - t, "customers": r.customers, "exact": r.exact_factors,
            "peak_mb": peak[0] / 2**20, "bytes": r.path.stat().st_size}  # fmt: skip


def build(home: Path, project: str, base: int) -> tuple[str, str]:
    from churn.offline import snapshot_months
    from churn.simulate import SimulationConfig
    from harness.homes import prepare_home
    from harness.settings import make_settings
    from store.feast_store import apply
    from training.config import DEFAULT_GRID, TrainConfig

    local = make_settings(home, project)
    config = TrainConfig(folds=2, bootstrap=0, grid=DEFAULT_GRID[:1], report=False)
    prepare_home(local, SimulationConfig(customers=base, months=24, seed=42), config)
    month = snapshot_months(local.snapshots_dir)[-1]
    for other in snapshot_months(local.snapshots_dir)[:-1]:  # only the scored month stays
        folder = local.snapshots_dir / f"snapshot_month={other}"
        for part in folder.glob("*.parquet"):
            part.unlink()
        folder.rmdir()
    apply(make_settings(home, project, profile="spark"))
    return month, f"{month}-01"


def resize(home: Path, month: str, base: Any, customers: int) -> None:
    """Rewrite the month's partition with ``customers`` rows: copies of ``base`` (an Arrow table) under new ids."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = home / "data" / "offline" / "snapshots" / f"snapshot_month={month}" / "part-0.parquet"
    tmp = path.with_suffix(".tmp")
    written, copy = 0, 0
    with pq.ParquetWriter(tmp, base.schema, compression="zstd") as writer:
        while written < customers:
            ids = pc.binary_join_element_wise(base["customer_id"], pa.scalar(f"-{copy:04d}"), "")
            chunk = base.set_column(base.schema.get_field_index("customer_id"), "customer_id", ids)
            chunk = chunk.slice(0, customers - written)
            writer.write_table(chunk)
            written += chunk.num_rows
            copy += 1
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--base", type=int, default=20_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    import pyarrow.parquet as pq

    from harness.settings import unique_project

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        home, project = Path(tmp), unique_project("sparkbench")
        month, day = build(home, project, args.base)
        folder = home / "data" / "offline" / "snapshots" / f"snapshot_month={month}"
        base_rows = pq.read_table(folder / "part-0.parquet")
        sizes = [int(s) for s in args.sizes.split(",")]
        for size in sizes:
            resize(home, month, base_rows, size)
            if size == 1_000_000:
                rows.append({"size": size, "engine": "single machine (DuckDB join, pandas)",
                             **run_stage_process(__file__, "local", str(home), project, day)})  # fmt: skip
                print(rows[-1], flush=True)
            rows.append(
                {
                    "size": size,
                    "engine": "Spark local[2]",
                    **run_stage_process(__file__, "spark", str(home), project, day),
                }
            )
            print(rows[-1], flush=True)
    body = render(rows, args)
    print(body)
    if not args.no_write:
        write_section(body, "spark")


def render(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "## Spark profile: batch scoring at 1M, 3M and 10M customers",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {machine()}. Command: `.venv/bin/python benchmarks/bench_spark.py` "
        f"(champion trained on {args.base:,} simulated customers × 24 months; the scored month then holds copies "
        "of that population under new ids; `churn score` in a fresh process, default catalogue).",
        "",
        "| customers | engine | wall time | per million | peak memory (process tree) | exact reasons | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        target = ""
        if r["size"] == 10_000_000 and r["engine"].startswith("Spark"):
            target = f"≤ 15 min: {'met' if r['seconds'] <= 900 else 'NOT met'}"
        lines.append(
            f"| {r['size']:,} | {r['engine']} | {r['seconds']:.0f} s | {r['seconds'] / r['size'] * 1e6:.0f} s | "
            f"{r['peak_mb'] / 1024:.1f} GB | {r['exact']:,} | {target} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    entry(stage, main)
