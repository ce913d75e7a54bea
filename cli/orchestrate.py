"""`churn demo` and `churn replay`: the flows, run in this process on Prefect's ephemeral API."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from churn.settings import get_settings
from cli.common import JSON_OPTION, emit, err_console, handle_errors


@handle_errors
def demo_cmd(
    customers: int = typer.Option(20_000, help="Simulated customers."),
    months: int = typer.Option(24, help="Simulated months."),
    seed: int = typer.Option(42, help="Simulation seed."),
    bootstrap: int = typer.Option(50, help="Bootstrap resamples for the metrics' intervals."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The platform end to end through the Prefect flows; prints where every output is and how to query the API."""
    from flows.demo import demo_flow

    result = demo_flow(customers=customers, months=months, seed=seed, bootstrap=bootstrap)
    emit(result, as_json, "demo: every output")
    if not as_json:
        settings = get_settings()
        err_console.print(
            f"\nStart the API:  CHURN_HOME={settings.home_dir} churn serve --port 3000\n"
            "Ask it:         curl -s -X POST localhost:3000/predict_churn -H 'Content-Type: application/json' "
            '-d \'{"customer_id": "<an id from the action plan>", "explain": true}\''
        )


@handle_errors
def replay_cmd(
    months: int = typer.Option(..., "--months", help="Replay the last N months of the data in CHURN_HOME."),
    bootstrap: int = typer.Option(20, help="Bootstrap resamples when a cycle trains."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Move the platform clock month by month through the scheduled cycle: drift, retraining, promotion, plan."""
    from flows.cycle import replay

    rows = replay(months, bootstrap, progress=lambda msg: err_console.print(f"[dim]replay: {msg}[/]"))
    if as_json:
        emit({"months": rows}, True, "replay")
        return
    table = Table(title=f"replay of the last {months} months")
    for column in ("month", "drift", "drifted features", "retrained", "promoted", "champion", "plan size", "net EV"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["month"], "ALARM" if r["drift_detected"] else "-", ", ".join(r["drifted_features"]) or "-",
            "yes" if r["retrained"] else "-", "yes" if r["promoted"] else "-", str(r["champion"]).split(":")[-1],
            f"{r['plan_size']:,}", f"{r['expected_net_value']:,.0f}",
        )  # fmt: skip
    Console().print(table)
