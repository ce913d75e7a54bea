"""Lifetime value from the survival model against the simulator's truth, on seeds never used in development.

    .venv/bin/python benchmarks/bench_clv.py [--customers 20000] [--months 24] [--seeds 2718 3141 1618]

Per seed, in a fresh process: simulate, build, train as `churn train` does (one tuning configuration, two folds,
no bootstrap), which fits, judges and registers the lifetime model; its ``clv`` block holds the Spearman
correlation and median relative error of model CLV and of the formula's CLV against the true CLV of every
customer of the first test month (churn/true_value.py). Then the replay (`churn evaluate-policy`) on the latest
labelled month: EV targeting valued by the formula, by the model and by the truth, every saved customer worth
their true CLV. Last, the cost of valuing customers: survival curves for 200,000 rows against the baseline of
the same run, the churn probability alone on the same rows. The seeds below were fixed before the first run and
are used nowhere else; the targets (Spearman ≥ 0.9, median error ≤ 15%) are the issue's, not tuned to.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_foundation import entry, machine, publish, run_stage_process

SECTION = "clv"
HIDDEN_SEEDS = (2718, 3141, 1618)
VALUED_ROWS = 200_000
HERE_RUNS = Path(__file__).resolve().parent / "clv_runs.json"  # the last run's figures, re-rendered by --runs


def stage(home_text: str, customers_text: str, months_text: str, seed_text: str) -> dict:
    import time

    import numpy as np

    from batch.policy_evaluation import evaluate
    from churn.offline import read_snapshots, snapshot_months, write_offline
    from churn.raw import save_raw
    from churn.simulate import SimulationConfig, simulate
    from churn.temporal import build_snapshots
    from harness.settings import make_settings, unique_project
    from store.feast_store import apply
    from training import registry
    from training.config import DEFAULT_GRID, TrainConfig
    from training.lifetime import load_champion_lifetime
    from training.train import train

    settings = make_settings(Path(home_text), unique_project("bench_clv"))
    raw = simulate(SimulationConfig(customers=int(customers_text), months=int(months_text), seed=int(seed_text)))
    save_raw(raw, settings.raw_dir)
    write_offline(build_snapshots(raw), settings.snapshots_dir, settings.labels_path)
    apply(settings)
    result = train(settings, TrainConfig(folds=2, bootstrap=0, grid=DEFAULT_GRID[1:2], report=False))
    clv = result.clv or {}
    policy = evaluate(settings)

    lifetime = load_champion_lifetime(settings, nthread=2)
    model = registry.load_champion(settings, nthread=2)
    assert lifetime is not None
    month = snapshot_months(settings.snapshots_dir)[-1]
    frame = read_snapshots(settings.snapshots_dir, [month])
    rows = frame.iloc[np.resize(np.arange(len(frame)), VALUED_ROWS)].reset_index(drop=True)
    t = time.perf_counter()
    model.predict_proba(rows)
    baseline = time.perf_counter() - t
    t = time.perf_counter()
    lifetime.summary(lifetime.curves(rows))
    valued = time.perf_counter() - t
    return {
        "seed": int(seed_text),
        "clv": {k: clv.get(k) for k in ("spearman_vs_true", "median_abs_error_vs_true", "formula", "test", "sbg")},
        "truth_customers": (clv.get("truth") or {}).get("customers"),
        "lifetime_seconds": result.seconds.get("lifetime_model"),
        "valuations": policy.get("valuations"),
        "model_clv_over_formula_net_value": policy.get("model_clv_over_formula_net_value"),
        "probability_seconds": baseline,
        "survival_seconds": valued,
    }


def _net(run: dict, valuation: str) -> str:
    rows = {v["policy"]: v for v in run.get("valuations") or []}
    row = rows.get(f"ev_budget, {valuation} CLV")
    return f"{row['net_value']:,.0f} ({row['targeted']:,} targeted)" if row else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(HIDDEN_SEEDS))
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--runs", type=Path, help="render the runs a previous invocation saved (runs JSON)")
    args = parser.parse_args()
    saved = HERE_RUNS
    if args.runs:
        runs = json.loads(args.runs.read_text())
    else:
        runs = []
        for seed in args.seeds:
            with tempfile.TemporaryDirectory(prefix="bench-clv-") as tmp:
                runs.append(run_stage_process(__file__, tmp, str(args.customers), str(args.months), str(seed)))
        saved.write_text(json.dumps(runs, indent=1))
    print(json.dumps(runs, indent=2))
    lines = []
    for r in runs:
        c, f = r["clv"], r["clv"]["formula"]
        lines.append(
            f"| {r['seed']} | {c['spearman_vs_true']:.3f} | {f['spearman_vs_true']:.3f} | "
            f"{c['median_abs_error_vs_true']:.1%} | {f['median_abs_error_vs_true']:.1%} | "
            f"{c['test']['concordance']:.3f} | {c['test']['integrated_brier']:.4f} | "
            f"{_net(r, 'formula')} → {_net(r, 'model')} (truth: {_net(r, 'true (the limit)')}) | "
            f"{r['lifetime_seconds']:.1f} s |"
        )
    spearman = [r["clv"]["spearman_vs_true"] for r in runs]
    error = [r["clv"]["median_abs_error_vs_true"] for r in runs]
    met = min(spearman) >= 0.9 and max(error) <= 0.15
    per_row = [(r["survival_seconds"], r["probability_seconds"]) for r in runs]
    sbg = runs[0]["clv"]["sbg"]
    sbg_lines = "\n".join(
        f"| {s['contract']} | {s['customers']:,} | {s['observed_survival_end']:.3f} | {s['sbg_survival_end']:.3f} | "
        f"{s['sbg_expected_lifetime_60m']:.1f} | {s['model_expected_lifetime_60m']:.1f} |"
        for s in sbg
    )
    val = runs[0]["valuations"] or []
    val_lines = "\n".join(
        f"| {v['policy']} | {v['targeted']:,} | {v['spend']:,.0f} | {v['saved']:,} | {v['net_value']:,.0f} |"
        for v in val
    )
    body = f"""
