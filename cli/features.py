"""`churn features`: the Feast feature store for the active profile."""

from __future__ import annotations

from datetime import datetime

import typer

from churn.settings import get_settings
from churn.timeutil import InputError, parse_date
from cli.common import JSON_OPTION, emit, handle_errors, progress_bar

app = typer.Typer(help="Feature store (Feast) for the active profile.", no_args_is_help=True)


@app.command("apply")
@handle_errors
def apply_cmd(as_json: bool = JSON_OPTION) -> None:
    """Register entities, feature views and feature services (what `feast apply` does)."""
    from training import features

    with progress_bar("feast apply"):
        result = features.apply(get_settings())
    emit(
        {"project": result.project, "profile": result.profile, "applied": result.applied, "deleted": result.deleted},
        as_json,
        "features apply",
    )


def _when(text: str | None, field: str) -> datetime | None:
    return None if text is None else parse_date(text, field=field).to_pydatetime()


@app.command("materialize")
@handle_errors
def materialize_cmd(
    start: str = typer.Option(None, help="Load snapshots from this date (YYYY-MM-DD)."),
    end: str = typer.Option(None, help="...up to this date; default: the platform's clock."),
    incremental: bool = typer.Option(False, help="Move forward from the last materialized time to --end."),
    workers: int = typer.Option(
        1, help="Parallel processes, one per group of feature views (Redis only; pays off only for large stores)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Load snapshots into the online store; without dates, the latest snapshot of every active customer."""
    from training import features

    settings = get_settings()
    if workers < 1 or (workers > 1 and settings.profile == "local"):
        raise InputError("--workers: must be 1 on the local profile (SQLite takes one writer) and at least 1")
    with progress_bar("feast materialize"):
        result = features.materialize(
            settings,
            start=_when(start, "--start"),
            end=_when(end, "--end"),
            incremental=incremental,
            workers=workers,
        )
    emit(result.to_dict(), as_json, "features materialize")


@app.command("get")
@handle_errors
def get_cmd(
    customer_ids: list[str] = typer.Argument(..., help="Customer ids to read from the online store."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Read customers' feature vectors from the online store, as serving will."""
    from training import features
    from training.explain import plain_value

    settings = get_settings()
    online = features.read_online(features.get_store(settings), customer_ids)
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


@app.command("env")
@handle_errors
def env_cmd(as_json: bool = JSON_OPTION) -> None:
    """The variables Feast's yaml files expand: `eval "$(churn features env)"` before running `feast` by hand."""
    from training import features

    settings = get_settings()
    values = features.feast_env(settings)
    for profile in features.YAML_BY_PROFILE:  # Feast does not create the registry's folder itself
        settings.feast_dir(profile).mkdir(parents=True, exist_ok=True)
    if as_json:
        emit(values, True, "features env")
    else:
        typer.echo("\n".join(f"export {k}={v}" for k, v in values.items()))
