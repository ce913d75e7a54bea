"""`churn replay`: walk the platform clock through the last months of the data, one scheduled cycle per month.

The replay runs in a home of its own (``CHURN_HOME/replays/<id>``, the raw
data and the offline store hard-linked in, not copied) with its own Feast
project, so the user's champion, online store, plans and reports come out of
it exactly as they went in. Its starting champion is trained with the clock at
the month before the first replayed one: a champion trained on everything has
seen the outcomes the replay is about to reveal.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from churn.errors import InputError
from churn.offline import snapshot_months
from churn.settings import Settings
from churn.timeutil import month_label, parse_month
from operations.cycle import cycle_row, monthly_cycle
from operations.steps import PLAIN, Steps
from store.feast_store import get_store
from store.marker import clear_online
from training import registry
from training.config import TrainConfig


def _link_tree(source: Path, target: Path) -> None:
    """Hard links where the file system allows them (the replay only reads these files), copies otherwise."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.exists():
        shutil.copytree(source, target, copy_function=link)


def replay_home(settings: Settings) -> Settings:
    """Settings for a fresh replay home holding the user's raw data and offline store, and its own Feast project."""
    run = uuid.uuid4().hex[:8]
    home = settings.home_dir / "replays" / run
    _link_tree(settings.raw_dir, home / "data" / "raw")
    _link_tree(settings.offline_dir, home / "data" / "offline")
    return settings.model_copy(update={"home": home, "feast_project": f"{settings.feast_project}_replay_{run}"})


def replay(
    settings: Settings,
    months: int,
    train_config: TrainConfig | None = None,
    steps: Steps = PLAIN,
    progress: Callable[[str], None] | None = None,
    keep: bool = False,
) -> dict[str, Any]:
    """Replay the last ``months`` months; returns ``{"home", "starting_champion", "months": [rows]}``."""
    say = progress or (lambda _m: None)
    if months < 1:
        raise InputError(f"--months: must be at least 1, got {months}")
    available = snapshot_months(settings.snapshots_dir)
    if len(available) <= months:
        raise InputError(f"--months: the offline store holds {len(available)} months; replay needs more than {months}")
    config = train_config or TrainConfig(bootstrap=20, report=False)
    last = parse_month(available[-1])
    first = last - months + 1
    own = replay_home(settings)
    say(f"replaying in {own.home_dir} (your home, champion and online store are left alone)")
    try:
        steps.apply(own)
        start = month_label(first - 1)
        say(f"starting champion at clock {start}")
        starting = steps.train(own.at(start), replace(config, promote="force"))
        rows = []
        for index in range(first, last + 1):
            month = month_label(index)
            say(f"cycle {month}")
            result = monthly_cycle(own.at(month), steps, True, replace(config, promote="auto"))
            rows.append(cycle_row(month, result, registry.read_pointer(own).get("champion")))
    finally:
        if own.profile != "local":  # a shared online store (Redis) holds the replay's keys under its own project
            clear_online(get_store(own), own)
        if not keep:
            shutil.rmtree(own.home_dir, ignore_errors=True)
    return {"home": str(own.home_dir) if keep else None, "starting_champion": starting["version"], "months": rows}
