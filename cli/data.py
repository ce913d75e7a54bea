"""Raw data and snapshots: simulate, ingest, build, validate, summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from churn.settings import get_settings
from cli.common import JSON_OPTION, emit, err_console, handle_errors, progress_bar

if TYPE_CHECKING:
    from churn.raw import IngestResult

ingest_app = typer.Typer(
    help="Bring external data into the raw schema: `churn ingest --mapping FILE` (docs/byod.md); `ingest telco`."
)


@ingest_app.callback(invoke_without_command=True)
@handle_errors
def ingest_cmd(
    ctx: typer.Context,
    mapping: Path = typer.Option(None, "--mapping", help="A source mapping (YAML) declaring your files: docs/byod.md."),
    as_of: str = typer.Option(
        None, "--as-of", help="Last month the export fully covers, YYYY-MM (overrides the mapping)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be ingested; write nothing."),
    max_reject_share: float = typer.Option(
        0.05, help="Refuse the ingest (exit 2, nothing replaced) when more than this share of rows is rejected."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Ingest your exports through a declared mapping: rename, convert, quarantine bad rows in data/raw/rejects.csv."""
    if ctx.invoked_subcommand is not None:
        if mapping is not None:
            raise typer.BadParameter("--mapping is for `churn ingest --mapping FILE`, not with a subcommand")
        return
    if mapping is None:
        err_console.print(ctx.get_help())
        raise typer.Exit(code=2)
    from churn.cross_section import ingest_cross_section
    from churn.mapped_ingest import ingest_mapped
    from churn.mapping import load_mapping

    declared = load_mapping(mapping)
    base = mapping.resolve().parent
    tables = len(declared.tables or {}) or None
    with progress_bar(f"ingesting {declared.source} through {mapping.name}", total=tables) as advance:
        result: IngestResult = (
            ingest_cross_section(declared, base, as_of=as_of)
            if declared.cross_section is not None
            else ingest_mapped(
                declared,
                base,
                as_of=as_of,
                mapping_path=mapping.resolve(),
                progress=lambda done, _total, name: advance(done, desc=f"{name} read"),
            )
        )
    if dry_run:
        emit({**result.summary(), "dry_run": True, "written": False}, as_json, "ingest (dry run: nothing written)")
        return
    _keep(result, max_reject_share, as_json, "ingest")


def _keep(result: IngestResult, max_reject_share: float, as_json: bool, title: str) -> None:
    """Refuse an ingest with too many rejects (nothing replaced), else replace the raw data and say what it did."""
    from churn.raw import REJECTS_FILE, check_rejects, replace_raw

    settings = get_settings()
    check_rejects(result.raw, settings.raw_dir, result.rows, result.accepted, max_reject_share)
    saved = replace_raw(result.raw, settings.raw_dir)
    summary = {**result.summary(), **saved, "raw_dir": str(settings.raw_dir)}
    if result.rejected:
        summary["rejects"] = str(settings.raw_dir / REJECTS_FILE)
        err_console.print(f"[yellow]{result.rejected} row(s) rejected[/]: see {summary['rejects']}")
    if saved["note"]:
        err_console.print(f"[yellow]warning:[/] {saved['note']}")
    emit(summary, as_json, title)


simulate_app = typer.Typer(
    help="Generate raw histories with a known churn hazard (`churn simulate`); `simulate step` advances them a month."
)


