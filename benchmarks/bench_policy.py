"""Does EV targeting pay? The policy comparison on the default simulation, written to RESULTS.md.

    .venv/bin/python benchmarks/bench_policy.py [--customers 20000] [--months 24] [--seed 42]

Simulates the demo's population, builds, trains with the default grid, and runs
`churn evaluate-policy` on the latest labelled month (serving/evaluate.py).
The targets are the issue's: EV net value ≥ 1.2 × the top-10% policy's, and the
model's precision at the top 10% ≥ 1.86 × the rule's. The oracle's precision
(true hazard) is reported beside them: no model can rank better than it.
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
from bench_foundation import machine, write_section  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from batch.policy_evaluation import evaluate
    from churn.simulate import SimulationConfig
    from harness.homes import prepare_home
    from harness.settings import make_settings, unique_project
    from training.config import TrainConfig

    with tempfile.TemporaryDirectory(prefix="bench-policy-") as tmp:
        settings = make_settings(Path(tmp), unique_project("policy"))
        prepare_home(
            settings,
            SimulationConfig(customers=args.customers, months=args.months, seed=args.seed),
            TrainConfig(bootstrap=0, report=False),
        )
        result = evaluate(settings)
    rows = {p["policy"]: p for p in result["policies"]}
    lines = [
        f"## Policies: does EV targeting pay? ({args.customers:,} customers × {args.months} months, seed {args.seed})",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {machine()}. Command: `.venv/bin/python benchmarks/bench_policy.py`. "
        f"Month {result['month']}: {result['customers']:,} customers, churn rate {result['churn_rate']:.2%}; every "
        "policy on the same customers and the same simulated offer responses; the fixed action of the non-EV "
        "policies is the discount (cost 40, success 0.35).",
        "",
        "| policy | targeted | spend | saved | realised net value | cost per saved | ROI | precision@10% | EMP |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in rows.items():
        lines.append(
            f"| {name} | {p['targeted']:,} | {p['spend']:,.0f} | {p['saved']:,} | {p['net_value']:,.0f} | "
            f"{p['cost_per_saved'] if p['cost_per_saved'] is not None else '—'} | {p['roi']} | "
            f"{p['precision_at_10']:.3f} | {p['emp']:.4f} |"
        )
    ev, top, rule = rows["ev_positive"], rows["top10_probability"], rows["rule_based"]
    oracle = rows.get("oracle_top10")
    lines += [
        "",
        f"EV net value vs top-10%: {ev['net_value']:,.0f} vs {top['net_value']:,.0f} — target ≥ {result['targets']['ev_over_top10_net_value']}×: "
        f"{'met' if result['met']['ev_over_top10_net_value'] else 'NOT met'}"
        + (" (the top-10% policy loses money; EV does not)" if top["net_value"] <= 0 < ev["net_value"] else "")
        + ".",
        f"Model precision@10% vs the rule's: {top['precision_at_10']:.3f} / {rule['precision_at_10']:.3f} = "
        f"{result['ratios']['model_over_rule_precision_at_10']}× — target ≥ {result['targets']['model_over_rule_precision_at_10']}×: "
        f"{'met' if result['met']['model_over_rule_precision_at_10'] else 'NOT met'}."
        + (
            f" The oracle (true hazard) reaches {oracle['precision_at_10']:.3f}, "
            f"{oracle['precision_at_10'] / rule['precision_at_10']:.2f}× the rule: the ceiling of any model on "
            "this simulation."
            if oracle
            else ""
        ),
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(body, "policy")


if __name__ == "__main__":
    main()
