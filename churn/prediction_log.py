"""The prediction log: every served prediction as one JSON line, for monitoring to read.

Layout: ``CHURN_HOME/logs/predictions/YYYY-MM-DD/<worker>.jsonl`` — one folder
per UTC day and one file per serving worker, so workers never share a file and
a day's traffic is one glob. The schema lives here, in the core, so the writer
(the service) and the readers (monitoring, notebooks) cannot drift apart.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from churn.schema import ENTITY

# Every record has exactly these keys; ``features`` is a mapping of feature name -> value.
FIELDS: tuple[str, ...] = (
    "logged_at",  # ISO-8601 UTC wall-clock time of the answer
    "request_id",
    ENTITY,
    "model_version",
    "feature_timestamp",  # event time of the freshest feature row served (ISO), null for a full what-if vector
    "what_if",  # true when the caller overrode or supplied features
    "probability",
    "risk_band",
    "action",
    "clv",
    "cost",
    "success_rate",
    "expected_value",
    "target",
    "features",
)


def log_dir(home: Path) -> Path:
    return home / "logs" / "predictions"


def day_dir(home: Path, day: date) -> Path:
    return log_dir(home) / day.isoformat()


def make_record(**values: Any) -> dict[str, Any]:
    """A record with exactly :data:`FIELDS`; a missing or unexpected key is a programming error."""
    missing = [f for f in FIELDS if f not in values]
    extra = [k for k in values if k not in FIELDS]
    if missing or extra:
        raise ValueError(f"prediction log record: missing {missing}, unexpected {extra}")
    return {f: values[f] for f in FIELDS}


def read_prediction_log(home: Path, start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """All records logged on days start..end (inclusive), features flattened to columns.

    A line cut short by a crash (the last line of a file) is skipped, never fatal.
    """
    rows: list[dict[str, Any]] = []
    root = log_dir(home)
    days = sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []
    for folder in days:
        try:
            day = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if (start and day < start) or (end and day > end):
            continue
        for path in sorted(folder.glob("*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                features = record.pop("features", None) or {}
                rows.append({**record, **{f"feature.{k}": v for k, v in features.items()}})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[f for f in FIELDS if f != "features"])
    frame["logged_at"] = pd.to_datetime(frame["logged_at"], utc=True)
    return frame
