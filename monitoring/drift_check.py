"""`churn drift`: a current window against a reference window — features, scores and, once labels matured, quality.

Each date names the snapshot month containing it; ``window_months`` widens a
window backwards. Features come from the offline store. Scores come from the
batch-score files of those months when the champion wrote them, and from the
champion itself for every row they lack, so the check needs nothing else to
have run first; served predictions (the prediction log, what-if requests
excluded) get their own shift statistic when both windows have them.
Concept drift is measured on the most recent months *before* the current one
whose labels have matured by then.

:func:`assess` holds every verdict and reads nothing; :func:`check` loads and
writes. The statistics are :mod:`churn.drift`'s. For people, the check writes
``CHURN_HOME/reports/drift/<current month>/``: ``index.html`` (our verdicts,
PSI per feature, drifted columns first), ``evidently.html`` (Evidently's data
drift report with PSI per column — its PSI bins are equal-width, so its numbers
differ from ours, and ours decide), ``evidently_quality.html`` when matured
labels exist (classification quality) and ``summary.json``.
"""

from __future__ import annotations

import html
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.clock import platform_clock
from churn.drift import calibration_drift, concept_drift, feature_drift, measurable, score_shift
from churn.drift_thresholds import DriftThresholds
from churn.errors import InputError
from churn.io import write_json, write_text
from churn.metrics import pr_auc, roc_auc
from churn.offline import read_labels, read_snapshots, snapshot_months
from churn.prediction_log import read_prediction_log
from churn.schema import ENTITY, EVENT_TIMESTAMP, LABEL
from churn.settings import Settings
from churn.timeutil import month_index_of, month_label, parse_date, parse_month
from training import registry

REPORT_SAMPLE = 200_000  # rows per window the Evidently report sees at most
MIN_SERVED = 200  # served predictions per window below which their shift is not judged


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


def matured_months(current_months: list[str], window_months: int) -> list[str]:
    """The ``window_months`` months before the current window's last: their labels are known by then."""
    last = parse_month(current_months[-1])
    return [month_label(i) for i in range(last - window_months, last)]


def assess(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    features: list[str],
    ref_p: np.ndarray,
    cur_p: np.ndarray,
    labelled: pd.DataFrame | None,
    champion_test: dict[str, Any],
    thresholds: DriftThresholds,
) -> dict[str, Any]:
    """Every statistic and verdict of one check; ``labelled`` has LABEL and ``probability`` for matured rows."""
    table = feature_drift(ref, cur, features, thresholds)
    scores = score_shift(ref_p, cur_p, thresholds)
    quality = _quality(labelled, champion_test, thresholds)
    drifted = sorted(table.index[table.level == "significant"], key=lambda f: -table.loc[f, "psi"])
    return {
        "thresholds": asdict(thresholds),
        "features": table.round(6).reset_index().to_dict("records"),
        "drifted_features": drifted,
        "moderate_features": sorted(table.index[table.level == "moderate"]),
        "scores": scores,
        "concept": quality,
        "drift_detected": bool(drifted or scores["flagged"] or quality["flagged"]),
    }


def _quality(labelled: pd.DataFrame | None, champion: dict[str, Any], t: DriftThresholds) -> dict[str, Any]:
    if labelled is None or len(labelled) == 0:
        return {"labelled_rows": 0, "flagged": False, "note": "no matured labels for these months"}
    y = labelled[LABEL].to_numpy(int)
    p = labelled["probability"].to_numpy(np.float64)
    if y.min() == y.max() or not champion.get("roc_auc"):
        return {"labelled_rows": len(y), "flagged": False, "note": "matured labels hold one class only"}
    ranking = concept_drift(roc_auc(y, p), float(champion["roc_auc"]), t)
    calibration = calibration_drift(y, p, t)
    return {
        **ranking,
        "pr_auc_current": pr_auc(y, p),
        "pr_auc_champion": champion.get("pr_auc"),
        "labelled_rows": len(y),
        "ranking_flagged": ranking["flagged"],
        "calibration": calibration,
        "flagged": ranking["flagged"] or calibration["flagged"],
    }


