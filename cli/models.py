"""`churn train`, `churn models ...` and `churn benchmark telco`."""

from __future__ import annotations

from pathlib import Path

import typer

from churn.settings import get_settings
from cli.common import JSON_OPTION, emit, err_console, handle_errors, progress_bar
from training.config import TrainConfig

DEFAULTS = TrainConfig()

models_app = typer.Typer(
    help="The model registry: versions, the champion, promotion and rollback.", no_args_is_help=True
)
benchmark_app = typer.Typer(help="Benchmarks against published results.", no_args_is_help=True)


@handle_errors
def train_cmd(
    promote: str = typer.Option(DEFAULTS.promote, help="auto (promotion policy), force or never."),
    folds: int = typer.Option(DEFAULTS.folds, help="Expanding-window tuning folds."),
    test_months: int = typer.Option(DEFAULTS.test_months, help="Most recent labelled months held out for the test."),
    leakage_bound: float = typer.Option(
        DEFAULTS.leakage_bound, help="Max single-feature max(AUC, 1-AUC) on the validation window."
    ),
    allow_feature: list[str] = typer.Option([], help="A feature exempt from the leakage gate (repeatable)."),
    bootstrap: int = typer.Option(DEFAULTS.bootstrap, help="Bootstrap replicates (over customers) for 95% intervals."),
    margin: float = typer.Option(DEFAULTS.margin, help="PR-AUC gain the challenger needs over the champion."),
    report: bool = typer.Option(DEFAULTS.report, help="Write the HTML model report."),
    exclude_protected: bool = typer.Option(
        False, "--exclude-protected", help="Leave the protected attributes out; report what that costs."
    ),
    evaluation: str = typer.Option(
        DEFAULTS.evaluation,
        help="How rows are held out: time (train on the past, test on later months), kfold (repeated stratified "
        "K-fold over customers), or auto: kfold on a cross-section source, which is observed once, time otherwise.",
    ),
    cv_folds: int = typer.Option(DEFAULTS.cv_folds, help="K-fold: folds."),
    cv_repeats: int = typer.Option(DEFAULTS.cv_repeats, help="K-fold: repeats, each with its own shuffle."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Train on the feature service, evaluate against baselines, register, and maybe promote."""
    from training.fairness import protected_of
    from training.train import train

    settings = get_settings()
    protected = protected_of(settings)

    config = TrainConfig(
        promote=promote,
        folds=folds,
        test_months=test_months,
        leakage_bound=leakage_bound,
        allow_features=tuple(allow_feature),
        bootstrap=bootstrap,
        margin=margin,
        report=report,
        exclude_features=protected if exclude_protected else (),
        evaluation=evaluation,
        cv_folds=cv_folds,
        cv_repeats=cv_repeats,
    )
    with progress_bar("training") as advance:
        result = train(settings, config, progress=lambda msg, done, total: advance(done, desc=msg, total=total))
    out = result.to_dict()
    if as_json:
        emit(out, True, "train")
        return
    err_console.print(f"model [bold]{result.version}[/] — promoted: {result.promoted} ({'; '.join(result.decision)})")
    clv = result.clv or {}
    if clv.get("registered"):
        err_console.print(f"lifetime model [bold]{clv['version']}[/] — promoted: {clv['promoted']} "
                          f"({'; '.join(clv['decision'])})")  # fmt: skip
    elif clv:
        err_console.print(f"lifetime model: none — {clv.get('reason')}")
    emit({k: out[k] for k in ("version", "promoted", "test", "report")}, False, "train")


KIND_OPTION = typer.Option("churn", "--kind", help="churn (the churn model) or clv (the lifetime model).")


def _kind(kind: str) -> str:
    from operations.models import check_kind

    return check_kind(kind)


@models_app.command("list")
@handle_errors
def list_cmd(kind: str = KIND_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Every registered version of a kind, oldest first."""
    from training import registry

    rows = registry.list_models(get_settings(), _kind(kind))
    emit({"models": rows, "champion": registry.read_pointer(get_settings(), kind).get("champion")}, as_json, "models")


@models_app.command("show")
@handle_errors
def show_cmd(version: str = typer.Argument(None, help="Default: the champion."), as_json: bool = JSON_OPTION) -> None:
    """One version's metadata, the champion and the history of decisions."""
    from training import registry

    emit(registry.model_info(get_settings(), version), as_json, "model")


@models_app.command("promote")
@handle_errors
def promote_cmd(
    version: str = typer.Argument(...),
    force: bool = typer.Option(False, "--force", help="Promote even though the promotion gate says no."),
    margin: float = typer.Option(DEFAULTS.margin, help="PR-AUC gain the version needs over the champion."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Make VERSION the champion: it must load, match its recorded digests and pass the gate (or --force)."""
    from operations.models import promote_by_hand

    out = promote_by_hand(get_settings(), version, force, margin)
    emit({k: out[k] for k in ("champion", "previous", "gate", "forced")}, as_json, "promote")


@models_app.command("rollback")
@handle_errors
def rollback_cmd(kind: str = KIND_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Restore the previous champion (of the churn or the lifetime model) in one command."""
    from operations.models import roll_back

    out = roll_back(get_settings(), kind)
    emit({k: out[k] for k in ("champion", "rolled_back_from")}, as_json, "rollback")


@benchmark_app.command("telco")
@handle_errors
def telco_cmd(
    path: Path = typer.Option(
        Path(__file__).resolve().parents[2] / "shared" / "data" / "telco" / "Telco-Customer-Churn.csv",
        help="The IBM Telco CSV.",
    ),
    repeats: int = typer.Option(3, help="Repeats of 5-fold stratified CV."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The peers' protocol on the Telco file, next to the best published honest figures."""
    from training.telco_benchmark import run

    with progress_bar("telco benchmark: outer folds", total=5 * repeats) as advance:
        result = run(path, seed=get_settings().seed, repeats=repeats, progress=lambda done, _total: advance(done))
    emit(result, as_json, "benchmark telco")
