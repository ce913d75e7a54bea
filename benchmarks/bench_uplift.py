"""Uplift benchmark: randomised campaigns run on the closed-loop simulator, learned uplift against the oracle's.

    .venv/bin/python benchmarks/bench_uplift.py [--customers 30000] [--months 12] [--seeds 3] [--campaigns 4]

For each seed: a simulated world; then ``--campaigns`` months in which a random
share of the active customers is assigned at random — a quarter to the control
group, the rest evenly to each action — and the world is stepped with the
treatments (`churn.closed_loop.step`, the API `churn simulate step` uses), then
two empty steps so the last campaign's three-month window matures. Outcome:
churn within the window. Features: the point-in-time snapshot at assignment,
built from the final raw data. The T-learner (`training.uplift`) learns from all
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

from churn.closed_loop import active_customers, step, world_of  # noqa: E402
from churn.raw import UPLIFT_FILE, load_raw, save_raw  # noqa: E402
from churn.schema import ENTITY, MODEL_FEATURES, PARTITION  # noqa: E402
from churn.simulate import SimulationConfig, simulate  # noqa: E402
from churn.temporal import build_snapshots  # noqa: E402
from churn.timeutil import month_index_of_ns, month_label  # noqa: E402
from churn.treatment_effects import ACTIONS, EFFECT_MONTHS  # noqa: E402
from churn.uplift_metrics import qini  # noqa: E402
from training.encoding import FeatureEncoder  # noqa: E402
from training.uplift import fit_uplift  # noqa: E402

CONTROL_SHARE = 0.25


def assign(ids: list[str], share: float, rng: np.random.Generator) -> pd.DataFrame:
    """A random ``share`` of ``ids``: a quarter control, the rest evenly over the actions."""
    chosen = np.asarray(ids, dtype=object)[rng.random(len(ids)) < share]
    control = rng.random(len(chosen)) < CONTROL_SHARE
    action = np.asarray(ACTIONS, dtype=object)[rng.integers(0, len(ACTIONS), size=len(chosen))]
    return pd.DataFrame({ENTITY: chosen, "action": action, "arm": np.where(control, "control", "treated")})


def run_world(folder: Path, customers: int, months: int, seed: int, campaigns: int, share: float) -> dict:
    began = time.perf_counter()
    save_raw(simulate(SimulationConfig(customers=customers, months=months, seed=seed)), folder)
    assignments, step_seconds = [], []
    rng = np.random.default_rng([seed, 21])
    for k in range(campaigns + EFFECT_MONTHS - 1):
        config, _ = world_of(folder)
        month = config.start_index + config.months
        plan = None
        if k < campaigns:
            drawn = assign(sorted(active_customers(folder, month)[0]), share, rng).assign(month=month)
            assignments.append(drawn)
            plan = drawn[drawn["arm"] == "treated"][[ENTITY, "action"]]
        t0 = time.perf_counter()
        raw, _ = step(folder, plan)
        step_seconds.append(time.perf_counter() - t0)
        save_raw(raw, folder)
    raw = load_raw(folder)
    frame = _with_outcomes(raw, pd.concat(assignments, ignore_index=True), folder)
    return {"frame": frame, "step_seconds": step_seconds, "world_seconds": time.perf_counter() - began}


def _with_outcomes(raw, assigned: pd.DataFrame, folder: Path) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Each assignment with its snapshot features at assignment, churn in its window and the oracle's truth."""
    snaps = build_snapshots(raw).features
    snaps = snaps.assign(**{ENTITY: snaps[ENTITY].astype(str), PARTITION: snaps[PARTITION].astype(str)})
    assigned = assigned.assign(**{PARTITION: [month_label(m) for m in assigned["month"]]})
    frame = assigned.merge(snaps, on=[ENTITY, PARTITION], how="inner")
    events = raw.tables["churn_events"]
    left = dict(zip(events[ENTITY].astype(str),
                    month_index_of_ns(events["churned_at"].to_numpy("datetime64[ns]").astype(np.int64)), strict=True))  # fmt: skip
    churn_month = frame[ENTITY].map(left).fillna(1 << 40).to_numpy(np.int64)
    frame["churned"] = (churn_month >= frame["month"]) & (churn_month < frame["month"] + EFFECT_MONTHS)
    truth = pd.read_parquet(folder / UPLIFT_FILE).astype({ENTITY: str, PARTITION: str})
    oracle = pd.read_parquet(folder / "oracle_hazard.parquet").astype({ENTITY: str, PARTITION: str})
    return frame.merge(truth, on=[ENTITY, PARTITION], how="left").merge(oracle, on=[ENTITY, PARTITION], how="left")


def evaluate(frame: pd.DataFrame, seed: int) -> dict:
    features = [f for f in MODEL_FEATURES if f in frame]
    encoder = FeatureEncoder.for_features(features)
    last = frame["month"].max()
    train, test = frame[frame["month"] < last], frame[frame["month"] == last].reset_index(drop=True)
    t0 = time.perf_counter()
    model = fit_uplift(train, encoder, seed)
    fit_seconds = time.perf_counter() - t0
    learned = model.uplift(test)
    out: dict = {"train_rows": len(train), "test_rows": len(test), "fit_seconds": round(fit_seconds, 1),
                 "skipped": model.skipped, "actions": {}}  # fmt: skip
    control = (test["arm"] == "control").to_numpy()
    y = test["churned"].to_numpy(bool)
    for action in model.actions:
        rows = control | ((test["arm"] == "treated") & (test["action"] == action)).to_numpy()
        treated = ~control[rows]
        scores = {
            "learned": learned[f"uplift_{action}"].to_numpy()[rows],
            "oracle": test[f"uplift_{action}"].to_numpy()[rows],
            "risk": test["hazard"].to_numpy()[rows],
        }
        q = {name: qini(s, treated, y[rows]) for name, s in scores.items()}
        effect = y[rows][~treated].mean() - y[rows][treated].mean()
        out["actions"][action] = {
            **{f"qini_{k}": round(v, 5) for k, v in q.items()},
            "ratio": round(q["learned"] / q["oracle"], 3) if q["oracle"] > 0 else None,
            "treated": int(treated.sum()),
            "control": int((~treated).sum()),
            "observed_effect": round(float(effect), 4),
            "true_mean_uplift": round(float(scores["oracle"][treated].mean()), 4),
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
            result.update(seed=100 + s, world_seconds=round(world["world_seconds"], 1),
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
{summary}"""
    publish(body, "uplift", write=not args.no_write)


if __name__ == "__main__":
    main()