def _scores(settings: Settings, frame: pd.DataFrame, month: str, model: Any, version: str) -> tuple:
    """Probabilities for one month's ``frame``: the champion's batch scores of that month if any, else the model."""
    p = pd.Series(np.nan, index=frame.index)
    used: list[str] = []
    for path in sorted(settings.outputs_dir.glob(f"batch_scores_{month}-*.parquet"), reverse=True):
        batch = pd.read_parquet(path, columns=[ENTITY, "probability", "model_version"])
        if (batch["model_version"] == version).all():  # the newest file of the month this champion wrote
            p = frame[ENTITY].astype(str).map(batch.set_index(ENTITY)["probability"])
            used.append(path.name)
            break
    missing = p.isna().to_numpy()
    if missing.any():
        p.loc[missing] = model.predict_proba(frame.loc[missing])
    source = {"batch_score_files": used, "rows_from_files": int((~missing).sum()), "rows_scored": int(missing.sum())}
    return p.to_numpy(np.float64), source


def _served(settings: Settings, ref_months: list[str], cur_months: list[str], t: DriftThresholds) -> dict[str, Any]:
    """Shift of served probabilities (what-if excluded), windows by the month of the features served."""
    log = read_prediction_log(settings.home_dir)
    if log.empty:
        return {"reference_rows": 0, "current_rows": 0, "flagged": False, "note": "no served predictions logged"}
    log = log[~log["what_if"].astype(bool) & log["feature_timestamp"].notna()]
    month = pd.to_datetime(log["feature_timestamp"], utc=True).dt.strftime("%Y-%m")
    ref = log.loc[month.isin(ref_months), "probability"].to_numpy(np.float64)
    cur = log.loc[month.isin(cur_months), "probability"].to_numpy(np.float64)
    counts = {"reference_rows": len(ref), "current_rows": len(cur)}
    if min(len(ref), len(cur)) < MIN_SERVED:
        return {**counts, "flagged": False, "note": f"fewer than {MIN_SERVED} served predictions in a window"}
    return {**counts, **score_shift(ref, cur, t)}


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
    version = registry.champion_version(settings, "first")
    model = registry.load_model(settings, version, nthread=0)
    features = model.features
    scored = _ScoredMonths(settings, model, version)
    ref, ref_p, ref_source = scored.get(ref_months)
    cur, cur_p, cur_source = scored.get(cur_months)
    labelled, label_months = _labelled(settings, matured_months(cur_months, window_months), scored)
    features, skipped = measurable(ref, cur, features)
    result: dict[str, Any] = {
        "reference": {"months": ref_months, "rows": len(ref), "scores": ref_source},
        "current": {"months": cur_months, "rows": len(cur), "scores": cur_source},
        "label_months": label_months,
        "model_version": version,
        **assess(ref, cur, features, ref_p, cur_p, labelled, model.metadata.get("test") or {}, t),
        "skipped_features": skipped,
        "served_scores": _served(settings, ref_months, cur_months, t),
    }
    result["drift_detected"] = result["drift_detected"] or result["served_scores"]["flagged"]
    folder = settings.reports_dir / "drift" / cur_months[-1]
    if report:
        evidently = _evidently(ref, cur, features, ref_p, cur_p, labelled, folder / "evidently.html", t)
        result["evidently_report"] = str(evidently)
        quality_page = evidently.with_name("evidently_quality.html")
        if quality_page.exists():
            result["evidently_quality_report"] = str(quality_page)
        result["report"] = str(_summary_page(result, folder / "index.html"))
    result["seconds"] = round(time.perf_counter() - began, 2)
    write_json(result, folder / "summary.json")
    return result


class _ScoredMonths:
    """Snapshots and the champion's probabilities per month, each read and scored once per check.

    A window's month is often also the month whose labels matured (a reference
    month a month back, say); scoring it twice was a third of a 1M-row check.
    """

    def __init__(self, settings: Settings, model: Any, version: str) -> None:
        self.settings, self.model, self.version = settings, model, version
        self.cache: dict[str, tuple[pd.DataFrame, np.ndarray, dict[str, Any]]] = {}

    def one(self, month: str) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
        if month not in self.cache:
            frame = read_snapshots(self.settings.snapshots_dir, [month])
            p, source = _scores(self.settings, frame, month, self.model, self.version)
            self.cache[month] = (frame, p, source)
        return self.cache[month]

    def get(self, months: list[str]) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
        parts = [self.one(m) for m in months]
        frame = parts[0][0] if len(parts) == 1 else pd.concat([f for f, _, _ in parts], ignore_index=True)
        source = {
            "batch_score_files": [name for _, _, s in parts for name in s["batch_score_files"]],
            "rows_from_files": sum(s["rows_from_files"] for _, _, s in parts),
            "rows_scored": sum(s["rows_scored"] for _, _, s in parts),
        }
        return frame, np.concatenate([p for _, p, _ in parts]), source


