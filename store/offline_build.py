"""Raw data → the offline store, on the profile's engine: Spark tasks for `spark`, this process otherwise."""

from __future__ import annotations

from typing import Any

from churn.lineage import of_manifest
from churn.offline import write_offline, write_offline_manifest
from churn.raw import load_raw
from churn.settings import Settings
from churn.temporal import build_snapshots
from store.spark import build_offline_spark


def build_offline(settings: Settings, progress: Any = None) -> dict[str, Any]:
    """Raw data → the offline store, on the profile's engine: Spark tasks for `spark`, this process otherwise.

    The CLI's `churn build` and the flows both call this, so a move to Spark is
    a change of ``CHURN_PROFILE``; both engines write the same files (tested).
    """
    if settings.profile == "spark":
        return {**build_offline_spark(settings), "engine": "spark"}
    raw = load_raw(settings.raw_dir)
    snaps = build_snapshots(raw, progress=progress)
    counts = write_offline(snaps, settings.snapshots_dir, settings.labels_path)
    write_offline_manifest(settings.offline_dir, raw.manifest, counts)
    return {
        **counts,
        "engine": "in-process",
        "source": raw.manifest.get("source"),
        "lineage": of_manifest(raw.manifest),
        "first_snapshot_month": raw.first_snapshot_month,
        "last_snapshot_month": raw.last_snapshot_month,
        "churn_rate": round(float(snaps.labels["churned"].mean()), 5) if len(snaps.labels) else None,
        "labelled": len(snaps.labels),
    }
