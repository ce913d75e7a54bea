"""Uplift benchmark: randomised campaigns run on the closed-loop simulator, learned uplift against the oracle's.

    .venv/bin/python benchmarks/bench_uplift.py [--customers 30000] [--months 12] [--seeds 3] [--campaigns 4]

For each seed: a simulated world; then ``--campaigns`` months in which a random
share of the active customers is assigned at random — a quarter to the control
group, the rest evenly to each action — and the world is stepped with the
treatments (`churn.closed_loop.step`, the API `churn simulate step` uses), then
two empty steps so the last campaign's three-month window matures. Each month's
assignment is recorded as a campaign in the platform's treatment-log shape
(`churn.campaigns.campaign_rows`), its outcomes are read by the readout's own
`churned_within`, and features are the point-in-time snapshot at assignment,
built from the final raw data.

Coverage: each campaign and action is also read back by `churn.campaigns.readout`
over a one-month window, where the true average effect is known exactly (the mean
uplift oracle of the action's customers, treated and control: the assignment is
random); the share of 95% intervals that cover it is reported (target: 18 in 20). The T-learner (`training.uplift`) learns from all
campaigns but the last; on the last (held out), each action's Qini coefficient of
the learned ranking is compared with the uplift oracle's ranking (the true
effect at assignment) and with ranking by the true churn hazard (what risk
targeting does), on the same customers and outcomes. Target (issue 21): learned
Qini ≥ 0.7 × the oracle's. Results go to RESULTS.md (section ``uplift``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_foundation import machine, publish  # noqa: E402

from churn.campaigns import campaign_rows, churned_within, readout  # noqa: E402
from churn.closed_loop import active_customers, step, world_of  # noqa: E402
from churn.raw import UPLIFT_FILE, load_raw, save_raw  # noqa: E402
from churn.schema import ENTITY, MODEL_FEATURES, PARTITION  # noqa: E402
from churn.simulate import SimulationConfig, simulate  # noqa: E402
from churn.temporal import build_snapshots  # noqa: E402
from churn.timeutil import month_label, month_start  # noqa: E402
from churn.treatment_effects import ACTIONS, EFFECT_MONTHS  # noqa: E402
from churn.uplift_metrics import qini  # noqa: E402
from training.encoding import FeatureEncoder  # noqa: E402
from training.uplift import held_out_qini  # noqa: E402

CONTROL_SHARE = 0.25


def assign(ids: list[str], share: float, rng: np.random.Generator, month: int) -> pd.DataFrame:
    """A random ``share`` of ``ids`` as a campaign in the treatment log's shape: a quarter control, the rest
    treated, each customer's action drawn evenly over the actions (a control keeps the action it was drawn)."""
    chosen = np.asarray(ids, dtype=object)[rng.random(len(ids)) < share]
    control = rng.random(len(chosen)) < CONTROL_SHARE
    action = np.asarray(ACTIONS, dtype=object)[rng.integers(0, len(ACTIONS), size=len(chosen))]
    plan = pd.DataFrame({ENTITY: chosen, "targeted": ~control, "control": control, "best_action": action,
                         "cost": 0.0, "clv": 0.0})  # fmt: skip
    rows = campaign_rows(plan, f"bench-{month_label(month)}", month_start(month), CONTROL_SHARE)
    return rows.assign(month=month)