def _labelled(settings: Settings, months: list[str], scored: _ScoredMonths) -> tuple[pd.DataFrame | None, list]:
    """Matured labels of ``months`` joined to their snapshots and the champion's probability."""
    available = set(snapshot_months(settings.snapshots_dir))
    months = [m for m in months if m in available]
    if not months:
        return None, []
    try:
        labels = read_labels(settings.labels_path)
    except InputError:
        return None, []
    frame, p, _ = scored.get(months)
    rows = frame[[ENTITY, EVENT_TIMESTAMP]].assign(probability=p).merge(labels, on=[ENTITY, EVENT_TIMESTAMP])
    if rows.empty:
        return None, months
    return rows, months


def _evidently(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    features: list[str],
    ref_p: np.ndarray,
    cur_p: np.ndarray,
    labelled: pd.DataFrame | None,
    path: Path,
    thresholds: DriftThresholds,
) -> Path:
    # imported here: Evidently costs seconds to import (11 s measured cold), and only the HTML reports need it
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset

    from monitoring.evidently_psi import churn_psi_stattest

    # Evidently refuses a column empty in either window; ours judge those (a feature that stopped arriving)
    features = [f for f in features if ref[f].notna().any() and cur[f].notna().any()]
    columns = [*features, "probability"]

    def plain(frame: pd.DataFrame) -> pd.DataFrame:  # Evidently knows numpy dtypes, not pandas' nullable Int64
        return frame.astype({name: "float64" for name in features if isinstance(frame[name].dtype, pd.Int64Dtype)})

    r = plain(ref[features]).assign(probability=ref_p)
    c = plain(cur[features]).assign(probability=cur_p)
    if len(c) > REPORT_SAMPLE:
        c = c.sample(REPORT_SAMPLE, random_state=0)
    if len(r) > REPORT_SAMPLE:
        r = r.sample(REPORT_SAMPLE, random_state=0)
    # Our PSI (reference deciles, one bin per value for counts) at our threshold, and one drifted column is
    # dataset drift: Evidently's page then says what ours says about the features and the score.
    preset = DataDriftPreset(
        columns=columns,
        method=churn_psi_stattest(thresholds),
        threshold=thresholds.psi_significant,
        drift_share=0.5 / len(columns),
    )
    _save(Report([preset]).run(c, r), path)  # current first
    quality = path.with_name("evidently_quality.html")
    quality.unlink(missing_ok=True)  # a page from an earlier check must not pass for this one's
    if labelled is not None and labelled[LABEL].nunique() == 2:
        frame = labelled[[LABEL, "probability"]].astype({LABEL: int})
        if len(frame) > REPORT_SAMPLE:
            frame = frame.sample(REPORT_SAMPLE, random_state=0)
        definition = DataDefinition(
            numerical_columns=["probability"],
            classification=[BinaryClassification(target=LABEL, prediction_probas="probability", pos_label=1)],
        )
        dataset = Dataset.from_pandas(frame, data_definition=definition)
        # classes at the top decile of probability: the customers a campaign would reach (0.5 flags nobody)
        threshold = float(np.quantile(frame["probability"], 0.9))
        _save(Report([ClassificationPreset(probas_threshold=threshold)]).run(dataset, None), quality)
    return path


