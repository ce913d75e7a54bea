"""`churn features`: the Feast feature store for the active profile."""

from __future__ import annotations

from datetime import datetime

import typer

from churn.errors import InputError
from churn.settings import get_settings
from cli.common import JSON_OPTION, emit, handle_errors, progress_bar

app = typer.Typer(help="Feature store (Feast) for the active profile.", no_args_is_help=True)


@app.command("apply")
@handle_errors
def apply_cmd(as_json: bool = JSON_OPTION) -> None:
    """Register entities, feature views and feature services (what `feast apply` does)."""
    from store.feast_store import apply

    with progress_bar("feast apply"):
        result = apply(get_settings())
    emit(
        {
            "project": result.project,
            "profile": result.profile,
            "applied": result.applied,
            "deleted": result.deleted,
            "declaration": result.declaration,
        },
        as_json,
        "features apply",
    )


def _when(text: str | None, field: str) -> datetime | None:
    from churn.timeutil import parse_date  # here, not at the top: pandas would cost `churn --help` 0.4 s

    return None if text is None else parse_date(text, field=field).to_pydatetime()


@app.command("materialize")
@handle_errors
def materialize_cmd(
    start: str = typer.Option(None, help="Load snapshots from this date (YYYY-MM-DD)."),
    end: str = typer.Option(None, help="...up to this date; default: the platform's clock."),
    incremental: bool = typer.Option(False, help="Move forward from the last materialized time to --end."),
    workers: int = typer.Option(
        1,
        help="Parallel processes, one per group of feature views, for Feast's writer (CHURN_MATERIALIZE_WRITER=feast "
        "into Redis); the platform's Redis writer uses one.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Load snapshots into the online store; without dates, the latest snapshot of every active customer."""
    from store.materialize import materialize

    settings = get_settings()
    if workers < 1 or (workers > 1 and settings.profile == "local"):
        raise InputError("--workers: must be 1 on the local profile (SQLite takes one writer) and at least 1")
    with progress_bar("feast materialize") as advance:
        result = materialize(
            settings,
            start=_when(start, "--start"),
            end=_when(end, "--end"),
            incremental=incremental,
            workers=workers,
            progress=lambda msg, done, total: advance(done, desc=msg, total=total),
        )
    emit(result.to_dict(), as_json, "features materialize")


@app.command("get")
@handle_errors
def get_cmd(
    customer_ids: list[str] = typer.Argument(..., help="Customer ids to read from the online store."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Read customers' feature vectors from the online store, as serving will."""
    from churn.jsonvalues import plain_value
    from store.feast_store import get_store
    from store.online import read_online

    settings = get_settings()
    online = read_online(get_store(settings), customer_ids)
    result = {
        "found": {
            cid: {
                "event_timestamp": online.event_timestamps[cid].isoformat(),
                **{k: plain_value(v) for k, v in online.features.loc[cid].items()},
            }
            for cid in online.features.index
        },
        "unknown": online.unknown,
    }
    emit(result, as_json, "features get")


@app.command("render")
@handle_errors
def render_cmd(as_json: bool = JSON_OPTION) -> None:
    """Write a Feast repository for the active profile and home, for running `feast` by hand."""
    from store.config import render_repo

    folder = render_repo(get_settings())
    result = {"repo": str(folder), "feast": f"feast -c {folder} <command>  (e.g. feature-views list, ui, apply)"}
    emit(result, as_json, "features render")


@app.command("env")
@handle_errors
def env_cmd(as_json: bool = JSON_OPTION) -> None:
    """Where the tools' own CLIs find the platform's state: `eval "$(churn features env)"` before `feast`, `bentoml`."""
    from store.config import render_repo

    settings = get_settings()
    values = {
        "CHURN_HOME": str(settings.home_dir),
        "BENTOML_HOME": str(settings.bentoml_home),  # `bentoml models list` shows the registry's versions
        "PREFECT_HOME": str(settings.prefect_home),
        "CHURN_FEAST_REPO": str(render_repo(settings)),  # `feast -c "$CHURN_FEAST_REPO" feature-views list`
    }
    if as_json:
        emit(values, True, "features env")
    else:
        typer.echo("\n".join(f"export {k}={v}" for k, v in values.items()))
