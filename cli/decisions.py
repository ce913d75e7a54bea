"""`churn score`, `churn decide` and `churn evaluate-policy`: batch scores, the action plan, and whether it pays."""

from __future__ import annotations

from pathlib import Path

import typer

from churn.drift_thresholds import DriftThresholds
from churn.settings import get_settings
from cli.common import JSON_OPTION, emit, err_console, handle_errors, progress_bar

DRIFT = DriftThresholds()


@handle_errors
def score_cmd(
    date: str = typer.Option(
        None, "--date", help="Score every customer active at this date (YYYY-MM-DD; default: the platform's clock)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Score every active customer point-in-time with the champion into outputs/batch_scores_DATE.parquet."""
    from batch.jobs import score, step_count

    with progress_bar("batch scoring", total=step_count(get_settings())) as advance:
        result = score(get_settings(), date, progress=lambda step: advance(desc=step))
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    emit(result.to_dict(), as_json, "batch scores")


@handle_errors
def decide_cmd(
    scores: Path = typer.Option(None, "--scores", help="A batch_scores_*.parquet or .csv (default: the newest)."),
    budget: float = typer.Option(None, "--budget", help="Spend at most this much (greedy by EV per unit of cost)."),
    actions: Path = typer.Option(None, "--actions", help="Action catalogue YAML (default: churn/actions.yaml)."),
    control_fraction: float = typer.Option(0.10, help="Share of would-be targets held out as a control group."),
    seed: int = typer.Option(None, help="Seed for the control group (default: CHURN_SEED)."),
    response: str = typer.Option(
        "auto", help="auto: value actions by the learned uplift model where it has one; catalogue: by the rates."
    ),
    exploration: float = typer.Option(
        0.0, help="Share of the spend given to random eligible actions for customers outside the plan (0 = none)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Choose the best action per customer, target where EV > 0 (within a budget), write the action plan."""
    from batch.plan import make_plan
    from batch.scoring import latest_scores

    settings = get_settings()
    _, summary = make_plan(settings, scores or latest_scores(settings), budget, actions, control_fraction, seed,
                           response, exploration)  # fmt: skip
    emit(summary, as_json, "action plan")


@handle_errors
def evaluate_policy_cmd(
    month: str = typer.Option(None, "--month", help="Month to compare (YYYY-MM; default: the latest labelled)."),
    actions: Path = typer.Option(None, "--actions", help="Action catalogue YAML (default: churn/actions.yaml)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Compare rule-based, top-10%, EV > 0 and EV-within-budget targeting on the simulation's real outcomes."""
    from batch.policy_evaluation import evaluate

    result = evaluate(get_settings(), month, actions)
    if as_json:
        emit(result, True, "policies")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"policies, {result['month']} ({result['customers']:,} customers)")
    columns = ["policy", "targeted", "spend", "saved", "net_value", "cost_per_saved", "roi", "precision_at_10", "emp"]
    for c in columns:
        table.add_column(c)
    for row in result["policies"]:
        table.add_row(*(str(row[c]) for c in columns))
    console = Console(width=150)
    console.print(table)
    for name, value in result["ratios"].items():
        verdict = "met" if result["met"][name] else "NOT met"
        shown = value if value is not None else "n/a (the baseline's net value is not positive)"
        console.print(f"{name}: {shown} (target ≥ {result['targets'][name]}: {verdict})")
    if "valuations" in result:
        values = Table(title="the same EV targeting valued by the formula, the lifetime model and the truth "
                             "(every saved customer worth their true CLV)")  # fmt: skip
        for c in columns:
            values.add_column(c)
        for row in result["valuations"]:
            values.add_row(*(str(row[c]) for c in columns))
        console.print(values)
        ratio = result["model_clv_over_formula_net_value"]
        nets = {row["policy"]: row["net_value"] for row in result["valuations"]}
        shown = f"{ratio}×" if ratio is not None else "n/a (the formula's net value is not positive)"
        console.print(f"model CLV over formula, net value within the budget: {shown} — formula "
                      f"{nets['ev_budget, formula CLV']:,.0f}, model {nets['ev_budget, model CLV']:,.0f}")  # fmt: skip
    console.print(f"report: {result['report']}")


@handle_errors
def drift_cmd(
    reference_date: str = typer.Option(..., "--reference-date", help="A date in the reference window (YYYY-MM-DD)."),
    current_date: str = typer.Option(..., "--current-date", help="A date in the current window (YYYY-MM-DD)."),
    window_months: int = typer.Option(1, help="Months per window, counted back from each date's month."),
    psi_significant: float = typer.Option(DRIFT.psi_significant, help="PSI above this is significant drift."),
    psi_moderate: float = typer.Option(DRIFT.psi_moderate, help="PSI above this is moderate (reported, not an alarm)."),
    report: bool = typer.Option(True, help="Write the Evidently HTML report."),
    retrain: bool = typer.Option(False, "--retrain", help="On drift, retrain; the promotion gate decides."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Data drift (PSI, KL per feature), score shift and concept drift between two windows; exit 0 either way."""
    from monitoring.drift_check import check
    from monitoring.respond import check_and_respond

    thresholds = DriftThresholds(psi_significant=psi_significant, psi_moderate=psi_moderate)
    settings = get_settings()
    if retrain:
        result = check_and_respond(
            settings, reference_date, current_date, window_months, thresholds=thresholds, report=report
        )
    else:
        result = check(settings, reference_date, current_date, window_months, thresholds, report)
    if as_json:
        emit(result, True, "drift")
        return
    summary = {
        "drift_detected": result["drift_detected"],
        "drifted_features": result["drifted_features"],
        "moderate_features": result["moderate_features"],
        "score_shift": result["scores"],
        "concept": result["concept"],
        "report": result.get("report"),
        "response": result.get("response"),
    }
    emit(summary, False, f"drift {result['reference']['months']} -> {result['current']['months']}")
