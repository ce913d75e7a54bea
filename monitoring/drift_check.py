"""`churn drift`: a current window against a reference window — features, scores and, once labels matured, quality.

Each date names the snapshot month containing it; ``window_months`` widens a
window backwards. Features come from the offline store; scores from the
champion itself (so the check needs nothing else to have run first). The
statistics and verdicts are :mod:`churn.drift`'s; Evidently's HTML report
(equal-width PSI bins, so its numbers differ) is written for people beside
our JSON summary under ``CHURN_HOME/reports/drift/<current month>/``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.drift import DriftThresholds, concept_drift, feature_drift, score_shift
from churn.io import write_json
from churn.metrics import pr_auc, roc_auc
from churn.offline import read_labels, read_snapshots, snapshot_months
from churn.schema import ENTITY, EVENT_TIMESTAMP, LABEL
from churn.settings import Settings
from churn.timeutil import InputError, month_index_of, month_label, parse_date
from training import registry

REPORT_SAMPLE = 200_000  # rows of the current window the HTML report sees at most


def window(settings: Settings, date: str, months: int, field: str) -> list[str]:
    """The snapshot months of a window ending with the month containing ``date``."""
    if months < 1:
        raise InputError(f"--window-months: must be at least 1, got {months}")
    end = month_index_of(parse_date(date, field=field))
    wanted = [month_label(i) for i in range(end - months + 1, end + 1)]
    available = set(snapshot_months(settings.snapshots_dir))
    missing = [m for m in wanted if m not in available]
    if missing:
        raise InputError(f"{field}: no snapshots for {missing} in the offline store")
    return wanted


def check(
    settings: Settings,
    reference_date: str,
    current_date: str,
    window_months: int = 1,
    thresholds: DriftThresholds | None = None,
    report: bool = True,
) -> dict[str, Any]:
    began = time.perf_counter()
    t = thresholds or DriftThresholds()
    ref_months = window(settings, reference_date, window_months, "--reference-date")
    cur_months = window(settings, current_date, window_months, "--current-date")
    version = registry.read_pointer(settings).get("champion")
    if not version:
        raise registry.RegistryError("registry: no champion model yet — run `churn train` first")
    model = registry.load_model(settings, version, nthread=0)
    features = model.features
    ref = read_snapshots(settings.snapshots_dir, ref_months)
    cur = read_snapshots(settings.snapshots_dir, cur_months)
    ref_p, cur_p = model.predict_proba(ref), model.predict_proba(cur)
    table = feature_drift(ref, cur, features, t)
    scores = score_shift(ref_p, cur_p, t)
    quality = _quality(settings, cur, cur_p, model.metadata.get("test") or {}, t)
    drifted = sorted(table.index[table.level == "significant"])
    result: dict[str, Any] = {
        "reference": {"months": ref_months, "rows": len(ref)},
        "current": {"months": cur_months, "rows": len(cur)},
        "model_version": version,
        "thresholds": asdict(t),
        "features": table.round(6).reset_index().to_dict("records"),
        "drifted_features": drifted,
        "moderate_features": sorted(table.index[table.level == "moderate"]),
        "scores": scores,
        "concept": quality,
        "drift_detected": bool(drifted or scores["flagged"] or (quality or {}).get("flagged", False)),
    }
    folder = settings.reports_dir / "drift" / cur_months[-1]
    if report:
        result["report"] = str(_evidently(ref, cur, features, ref_p, cur_p, folder / "index.html"))
    result["seconds"] = round(time.perf_counter() - began, 2)
    write_json(result, folder / "summary.json")
    return result


def _quality(
    settings: Settings, cur: pd.DataFrame, cur_p: np.ndarray, champion: dict[str, Any], t: DriftThresholds
) -> dict[str, Any] | None:
    """ROC-AUC / PR-AUC on the current window's rows whose labels have matured, against the champion's test."""
    try:
        labels = read_labels(settings.labels_path)
    except InputError:
        return None
    frame = cur[[ENTITY, EVENT_TIMESTAMP]].assign(_p=cur_p).merge(labels, on=[ENTITY, EVENT_TIMESTAMP], how="inner")
    y = frame[LABEL].to_numpy(int)
    if len(frame) == 0 or y.min() == y.max() or not champion.get("roc_auc"):
        return {"labelled_rows": len(frame), "flagged": False, "note": "no matured labels with both classes yet"}
    current = roc_auc(y, frame["_p"].to_numpy())
    out = concept_drift(current, float(champion["roc_auc"]), t)
    return {**out, "pr_auc_current": pr_auc(y, frame["_p"].to_numpy()), "labelled_rows": len(frame)}


def _evidently(
    ref: pd.DataFrame, cur: pd.DataFrame, features: list[str], ref_p: np.ndarray, cur_p: np.ndarray, path: Path
) -> Path:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    columns = [*features, "probability"]
    r = ref[features].assign(probability=ref_p)
    c = cur[features].assign(probability=cur_p)
    if len(c) > REPORT_SAMPLE:
        c = c.sample(REPORT_SAMPLE, random_state=0)
    if len(r) > REPORT_SAMPLE:
        r = r.sample(REPORT_SAMPLE, random_state=0)
    snapshot = Report([DataDriftPreset(columns=columns, method="psi")]).run(c, r)  # current first
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.html")
    snapshot.save_html(str(tmp))
    tmp.replace(path)
    return path
