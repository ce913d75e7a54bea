"""What the console's pages show, read from the platform's own files: registry, reports, plans, scores, snapshots.

Nothing here renders or knows HTTP; every reader tolerates a platform that has
not done that step yet (no drift check, no plan) and says so rather than fail.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

from churn.offline import read_snapshots, snapshot_months
from churn.schema import ENTITY
from churn.settings import Settings
from training import registry

NOT_SHOWN = ("event_timestamp", "created_timestamp")
# the test metrics the models page puts side by side, per kind; anything else recorded is on the version's page
METRICS = {
    "churn": ("roc_auc", "pr_auc", "brier", "ece", "lift_at_10"),
    "clv": ("concordance", "integrated_brier"),
}


def metrics_of(metadata: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """[{name, value, low, high}] of the version's test metrics (interval None where none was recorded)."""
    test = metadata.get("test") or {}
    intervals = metadata.get("test_ci95") or {}
    out = []
    for name in METRICS[kind]:
        if test.get(name) is None:
            continue
        low, high = (intervals.get(name) or (None, None))[:2]
        out.append({"name": name, "value": float(test[name]), "low": low, "high": high})
    return out


def champion(settings: Settings, kind: str = "churn") -> dict[str, Any] | None:
    """The champion of ``kind`` with its test metrics, or None when there is none yet."""
    version = registry.read_pointer(settings, kind).get("champion")
    if not version:
        return None
    info = registry.model_info(settings, version, kind)
    return {"version": version, "trained_at": info["metadata"].get("trained_at"),
            "metrics": metrics_of(info["metadata"], kind)}  # fmt: skip


def models(settings: Settings) -> dict[str, Any]:
    """Every version of both kinds with its metrics, and each kind's champion history, newest first."""
    out: dict[str, Any] = {}
    for kind in registry.KINDS:
        rows = []
        for row in registry.list_models(settings, kind):
            info = registry.model_info(settings, row["version"], kind)
            rows.append({**row, "metrics": {m["name"]: m for m in metrics_of(info["metadata"], kind)}})
        pointer = registry.read_pointer(settings, kind)
        out[kind] = {"versions": rows, "metric_names": METRICS[kind], "champion": pointer.get("champion"),
                     "history": list(reversed(pointer.get("history", [])))}  # fmt: skip
    return out


def latest_drift(settings: Settings) -> dict[str, Any] | None:
    """The newest drift check's verdict and its report pages (relative to the reports folder)."""
    found = sorted((settings.reports_dir / "drift").glob("*/summary.json"))
    if not found:
        return None
    summary = json.loads(found[-1].read_text())
    links = {}
    for key in ("report", "evidently_report", "evidently_quality_report"):
        if summary.get(key):
            path = Path(summary[key])
            if path.is_relative_to(settings.reports_dir):
                links[key] = str(path.relative_to(settings.reports_dir))
    return {
        "month": found[-1].parent.name,
        "drift_detected": bool(summary.get("drift_detected")),
        "drifted_features": summary.get("drifted_features") or [],
        "score_shift": (summary.get("scores") or {}).get("flagged"),
        "concept": (summary.get("concept") or {}).get("flagged"),
        "links": links,
    }


def reports(settings: Settings) -> list[str]:
    """Every HTML report the platform wrote, relative to the reports folder, newest first."""
    root = settings.reports_dir
    pages = sorted(root.rglob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True) if root.exists() else []
    return [str(p.relative_to(root)) for p in pages]


class PlanSummary:
    """The latest written plan (``outputs/action_plan.csv``) summed once per file version."""

    def __init__(self) -> None:
        self._stamp: tuple[int, int] | None = None
        self._value: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def of(self, settings: Settings) -> dict[str, Any] | None:
        path = settings.outputs_dir / "action_plan.csv"
        if not path.exists():
            return None
        stat = path.stat()
        with self._lock:
            if self._stamp != (stat.st_size, stat.st_mtime_ns):
                plan = pd.read_csv(path, usecols=["targeted", "control", "cost", "expected_value"])
                t = plan["targeted"].astype(bool)
                spend = float(plan.loc[t, "cost"].sum())
                net = float(plan.loc[t, "expected_value"].sum())
                written = pd.Timestamp(stat.st_mtime, unit="s", tz="UTC").isoformat(timespec="seconds")
                self._value = {"customers": len(plan), "targeted": int(t.sum()), "control": int(plan["control"].sum()),
                               "spend": spend, "expected_net_value": net, "roi": net / spend if spend > 0 else None,
                               "written": written}  # fmt: skip
                self._stamp = (stat.st_size, stat.st_mtime_ns)
            return self._value


def score_history(settings: Settings, customer_id: str, latest: Any = None) -> list[dict[str, Any]]:
    """The customer's row in every batch-scores file, oldest first; ``latest`` (the at-risk board) answers for its
    own file from memory. Older files are read filtered: their row groups' statistics skip all but one group."""
    out = []
    for path in sorted(settings.outputs_dir.glob("batch_scores_*.parquet")):
        if latest is not None and path == latest.path:
            row = latest.find(customer_id)
            if row is not None:
                out.append({"snapshot_date": row["snapshot_date"], "probability": row["probability"],
                            "risk_band": row["risk_band"], "model_version": row["model_version"]})  # fmt: skip
            continue
        table = ds.dataset(path, format="parquet").to_table(
            columns=["snapshot_date", "probability", "risk_band", "model_version"],
            filter=ds.field(ENTITY) == customer_id,
        )
        out += table.to_pylist()
    return out


def snapshot_history(settings: Settings, customer_id: str) -> list[dict[str, Any]]:
    """The customer's monthly snapshots (every declared feature), oldest first."""
    if not snapshot_months(settings.snapshots_dir):
        return []
    frame = read_snapshots(settings.snapshots_dir, customer_ids=[customer_id])
    if frame.empty:
        return []
    frame = frame.sort_values("snapshot_month")
    keep = ["snapshot_month", *[c for c in frame.columns if c not in (ENTITY, "snapshot_month", *NOT_SHOWN)]]
    return frame[keep].astype(object).where(frame[keep].notna(), None).to_dict("records")
