"""`churn demo` and `churn replay`: the platform's sequences, run here with plain calls (the flows run them too)."""

from __future__ import annotations

import typer
from rich.table import Table

from churn.settings import get_settings
from cli.common import JSON_OPTION, emit, err_console, handle_errors, output_console
from training.config import TrainConfig


@handle_errors
def demo_cmd(
    customers: int = typer.Option(20_000, help="Simulated customers."),
    months: int = typer.Option(24, help="Simulated months."),
    seed: int = typer.Option(42, help="Simulation seed."),
    bootstrap: int = typer.Option(50, help="Bootstrap resamples for the metrics' intervals."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The platform end to end (the demo flow's sequence, without Prefect); prints where every output is."""
    from operations.demo import demo, summary

    settings = get_settings()
    run = demo(settings, customers, months, seed, bootstrap, progress=lambda m: err_console.print(f"[dim]demo: {m}[/]"))
    emit(summary(settings, run), as_json, "demo: every output")
    if not as_json:
        err_console.print(
            f"\nStart the API:  CHURN_HOME={settings.home_dir} .venv/bin/churn serve --port 3000\n"
            "Ask it:         curl -s -X POST localhost:3000/predict_churn -H 'Content-Type: application/json' "
            '-d \'{"customer_id": "<an id from the action plan>", "explain": true}\''
        )


@handle_errors
def replay_cmd(
    months: int = typer.Option(..., "--months", help="Replay the last N months of the data in CHURN_HOME."),
    bootstrap: int = typer.Option(20, help="Bootstrap resamples when a cycle trains."),
    folds: int = typer.Option(TrainConfig.folds, help="Expanding-window tuning folds when a cycle trains."),
    keep: bool = typer.Option(False, "--keep", help="Keep the replay's own home (plans, reports) under replays/."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Move the platform clock month by month through the scheduled cycle, in a home of its own."""
    from operations.replay import replay

    config = TrainConfig(bootstrap=bootstrap, folds=folds, report=False)
    result = replay(get_settings(), months, config, progress=lambda m: err_console.print(f"[dim]replay: {m}[/]"),
                    keep=keep)  # fmt: skip
    if as_json:
        emit(result, True, "replay")
        return
    rows = result["months"]
    table = Table(title=f"replay of the last {months} months (your champion and stores untouched)")
    for column in ("month", "drift", "drifted features", "retrained", "promoted", "champion", "plan size", "net EV"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["month"], "ALARM" if r["drift_detected"] else "-", ", ".join(r["drifted_features"]) or "-",
            "yes" if r["retrained"] else "-", "yes" if r["promoted"] else "-", str(r["champion"]).split(":")[-1],
            f"{r['plan_size']:,}", f"{r['expected_net_value']:,.0f}",
        )  # fmt: skip
    output_console().print(table)
    if result["home"]:
        err_console.print(f"the replay's plans and reports: {result['home']}")