def _save(snapshot: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.html")
    snapshot.save_html(str(tmp))
    tmp.replace(path)


def _summary_page(result: dict[str, Any], path: Path) -> Path:
    """Our verdicts for people: the page that decides, linking Evidently's report beside it."""
    esc = html.escape
    rows = sorted(result["features"], key=lambda f: -f["psi"])
    body = "".join(
        f"<tr class='{esc(f['level'])}'><td>{esc(f['feature'])}</td><td>{f['psi']:.4f}</td>"
        f"<td>{f['kl']:.4f}</td><td>{esc(f['level'])}</td></tr>"
        for f in rows
    )
    s, q = result["scores"], result["concept"]
    verdict = "DRIFT DETECTED" if result["drift_detected"] else "no drift"
    drifted = ", ".join(result["drifted_features"]) or "none"
    t = result["thresholds"]
    if "roc_auc_current" in q:
        c = q["calibration"]
        quality = (
            f"ROC-AUC {q['roc_auc_current']:.3f} on {q['labelled_rows']:,} matured labels "
            f"({', '.join(result['label_months'])}) vs the champion's {q['roc_auc_champion']:.3f}: "
            f"relative drop {q['relative_drop']:+.1%} (alarm above {t['auc_drop']:.0%}). Churners observed "
            f"{c['observed_churners']:,} vs {c['expected_churners']:,.1f} expected by the calibrated model: "
            f"{c['observed_to_expected']:.2f}×, z = {c['z']:+.1f} (alarm beyond {t['calibration_z']:g} sd and "
            f"{t['calibration_ratio']:.0%}); {'flagged' if q['flagged'] else 'not flagged'}."
        )
    else:
        quality = esc(q.get("note", ""))
    served = result["served_scores"]
    served_text = (
        f"Served predictions: mean {served['mean_reference']:.4f} → {served['mean_current']:.4f} "
        f"({served['relative_change']:+.1%}) over {served['reference_rows']:,} / {served['current_rows']:,} answers; "
        f"{'flagged' if served['flagged'] else 'not flagged'}."
        if "mean_current" in served
        else f"Served predictions: {esc(served.get('note', ''))}."
    )
    quality_link = (
        ', with <a href="evidently_quality.html">classification quality on the matured labels</a>'
        if result.get("evidently_quality_report")
        else ""
    )
    skipped = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in result.get("skipped_features", {}).items())
    skipped = f"<h2>Not judged</h2><ul id='skipped'>{skipped}</ul>" if skipped else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Drift {esc(verdict)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}td,th{{padding:2px 10px;text-align:left}}
tr.significant{{background:#fdd}}tr.moderate{{background:#ffd}}</style></head><body>
<h1 id="verdict">Drift check: {esc(verdict)}</h1>
<p>Reference {esc(", ".join(result["reference"]["months"]))} ({result["reference"]["rows"]:,} rows) → current
{esc(", ".join(result["current"]["months"]))} ({result["current"]["rows"]:,} rows); champion
{esc(result["model_version"])}.</p>
<h2>Drifted features</h2><p id="drifted">{esc(drifted)}</p>
<h2>Scores</h2><p>Mean probability {s["mean_reference"]:.4f} → {s["mean_current"]:.4f}
({s["relative_change"]:+.1%}); PSI of the scores {s["psi"]:.3f}; {"flagged" if s["flagged"] else "not flagged"}.
{served_text}</p>
<h2>Concept drift</h2><p>{quality}</p>
<h2>PSI and KL per feature</h2>
<p>Bins from the reference window's deciles (categories, and counts with few values, one bin per value);
significant above {t["psi_significant"]}, moderate above {t["psi_moderate"]}.
These numbers decide. <a href="evidently.html">Evidently's data drift report</a> runs this same PSI at the
same threshold over the features and the score (its dataset verdict is drift when any one column drifts); the
mean-score shift and the matured labels' quality are judged here only{quality_link}.</p>
<table><tr><th>feature</th><th>PSI</th><th>KL</th><th>level</th></tr>{body}</table>
{skipped}
</body></html>"""
    write_text(page, path)
    return path


def scheduled_dates(settings: Settings) -> tuple[str, str]:
    """The windows a scheduled check compares: the champion's last test month against the platform clock's month.

    The reference is what the champion was last shown to work on; once a
    retrained champion replaces it, the reference moves with it, so an alarm
    that retraining answered does not ring again.
    """
    current = platform_clock(settings)
    version = registry.champion_version(settings, "first")
    metadata = registry.model_info(settings, version)["metadata"]
    test = (metadata.get("windows") or {}).get("test") or []
    reference = parse_month(max(test)) if test else current - 1
    if reference >= current:
        reference = current - 1
    return f"{month_label(reference)}-01", f"{month_label(current)}-01"