@simulate_app.callback(invoke_without_command=True)
@handle_errors
def simulate_cmd(
    ctx: typer.Context,
    customers: int = typer.Option(20_000, help="Active customers at the first snapshot month."),
    months: int = typer.Option(24, help="Months to simulate (each gets a labelled snapshot)."),
    start: str = typer.Option("2023-01", help="First snapshot month, YYYY-MM."),
    seed: int = typer.Option(None, help="Random seed (default: CHURN_SEED)."),
    scenario: str = typer.Option("stable", help="stable, price_shock, service_outage or concept_drift."),
    drift_start: str = typer.Option(None, help="Month the scenario starts, YYYY-MM (default: 2/3 of the way)."),
    drift_strength: float = typer.Option(1.0, help="Scale of the injected drift (1 = documented default)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Generate raw customer histories with a known churn hazard into CHURN_HOME/data/raw."""
    if ctx.invoked_subcommand is not None:
        return
    from churn.raw import replace_raw
    from churn.simulate import SimulationConfig, simulate

    settings = get_settings()
    config = SimulationConfig(
        customers=customers,
        months=months,
        start=start,
        seed=settings.seed if seed is None else seed,
        scenario=scenario,
        drift_start=drift_start,
        drift_strength=drift_strength,
    )
    config.validate()
    began = time.perf_counter()
    with progress_bar("simulating months", total=1) as advance:
        raw = simulate(config, progress=lambda done, total: advance(done / total))
    saved = replace_raw(raw, settings.raw_dir)
    if saved["note"]:
        err_console.print(f"[yellow]warning:[/] {saved['note']}")
    emit(
        {
            **saved,
            "raw_dir": str(settings.raw_dir),
            "customers": len(raw.tables["customers"]),
            **{f"rows.{name}": len(df) for name, df in raw.tables.items()},
            "first_snapshot_month": raw.first_snapshot_month,
            "last_snapshot_month": raw.last_snapshot_month,
            "scenario": scenario,
            "drift_start": raw.manifest["simulation"]["drift_start"],
            "seed": config.seed,
            "seconds": round(time.perf_counter() - began, 2),
        },
        as_json,
        "simulate",
    )


@simulate_app.command("step")
@handle_errors
def simulate_step_cmd(
    plan: Path = typer.Option(
        None, "--plan", help="The month's action plan (`churn decide`) or a CSV of customer_id, action; none: no one."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Advance the simulation in CHURN_HOME by one month, the plan's targets treated (its control group not)."""
    import pandas as pd

    from churn.closed_loop import step
    from churn.errors import InputError
    from churn.raw import replace_raw
    from churn.timeutil import month_label, parse_month

    settings = get_settings()
    frame = None
    if plan is not None:
        if not plan.is_file():
            raise InputError(f"--plan: no such file {plan}")
        frame = pd.read_csv(plan, dtype={"customer_id": str, "best_action": str, "action": str}, keep_default_na=False)
    began = time.perf_counter()
    with progress_bar("simulating months", total=1) as advance:
        raw, applied = step(settings.raw_dir, frame, progress=lambda done, total: advance(done / total))
    saved = replace_raw(raw, settings.raw_dir)
    emit(
        {
            "raw_dir": str(settings.raw_dir),
            "stepped": month_label(parse_month(raw.last_snapshot_month) - 1),
            "treated": len(applied),
            **{f"treated.{a}": int(n) for a, n in applied["action"].value_counts().sort_index().items()},
            "treatments_total": raw.manifest.get("treatments", {}).get("rows", 0),
            "last_snapshot_month": raw.last_snapshot_month,
            "lineage": saved["lineage"],
            "seconds": round(time.perf_counter() - began, 2),
        },
        as_json,
        "simulate step",
    )


@ingest_app.command("telco")
@handle_errors
def ingest_telco_cmd(
    path: Path = typer.Argument(..., help="The IBM Telco Customer Churn CSV."),
    as_of: str = typer.Option(..., "--as-of", help="Month the file describes (its end), YYYY-MM."),
    max_reject_share: float = typer.Option(
        0.05, help="Refuse the ingest (exit 2, nothing replaced) when more than this share of rows is rejected."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Validate the Telco CSV, quarantine bad rows in data/raw/rejects.csv, reconstruct monthly histories."""
    from churn.telco import ingest_telco

    with progress_bar("ingesting telco file") as _:
        result = ingest_telco(path, as_of)
    _keep(result, max_reject_share, as_json, "ingest telco")


@handle_errors
def build_cmd(as_json: bool = JSON_OPTION) -> None:
    """Turn raw data into point-in-time monthly snapshots and labels in the offline store (Spark on `spark`)."""
    from store.offline_build import build_offline

    settings = get_settings()
    began = time.perf_counter()
    steps = ["grid", "state", "billing", "behaviour", "labels"]
    with progress_bar("building snapshots", total=len(steps)) as advance:
        result = build_offline(settings, progress=lambda name: advance(desc=name))
    emit(
        {
            **result,
            "snapshots_dir": str(settings.snapshots_dir),
            "labels": str(settings.labels_path),
            "seconds": round(time.perf_counter() - began, 2),
        },
        as_json,
        "build",
    )


@handle_errors
def validate_cmd(
    sample: int = typer.Option(30, help="Customers recomputed with the slow reference builder."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check the offline store's temporal consistency; exit 1 with a report on any violation."""
    from churn.offline import read_labels, read_snapshots
    from churn.raw import load_raw
    from churn.validate import validate_temporal_consistency

    settings = get_settings()
    raw = load_raw(settings.raw_dir)
    with progress_bar("validating offline store"):
        features = read_snapshots(settings.snapshots_dir)
        labels = read_labels(settings.labels_path)
        report = validate_temporal_consistency(features, labels, raw, sample_customers=sample, seed=settings.seed)
    if as_json:
        emit(report.to_dict(), True, "validate")
    else:
        for check in report.checks:
            mark = "[green]ok[/]  " if check.passed else f"[red]FAIL[/] ({check.violations})"
            err_console.print(f"{mark} {check.name}")
            for example in check.examples:
                err_console.print("      e.g. " + ", ".join(f"{k}: {v}" for k, v in example.items()), markup=False)
        err_console.print("[bold green]valid[/]" if report.ok else "[bold red]violations found[/]")
    if not report.ok:
        raise typer.Exit(code=1)


@handle_errors
def summary_cmd(as_json: bool = JSON_OPTION) -> None:
    """What the offline store holds: months, customers, churn rate, feature coverage."""
    from churn.offline import read_labels, read_snapshots
    from churn.raw import load_raw

    settings = get_settings()
    raw = load_raw(settings.raw_dir)
    features = read_snapshots(settings.snapshots_dir)
    labels = read_labels(settings.labels_path)
    per_month = features.groupby("snapshot_month").size()
    rate = labels.groupby(labels["event_timestamp"].dt.strftime("%Y-%m"))["churned"].mean()
    result = {
        "source": raw.manifest.get("source"),
        "home": str(settings.home_dir),
        "snapshots": len(features),
        "customers": int(features["customer_id"].nunique()),
        "months": len(per_month),
        "first_month": per_month.index.min(),
        "last_month": per_month.index.max(),
        "active_per_month": {"min": int(per_month.min()), "max": int(per_month.max())},
        "labelled": len(labels),
        "churn_rate": round(float(labels["churned"].mean()), 5) if len(labels) else None,
        "monthly_churn_rate": {"min": round(float(rate.min()), 5), "max": round(float(rate.max()), 5)}
        if len(rate)
        else None,
        "null_share": {
            c: round(float(features[c].isna().mean()), 4) for c in features.columns if features[c].isna().any()
        },
    }
    emit(result, as_json, "summary")


@handle_errors
def forget_cmd(
    customer_ids: list[str] = typer.Argument(..., help="Customer ids to erase everywhere."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Erase customers from raw data, snapshots, labels, the online store, scores, plans and prediction logs."""
    from operations.forget import forget

    result = forget(get_settings(), customer_ids)
    emit(result, as_json, "forget")


consent_app = typer.Typer(help="Objections to direct marketing: never targeted, whatever the EV.", no_args_is_help=True)


@consent_app.command("record")
@handle_errors
def consent_record_cmd(
    customer_ids: list[str] = typer.Argument(..., help="Customers who objected (or, with --withdraw, withdrew)."),
    withdraw: bool = typer.Option(False, "--withdraw", help="Record that the objection was withdrawn."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Record an objection to direct marketing now; the next plan and every API answer honour it."""
    from churn.consent import record

    emit(record(get_settings().raw_dir, customer_ids, not withdraw), as_json, "consent")


@consent_app.command("import")
@handle_errors
def consent_import_cmd(
    path: Path = typer.Argument(..., help="CSV with customer_id, objected (true/false), recorded_at (ISO 8601)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Import a CRM's consent records; rows that cannot be placed go to data/privacy/consent_rejects.csv."""
    from churn.consent import import_file

    emit(import_file(get_settings().raw_dir, path), as_json, "consent import")


@handle_errors
def retention_cmd(
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be deleted; delete nothing."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete prediction logs and batch scores older than CHURN_RETENTION_DAYS (what the daily flow runs)."""
    from operations.steps import retention

    emit(retention(get_settings(), dry_run), as_json, "retention")
