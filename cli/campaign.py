"""`churn campaign launch|report|learn`: a plan recorded as a campaign, read back against its control group, and
learned from."""

from __future__ import annotations

from pathlib import Path

import typer

from churn.settings import get_settings
from cli.common import JSON_OPTION, emit, handle_errors

app = typer.Typer(
    help="Campaigns: launch an action plan, read it back against its control group.", no_args_is_help=True
)


@app.command("launch")
@handle_errors
def launch_cmd(
    plan: Path = typer.Option(None, "--plan", help="An action plan CSV (default: outputs/action_plan.csv)."),
    campaign: str = typer.Option(None, "--campaign", help="Its id (default: launch day and a digest of the plan)."),
    at: str = typer.Option(None, "--at", help="Launch date YYYY-MM-DD (default: the plan's date, else the clock's)."),
    control_fraction: float = typer.Option(0.10, help="The control share the plan was decided with."),
    actions: Path = typer.Option(None, "--actions", help="The action catalogue the plan was decided with."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Record who is treated with which action and who is held out, with assignment probabilities. A plan naming
    a customer the raw data does not hold, an action outside the catalogue, or a customer twice is refused by
    name, and nothing is recorded."""
    from operations.campaigns import launch_plan

    emit(launch_plan(get_settings(), plan, campaign, at, control_fraction, actions), as_json, "campaign")


@app.command("report")
@handle_errors
def report_cmd(
    campaign: str = typer.Option(..., "--campaign", help="The campaign id `churn campaign launch` printed."),
    window_months: int = typer.Option(3, help="Months from launch in which churn counts."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Treated against control per action and overall: churn, effect, customers saved, net value, verdict."""
    from operations.campaigns import report_campaign

    emit(report_campaign(get_settings(), campaign, window_months), as_json, "campaign report")


@app.command("learn")
@handle_errors
def learn_cmd(
    window_months: int = typer.Option(3, help="Months from assignment in which churn counts."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Learn each action's uplift from the matured randomised campaigns (held-out Qini in the report); `churn
    decide` then values the learned actions by their uplift and the rest by the catalogue's rates."""
    from training.uplift import train_uplift

    emit(train_uplift(get_settings(), window_months), as_json, "uplift model")
