"""`churn events push FILE`: a file of customer events, recorded and applied as ``POST /events`` does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from churn.errors import InputError
from churn.settings import get_settings
from cli.common import JSON_OPTION, emit, handle_errors, progress_bar

app = typer.Typer(help="Customer events between snapshots.", no_args_is_help=True)
CHUNK = 1_000  # events per lock and push, as the API's largest batch


@app.command("push")
@handle_errors
def push_cmd(
    path: Path = typer.Argument(..., help="CSV or JSON lines: event_id, customer_id, type, at, and the type's fields."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Record a file of events in the raw data and move the customers' event-time features online."""
    from churn.events import EventError, metered_of, parse_event, read_event_file
    from churn.labels import labels_of
    from churn.raw import load_manifest
    from store.event_intake import intake_for
    from store.feast_store import DEFAULT_SERVICE, get_store
    from store.readers import online_reader

    rows = read_event_file(path)
    if not rows:
        raise InputError(f"{path}: no events")
    arrived = datetime.now(UTC)
    settings = get_settings()
    manifest = load_manifest(settings.raw_dir)
    labels, metered = labels_of(manifest), metered_of(manifest)
    events, problems = [], []
    for n, row in enumerate(rows, start=1):
        try:
            events.append(parse_event(row, arrived, where=f"row {n}", labels=labels, metered=metered))
        except EventError as err:
            problems += [f"{f}: {p}" for f, p in err.problems]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise InputError(f"{path}: nothing recorded — {shown}")
    store = get_store(settings)
    intake = intake_for(settings, store, online_reader(settings, store, DEFAULT_SERVICE))
    outcomes = []
    with progress_bar("events", total=len(events)) as advance:
        for begin in range(0, len(events), CHUNK):
            outcomes += intake.take(events[begin : begin + CHUNK])
            advance(done=len(outcomes))
    counts = {k: sum(1 for o in outcomes if o.status == k) for k in ("applied", "recorded", "duplicate", "refused")}
    refused = [o.as_dict() for o in outcomes if o.status == "refused"]
    emit({"file": str(path), "events": len(events), **counts, "refused_events": refused}, as_json, "events push")