## Lifetime value: survival model against the truth ({args.customers:,} customers × {args.months} months)

Run `{Path(sys.executable).name} benchmarks/bench_clv.py` on {datetime.now(UTC):%Y-%m-%d} ({machine()}).
Seeds {", ".join(str(s) for s in args.seeds)}, fixed before the first run and used nowhere else. Truth: the
simulator's expected discounted margin over 60 months under no action, for every customer of the first test
month (16 survivor-weighted copies per customer, churn/true_value.py). Targets: Spearman ≥ 0.9 and median
relative error ≤ 15%: **{"met" if met else "NOT met"}** (worst seed: Spearman {min(spearman):.3f}, error
{max(error):.1%}).

| seed | Spearman, model | Spearman, formula | median error, model | median error, formula | concordance (test month, 3 months) | integrated Brier | replay: realised net value of EV within budget, formula CLV → model CLV | lifetime step of `churn train` |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(lines)}

Cross-check of the 60-month extrapolation, seed {runs[0]["seed"]}: the shifted-beta-geometric model fitted per
contract type on the first month's cohort (in sample), against the survival model on the same customers.

| contract | customers | observed survival at the follow-up's end | sBG there | sBG expected months (60) | model expected months (60) |
|---|---|---|---|---|---|
{sbg_lines}

The replay on the latest labelled month, seed {runs[0]["seed"]} (`churn evaluate-policy`): the same EV targeting
valued three ways, every saved customer worth their true CLV.

| policy | targeted | spend | saved | realised net value |
|---|---|---|---|---|
{val_lines}

On these months few offers pay at all: the simulated offers save a would-be churner this month only, and the
customers most at risk are also those with the shortest future. The formula values every customer as if retained
at a 2% hazard, so EV targets hundreds and loses money; the model's (and the truth's) valuation targets a
handful and loses far less. This is the trade the decision engine inherits from its valuation.

Cost of valuing customers ({VALUED_ROWS:,} rows, 60 monthly projections each): survival curves
{", ".join(f"{s:.1f} s" for s, _ in per_row)} against the baseline of the same runs, the churn probability alone,
{", ".join(f"{p:.2f} s" for _, p in per_row)}; batch scoring of a million customers pays about five times the
first figure more.
"""
    publish(body, SECTION, write=not args.no_write)


if __name__ == "__main__":
    entry(stage, main)