def run_world(folder: Path, customers: int, months: int, seed: int, campaigns: int, share: float) -> dict:
    began = time.perf_counter()
    save_raw(simulate(SimulationConfig(customers=customers, months=months, seed=seed)), folder)
    logged, step_seconds = [], []
    rng = np.random.default_rng([seed, 21])
    for k in range(campaigns + EFFECT_MONTHS - 1):
        config, _ = world_of(folder)
        month = config.start_index + config.months
        plan = None
        if k < campaigns:
            rows = assign(sorted(active_customers(folder, month)[0]), share, rng, month)
            logged.append(rows)
            plan = rows[rows["arm"] == "treated"][[ENTITY, "action"]]
        t0 = time.perf_counter()
        raw, _ = step(folder, plan)
        step_seconds.append(time.perf_counter() - t0)
        save_raw(raw, folder)
    raw, log = load_raw(folder), pd.concat(logged, ignore_index=True)
    clock = world_of(folder)[0].start_index + world_of(folder)[0].months
    frame = _with_outcomes(raw, log, folder)
    return {"frame": frame, "coverage": _coverage(log, raw, frame, clock), "step_seconds": step_seconds,
            "world_seconds": time.perf_counter() - began}  # fmt: skip


def _with_outcomes(raw, log: pd.DataFrame, folder: Path) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Each assignment with its snapshot features at assignment, churn in its window and the oracle's truth."""
    snaps = build_snapshots(raw).features
    snaps = snaps.assign(**{ENTITY: snaps[ENTITY].astype(str), PARTITION: snaps[PARTITION].astype(str)})
    log = log.assign(**{PARTITION: [month_label(m) for m in log["month"]],
                        "churned": churned_within(log, raw.tables["churn_events"], EFFECT_MONTHS)})  # fmt: skip
    frame = log.merge(snaps, on=[ENTITY, PARTITION], how="inner")
    truth = pd.read_parquet(folder / UPLIFT_FILE).astype({ENTITY: str, PARTITION: str})
    oracle = pd.read_parquet(folder / "oracle_hazard.parquet").astype({ENTITY: str, PARTITION: str})
    return frame.merge(truth, on=[ENTITY, PARTITION], how="left").merge(oracle, on=[ENTITY, PARTITION], how="left")


