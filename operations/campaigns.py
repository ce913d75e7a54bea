"""Launching an action plan as a campaign and reading it back: one path for `churn campaign` and the flows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from churn.campaigns import DEFAULT_WINDOW_MONTHS, launch, page_folder, read_treatments, readout
from churn.clock import platform_clock
from churn.errors import InputError
from churn.pages import write_page
from churn.settings import Settings
from churn.timeutil import month_index_of, month_label, month_start, parse_date


def _data_dir(settings: Settings) -> Path:
    return settings.home_dir / "data"


def _launch_time(plan_path: Path, at: str | None, settings: Settings) -> pd.Timestamp:
    """``--at``, else the date in a dated plan's name (``action_plan_YYYY-MM-DD.csv``), else the clock's month start."""
    if at:
        return parse_date(at, field="--at")
    stem = plan_path.stem.rsplit("_", 1)[-1]
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", stem):
        return parse_date(stem, field="--plan's date")
    return month_start(platform_clock(settings))


def launch_plan(
    settings: Settings,
    plan_path: Path | None = None,
    campaign: str | None = None,
    at: str | None = None,
    control_fraction: float = 0.10,
) -> dict[str, Any]:
    path = plan_path or settings.outputs_dir / "action_plan.csv"
    if not path.is_file():
        raise InputError(f"--plan: no such file {path} — run `churn decide` first")
    plan = pd.read_csv(path, dtype={"customer_id": str, "best_action": str}, keep_default_na=False)
    return launch(_data_dir(settings), plan, _launch_time(path, at, settings), control_fraction, campaign)


def report_campaign(
    settings: Settings, campaign: str, months: int = DEFAULT_WINDOW_MONTHS, html: bool = True
) -> dict[str, Any]:
    """The readout (:func:`churn.campaigns.readout`) as of the platform clock, and its HTML page."""
    events_path = settings.raw_dir / "churn_events.parquet"
    if not events_path.exists():
        raise InputError(f"raw data: no churn events at {events_path} — ingest or simulate first")
    clock = platform_clock(settings)
    events = pd.read_parquet(events_path, columns=["customer_id", "churned_at", "known_at"])
    known = events[pd.to_datetime(events["known_at"], utc=True) < month_start(clock)]  # outcomes known by the clock
    result = readout(read_treatments(_data_dir(settings)), known, clock, campaign, months)
    if html:
        page = settings.reports_dir / "campaigns" / page_folder(campaign) / "index.html"
        rows = [("all actions", result["overall"]), *result["actions"].items()]
        result["report"] = str(write_page("campaign.html", page, r=result, rows=rows))
    return result


def report_matured(settings: Settings, months: int = DEFAULT_WINDOW_MONTHS) -> dict[str, Any]:
    """Read back every launched campaign whose window has passed on the platform clock and that has no page yet
    (the scheduled readout); campaigns still running are listed with the month they mature."""
    log = read_treatments(_data_dir(settings))
    clock = platform_clock(settings)
    reported, waiting, done = [], {}, []
    for campaign, rows in log.groupby("campaign", sort=True):
        name = str(campaign)
        matures = month_index_of(pd.to_datetime(rows["assigned_at"], utc=True).max()) + months
        if clock < matures:
            waiting[name] = month_label(matures)
        elif (settings.reports_dir / "campaigns" / page_folder(name) / "index.html").exists():
            done.append(name)
        else:
            result = report_campaign(settings, name, months)
            reported.append({"campaign": name, "verdict": result["overall"]["verdict"], "report": result["report"]})
    return {"reported": reported, "already_reported": done, "maturing": waiting}
