"""Foundation benchmark: simulate and build 100,000 customers × 24 months.

    .venv/bin/python benchmarks/bench_foundation.py [--customers 100000] [--months 24] [--sample 20]

Each stage runs in a fresh process that reports its own wall time and peak
resident memory. The baseline, measured in the same run on the same raw data,
is the straightforward per-snapshot builder (``churn.temporal_reference``:
filter ``known_at < T`` per customer and month) on a sample of customers,
extrapolated per snapshot. Results replace this benchmark's section of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTION = "foundation"


def stage(*argv: str) -> dict:
    """One stage in a fresh process (its own peak memory): `python <this file> --stage NAME ARGS...`."""
    import resource
    import time
    from pathlib import Path

    stage, home, customers, months, sample = argv[0], Path(argv[1]), int(argv[2]), int(argv[3]), int(argv[4])
    out = {}
    t = time.perf_counter()
    if stage == "simulate":
        from churn.raw import save_raw
        from churn.simulate import SimulationConfig, simulate

        raw = simulate(SimulationConfig(customers=customers, months=months, seed=1))
        save_raw(raw, home / "raw")
        out["rows"] = {k: len(v) for k, v in raw.tables.items()}
    elif stage == "build":
        from churn.offline import write_offline
        from churn.raw import load_raw
        from churn.temporal import build_snapshots

        raw = load_raw(home / "raw")
        snaps = build_snapshots(raw)
        write_offline(snaps, home / "offline" / "snapshots", home / "offline" / "labels.parquet")
        out["snapshots"] = len(snaps.features)
    elif stage == "reference":
        import numpy as np

        from churn.raw import load_raw
        from churn.temporal_reference import reference_snapshots

        raw = load_raw(home / "raw")
        ids = raw.tables["customers"]["customer_id"].astype(str).to_numpy()
        pick = list(np.random.default_rng(0).choice(ids, size=sample, replace=False))
        t = time.perf_counter()
        ref = reference_snapshots(raw, pick)
        out["snapshots"] = len(ref)
    out["seconds"] = time.perf_counter() - t
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_stage_process(script: str | Path, *args: str, env: dict[str, str] | None = None) -> dict:
    """Run a benchmark's ``stage(*args)`` in a fresh Python process (its own peak memory) and return its JSON.

    The stage is the benchmark file's own function: ``python <script> --stage ARGS...``.
    """
    proc = subprocess.run(
        [sys.executable, str(script), "--stage", *args], capture_output=True, text=True, env=env, cwd=HERE.parent
    )
    if proc.returncode != 0:
        raise SystemExit(f"stage {args[0] if args else ''} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_stage(stage: str, home: Path, customers: int, months: int, sample: int) -> dict:
    return run_stage_process(__file__, stage, str(home), str(customers), str(months), str(sample))


def machine() -> str:
    import os

    mem = ""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        kb = int(next(line for line in lines if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def write_section(body: str, section: str = SECTION) -> None:
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n\nEach section is rewritten by its benchmark.\n"
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def publish(body: str, section: str, write: bool = True) -> None:
    """Replace the benchmark's section of RESULTS.md (unless ``write`` is off) and print it."""
    if write:
        write_section(body, section)
    print(body)


def entry(stage: Callable[..., dict], main: Callable[[], None]) -> None:
    """A benchmark file's entry point: ``--stage ARGS`` runs one stage in this fresh process and prints its JSON
    (what :func:`run_stage_process` reads); anything else runs the benchmark."""
    if sys.argv[1:2] == ["--stage"]:
        print(json.dumps(stage(*sys.argv[2:]), default=str))
    else:
        main()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--sample", type=int, default=20, help="customers for the per-snapshot baseline")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-foundation-") as tmp:
        home = Path(tmp)
        sim = run_stage("simulate", home, args.customers, args.months, args.sample)
        build = run_stage("build", home, args.customers, args.months, args.sample)
        ref = run_stage("reference", home, args.customers, args.months, args.sample)
    per_snapshot = ref["seconds"] / max(ref["snapshots"], 1)
    baseline_s = per_snapshot * build["snapshots"]
    speedup = baseline_s / build["seconds"]
    result = {"simulate": sim, "build": build, "reference": ref, "baseline_extrapolated_s": baseline_s}
    print(json.dumps(result, indent=2))
    ok = lambda s, mb: "met" if s <= 60 and mb <= 6144 else "NOT met"  # noqa: E731
    body = f"""
## Foundation: simulate and build ({args.customers:,} customers × {args.months} months)

Run `{Path(sys.executable).name} benchmarks/bench_foundation.py` on {datetime.now(UTC):%Y-%m-%d} ({machine()}).

| stage | rows | wall time | peak memory | target (≤ 60 s, ≤ 6 GB) |
|---|---|---|---|---|
| simulate (raw histories incl. 72-month burn-in, Parquet written) | {sum(sim["rows"].values()):,} raw records | {sim["seconds"]:.1f} s | {sim["peak_mb"]:,.0f} MB | {ok(sim["seconds"], sim["peak_mb"])} |
| build (snapshots + labels, offline store written) | {build["snapshots"]:,} snapshots | {build["seconds"]:.1f} s | {build["peak_mb"]:,.0f} MB | {ok(build["seconds"], build["peak_mb"])} |
| baseline: per-snapshot `known_at < T` loop, {args.sample} customers | {ref["snapshots"]:,} snapshots | {ref["seconds"]:.1f} s | {ref["peak_mb"]:,.0f} MB | — |
| baseline extrapolated to all snapshots | {build["snapshots"]:,} | {baseline_s / 3600:.1f} h | — | — |

Speed-up of the vectorised builder over the per-snapshot loop: **{speedup:,.0f}×** (the baseline's
per-snapshot cost is measured on a sample already filtered to its customers, which flatters it).
"""
    publish(body, SECTION, write=not args.no_write)


if __name__ == "__main__":
    entry(stage, main)