def _coverage(log: pd.DataFrame, raw, frame: pd.DataFrame, clock: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Each campaign and action read back over one month: its 95% interval against the true average effect."""
    out = []
    for campaign, rows in frame.groupby("campaign", sort=True):
        result = readout(log, raw.tables["churn_events"], clock, str(campaign), months=1)
        for action, read in result["actions"].items():
            mine = rows[rows["action"] == action]
            true = float(mine[f"uplift_{action}"].mean())
            low, high = read["effect_ci95"]
            out.append({"campaign": str(campaign), "action": action, "effect": read["effect"], "low": low,
                        "high": high, "true": true, "covered": bool(low <= true <= high)})  # fmt: skip
    return out


def evaluate(frame: pd.DataFrame, seed: int) -> dict:
    """The platform's held-out report (`training.uplift.held_out_qini`), with ranking by risk beside it."""
    features = [f for f in MODEL_FEATURES if f in frame]
    t0 = time.perf_counter()
    report = held_out_qini(frame, FeatureEncoder.for_features(features), seed)
    fit_seconds = time.perf_counter() - t0
    test = frame[frame["month"] == frame["month"].max()].reset_index(drop=True)
    control = (test["arm"] == "control").to_numpy()
    y = test["churned"].to_numpy(bool)
    out: dict = {"train_rows": report["train_rows"], "test_rows": report["test_rows"],
                 "fit_seconds": round(fit_seconds, 1), "skipped": report["skipped"], "actions": {}}  # fmt: skip
    for action, entry in report["actions"].items():
        rows = control | ((test["arm"] == "treated") & (test["action"] == action)).to_numpy()
        treated = ~control[rows]
        out["actions"][action] = {
            "qini_learned": round(entry["qini"], 5),
            "qini_oracle": round(entry["qini_oracle"], 5),
            "qini_risk": round(qini(test["hazard"].to_numpy()[rows], treated, y[rows]), 5),
            "ratio": round(entry["ratio_to_oracle"], 3) if entry["ratio_to_oracle"] is not None else None,
            "treated": entry["treated"],
            "control": entry["control"],
            "observed_effect": round(float(y[rows][~treated].mean() - y[rows][treated].mean()), 4),
            "true_mean_uplift": round(float(test[f"uplift_{action}"].to_numpy()[rows][treated].mean()), 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=30_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument("--share", type=float, default=0.5, help="Share of the active customers assigned each month.")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-uplift-") as tmp:
        for s in range(args.seeds):
            world = run_world(Path(tmp) / f"w{s}", args.customers, args.months, 100 + s, args.campaigns, args.share)
            result = evaluate(world["frame"], 100 + s)
            result.update(seed=100 + s, world_seconds=round(world["world_seconds"], 1), coverage=world["coverage"],
                          step_seconds=round(float(np.mean(world["step_seconds"])), 1))  # fmt: skip
            print(json.dumps(result), flush=True)
            results.append(result)
    rows = "".join(
        f"| {r['seed']} | {a} | {v['treated']:,} / {v['control']:,} | {v['observed_effect']:+.4f} | "
        f"{v['true_mean_uplift']:+.4f} | {v['qini_learned']:+.5f} | {v['qini_oracle']:+.5f} | {v['qini_risk']:+.5f} | "
        f"{v['ratio'] if v['ratio'] is not None else 'n/a'} |\n"
        for r in results
        for a, v in r["actions"].items()
    )
    by_action = {a: [r["actions"][a]["ratio"] for r in results if a in r["actions"]] for a in ACTIONS}
    summary = "".join(
        f"| {a} | {np.mean([q for q in v if q is not None]):.3f} | {sum(q is not None and q >= 0.7 for q in v)}/{len(v)} |\n"
        for a, v in by_action.items()
        if v
    )
    steps = np.mean([r["step_seconds"] for r in results])
    trials = [c for r in results for c in r["coverage"]]
    covered = sum(c["covered"] for c in trials)
    verdicts = "".join(
        f"| {a} | {np.mean([c['true'] for c in trials if c['action'] == a]):+.4f} | "
        f"{np.mean([c['effect'] for c in trials if c['action'] == a]):+.4f} | "
        f"{sum(c['covered'] for c in trials if c['action'] == a)}/{sum(c['action'] == a for c in trials)} |\n"
        for a in ACTIONS
    )
    body = f"""
## Uplift: randomised campaigns on the closed-loop simulator ({args.customers:,} customers, {args.seeds} seeds)

Run `python benchmarks/bench_uplift.py --customers {args.customers} --months {args.months} --seeds {args.seeds}
--campaigns {args.campaigns} --share {args.share}` on {datetime.now(UTC):%Y-%m-%d} ({machine()}).

Each month of {args.campaigns}, {args.share:.0%} of the active customers are assigned at random (a quarter control, the
rest evenly over {", ".join(ACTIONS)}) and the world is stepped with the treatments; outcome: churn within the
3-month window. The T-learner (`training/uplift.py`) learns from the first {args.campaigns - 1} campaigns; Qini
coefficients on the held-out last one, per action, for the learned ranking, the uplift oracle's ranking (true
effect at assignment) and ranking by the true hazard (risk targeting), on the same customers and outcomes. A
`churn simulate step` here took {steps:.1f} s on average (the world is rerun with one more month).

| seed | action | treated / control | observed effect (control − treated churn) | true mean uplift (this month's hazard) | Qini learned | Qini oracle | Qini by risk | learned / oracle |
|---|---|---|---|---|---|---|---|---|
{rows}
| action | mean learned / oracle Qini | seeds ≥ 0.7 (target) |
|---|---|---|
{summary}
Campaign readouts over one month (`churn.campaigns.readout`, Newcombe 95% interval of control − treated churn)
against the true average effect of the action on its customers: **{covered} of {len(trials)}** intervals cover it
({covered / max(len(trials), 1):.0%}; target ≥ 90%).

| action | true average effect (mean) | measured effect (mean) | covered |
|---|---|---|---|
{verdicts}"""
    publish(body, "uplift", write=not args.no_write)


if __name__ == "__main__":
    main()
