"""Launching an action plan as a campaign and reading it back: one path for `churn campaign` and the flows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from churn.actions import load_catalogue
from churn.campaigns import (
    DEFAULT_WINDOW_MONTHS,
    known_churn,
    launch,
    matures_at,
    page_folder,
    read_treatments,
    readout,
)
from churn.clock import platform_clock
from churn.errors import InputError
from churn.pages import write_page
from churn.raw import known_customers
from churn.settings import Settings
from churn.timeutil import month_label, month_start, parse_date


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
    actions: Path | None = None,
) -> dict[str, Any]:
    """Record a plan as a campaign; its customers must be the raw data's and its actions the catalogue's
    (``actions``: the catalogue `churn decide --actions` used, default the platform's)."""
    path = plan_path or settings.outputs_dir / "action_plan.csv"
    if not path.is_file():
        raise InputError(f"--plan: no such file {path} — run `churn decide` first")
    plan = pd.read_csv(path, dtype={"customer_id": str, "best_action": str}, keep_default_na=False)
    return launch(settings.data_dir, plan, _launch_time(path, at, settings), control_fraction, campaign,
                  known_customers(settings.raw_dir), load_catalogue(actions).names)  # fmt: skip


def report_campaign(
    settings: Settings, campaign: str, months: int = DEFAULT_WINDOW_MONTHS, html: bool = True
) -> dict[str, Any]:
    """The readout (:func:`churn.campaigns.readout`) as of the platform clock, and its HTML page."""
    clock = platform_clock(settings)
    events = known_churn(settings.raw_dir, clock)
    return _report(settings, read_treatments(settings.data_dir), events, clock, campaign, months, html)


def report_matured(settings: Settings, months: int = DEFAULT_WINDOW_MONTHS) -> dict[str, Any]:
    """Read back every launched campaign whose window has passed on the platform clock and that has no page yet
    (the scheduled readout); campaigns still running are listed with the month they mature."""
    log = read_treatments(settings.data_dir)
    clock = platform_clock(settings)
    reported, waiting, done = [], {}, []
    events: pd.DataFrame | None = None  # read once, and only when a campaign is due
    for campaign, rows in log.groupby("campaign", sort=True):
        name = str(campaign)
        matures = matures_at(rows, months)
        if clock < matures:
            waiting[name] = month_label(matures)
        elif _page(settings, name).exists():
            done.append(name)
        else:
            events = known_churn(settings.raw_dir, clock) if events is None else events
            result = _report(settings, log, events, clock, name, months, html=True)
            reported.append({"campaign": name, "verdict": result["overall"]["verdict"], "report": result["report"]})
    return {"reported": reported, "already_reported": done, "maturing": waiting}


def _page(settings: Settings, campaign: str) -> Path:
    return settings.reports_dir / "campaigns" / page_folder(campaign) / "index.html"


def _report(settings: Settings, treatments: pd.DataFrame, events: pd.DataFrame, clock: int, campaign: str,
            months: int, html: bool) -> dict[str, Any]:  # fmt: skip
    result = readout(treatments, events, clock, campaign, months)
    if html:
        rows = [("all actions", result["overall"]), *result["actions"].items()]
        result["report"] = str(write_page("campaign.html", _page(settings, campaign), r=result, rows=rows))
    return result
