"""Drift-check speed: our statistics and the full `churn drift` at 100,000 and 1,000,000 rows per window.

    .venv/bin/python benchmarks/bench_drift.py [--base 5000]

Trains a champion on a small simulated population (``--base`` customers × 12
months), then rewrites the last two snapshot months with copies of it under new
ids, 100,000 and then 1,000,000 customers per month (the same distribution;
the simulator's burn-in cost is not what this measures). Each stage runs in a
fresh process and reports wall time and peak memory:

- statistics: PSI and KL for every feature plus the score shift (`assess`, the
  verdict function) on windows already in memory;
- `check` without the report: reading both windows, scoring them with the
  champion, matured labels, statistics, summary JSON;
- `check` with the reports (Evidently's data drift on at most 200,000 sampled
  rows per window, classification quality, our summary page);
- baseline, same run: Evidently's DataDriftPreset alone on the full windows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from bench_foundation import entry, machine, run_stage_process, write_section  # noqa: E402


def stage(*argv: str) -> dict:
    """One stage in a fresh process (its own peak memory): `python <this file> --stage NAME ARGS...`."""
    import resource
    import time
    from pathlib import Path

    stage, home, project, ref, cur = argv[0:5]
    from churn.settings import Settings

    settings = Settings(home=Path(home), feast_project=project)
    out = {}
    if stage in ("stats", "evidently"):
        from churn.drift_thresholds import DriftThresholds
        from churn.offline import read_snapshots
        from monitoring.drift_check import assess
        from training import registry

        model = registry.load_champion(settings)
        r = read_snapshots(settings.snapshots_dir, [ref[:7]])
        c = read_snapshots(settings.snapshots_dir, [cur[:7]])
        rp, cp = model.predict_proba(r), model.predict_proba(c)
        t = time.perf_counter()
        if stage == "stats":
            assess(r, c, model.features, rp, cp, None, {}, DriftThresholds())
        else:
            from evidently import Report
            from evidently.presets import DataDriftPreset

            cols = [*model.features, "probability"]
            Report([DataDriftPreset(columns=cols, method="psi")]).run(
                c[model.features].assign(probability=cp), r[model.features].assign(probability=rp)
            ).save_html(str(Path(home) / "baseline.html"))
        out["rows"] = len(c)
        out["features"] = len(model.features)
    else:
        from monitoring.drift_check import check

        t = time.perf_counter()
        result = check(settings, ref, cur, report=(stage == "report"))
        out["rows"] = result["current"]["rows"]
        out["drift_detected"] = result["drift_detected"]
    out["seconds"] = time.perf_counter() - t
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def build_home(home: Path, project: str, base: int) -> tuple[str, str]:
    from churn.simulate import SimulationConfig
    from harness.homes import prepare_home
    from harness.settings import make_settings
    from training.config import DEFAULT_GRID, TrainConfig

    settings = make_settings(home, project)
    config = TrainConfig(folds=2, bootstrap=0, grid=DEFAULT_GRID[:1], report=False)
    prepare_home(settings, SimulationConfig(customers=base, months=12, seed=42), config)
    from churn.offline import snapshot_months

    months = snapshot_months(settings.snapshots_dir)[-2:]
    return f"{months[0]}-01", f"{months[1]}-01"


def resize(home: Path, project: str, customers: int, months: list[str], base: dict) -> None:
    """Replace the two months' snapshots by ``customers`` copies of the base population under new ids."""
    import pandas as pd

    from harness.settings import make_settings

    settings = make_settings(home, project)
    for month in months:
        snaps = base[month]
        copies = -(-customers // len(snaps))
        big = pd.concat([snaps.assign(customer_id=snaps.customer_id + f"-{c:04d}") for c in range(copies)])
        folder = settings.snapshots_dir / f"snapshot_month={month}"
        big.iloc[:customers].to_parquet(folder / "part-0.parquet", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=5000)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from churn.offline import read_snapshots
    from harness.settings import make_settings, unique_project

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        home, project = Path(tmp), unique_project("drift")
        ref, cur = build_home(home, project, args.base)
        months = [ref[:7], cur[:7]]
        settings = make_settings(home, project)
        base = {m: read_snapshots(settings.snapshots_dir, [m]).drop(columns=["snapshot_month"]) for m in months}
        for size in (int(s) for s in args.sizes.split(",")):
            resize(home, project, size, months, base)
            stages = ["stats", "check", "report"] + (["evidently"] if size <= 200_000 else [])
            for stage in stages:
                out = run_stage_process(__file__, stage, str(home), project, ref, cur)
                rows.append({"size": size, "stage": stage, **out})
                print(rows[-1], flush=True)
    print(render(rows, args))
    if not args.no_write:
        write_section(render(rows, args), "drift")


def render(rows: list[dict], args: argparse.Namespace) -> str:
    label = {
        "stats": "our statistics (PSI + KL per feature, score shift)",
        "check": "`check` without the report (read, score both windows, labels, statistics, JSON)",
        "report": "`check` with the reports (Evidently on ≤ 200k sampled rows, quality page, summary page)",
        "evidently": "baseline: Evidently DataDriftPreset alone on the full windows",
    }
    target = {(100_000, "stats"): 1.0, (100_000, "report"): 15.0, (1_000_000, "report"): 30.0}
    lines = [
        "## Drift check: speed",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {machine()}. Command: `.venv/bin/python benchmarks/bench_drift.py` "
        f"(champion trained on {args.base:,} simulated customers × 12 months; each window then holds copies of that "
        f"population under new ids; {rows[0].get('features', '?')} features + the score; the issue's "
        "target is stated for 20 features).",
        "",
        "| rows per window | stage | wall time | peak memory | target |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        goal = target.get((r["size"], r["stage"]))
        verdict = f"≤ {goal:g} s: {'met' if r['seconds'] <= goal else 'NOT met'}" if goal else ""
        lines.append(
            f"| {r['size']:,} | {label[r['stage']]} | {r['seconds']:.2f} s | {r['peak_mb'] / 1024:.2f} GB | {verdict} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    entry(stage, main)
