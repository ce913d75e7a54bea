"""`make demo` through the flows: simulate → build → apply → materialize → train → score → decide → drift.

``python -m flows.demo`` runs it on Prefect's ephemeral API (no server to
start). Prefect gives that server ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``
to come up (its default, 20 s, is too short on a loaded laptop; the Makefile sets
180); if it still does not start, the demo says so in one line and what to do.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from prefect import flow, get_run_logger

from churn.console_warnings import silence_dependency_warnings
from churn.settings import get_settings
from flows import notify
from flows.tasks import TASKS
from operations.demo import demo, summary


@flow(name="demo", log_prints=True)
def demo_flow(customers: int = 20_000, months: int = 24, seed: int = 42, bootstrap: int = 50) -> dict[str, Any]:
    """The whole platform on the active profile; returns where every output landed."""
    settings = get_settings()
    run = demo(settings, customers, months, seed, bootstrap, TASKS, get_run_logger().info)
    notify.materialization(run["online"])
    notify.training(settings, run["trained"])
    notify.plan(run["plan"])
    notify.drift(settings, run["drift"])
    return summary(settings, run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.demo", description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bootstrap", type=int, default=50)
    args = parser.parse_args(argv)
    silence_dependency_warnings()
    try:
        result = demo_flow(customers=args.customers, months=args.months, seed=args.seed, bootstrap=args.bootstrap)
    except RuntimeError as err:
        if "ephemeral Prefect API server" not in str(err):
            raise
        sys.stderr.write(
            "error: Prefect's local API server did not start in time — raise "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (the Makefile sets 180), or start one with "
            "`prefect server start` and set PREFECT_API_URL, or run `churn demo`, which needs no Prefect\n"
        )
        return 2
    json.dump(result, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
