"""Retention: prediction logs and batch scores older than CHURN_RETENTION_DAYS go; everything else stays."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from churn.privacy import purge_expired


def test_only_personal_data_past_its_retention_is_deleted(tmp_path: Path) -> None:
    now = time.time()
    today = datetime.fromtimestamp(now, UTC).date()
    logs = tmp_path / "logs" / "predictions"
    old_day, edge_day, recent_day = (today - timedelta(days=d) for d in (40, 30, 3))
    for day in (old_day, edge_day, recent_day):
        (logs / day.isoformat()).mkdir(parents=True)
        (logs / day.isoformat() / "w.jsonl").write_text("{}\n")
    (logs / "not-a-day").mkdir()
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    names = ("batch_scores_2023-01-01.parquet", "batch_scores_2023-02-01.parquet", "action_plan.csv")
    old_scores, new_scores, plan = (outputs / n for n in names)
    for path in (old_scores, new_scores, plan):
        path.write_text("x")
    os.utime(old_scores, (now - 31 * 86_400, now - 31 * 86_400))  # written 31 days ago; its name's date is older
    os.utime(plan, (now - 400 * 86_400, now - 400 * 86_400))  # plans are not under this rule

    preview = purge_expired(tmp_path, 30, now, dry_run=True)
    expected = [f"logs/predictions/{old_day.isoformat()}", "outputs/batch_scores_2023-01-01.parquet"]
    assert preview == {"retention_days": 30, "would_delete": expected}
    assert (logs / old_day.isoformat()).exists() and old_scores.exists()

    assert purge_expired(tmp_path, 30, now) == {"retention_days": 30, "deleted": expected}
    assert not (logs / old_day.isoformat()).exists() and not old_scores.exists()
    # a day is kept while any of it is younger than the retention: the day 30 days back ends after the cutoff
    assert (logs / edge_day.isoformat()).exists() and (logs / recent_day.isoformat()).exists()
    assert new_scores.exists() and plan.exists() and (logs / "not-a-day").exists()
    with pytest.raises(ValueError, match="at least 1"):
        purge_expired(tmp_path, 0, now)
