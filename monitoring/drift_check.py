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
from churn.io import write_json
from churn.metrics import pr_auc, roc_auc
from churn.offline import read_labels, read_snapshots, snapshot_months
from churn.pages import png, write_page
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
        figures = _figures(result, ref, cur, ref_p, cur_p)
        result["report"] = str(_summary_page(result, folder / "index.html", figures))
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
    from evidently.metrics import LogLoss, Precision, Recall, RocAuc
    from evidently.presets import DataDriftPreset

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
        # the measures the model is judged by, ranking first; no accuracy (0.97 by flagging nobody at a 3% base
        # rate) and no confusion matrix whose colour scale makes the true negatives the alarming cell
        judged_by = [
            RocAuc(probas_threshold=threshold),
            Precision(probas_threshold=threshold, conf_matrix=False, pr_curve=True),
            Recall(probas_threshold=threshold, conf_matrix=False),
            LogLoss(probas_threshold=threshold),
        ]
        _save(Report(judged_by).run(dataset, None), quality)
    return path


def _save(snapshot: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.html")
    snapshot.save_html(str(tmp))
    tmp.chmod(0o600)  # owner-only like every other output (Evidently writes with the umask)
    tmp.replace(path)


def _figures(
    result: dict[str, Any], ref: pd.DataFrame, cur: pd.DataFrame, ref_p: np.ndarray, cur_p: np.ndarray
) -> dict[str, Any]:
    """PSI per feature, and reference vs current for the drifted features and the score (at most six)."""
    from matplotlib.figure import Figure

    t = result["thresholds"]
    rows = sorted(result["features"], key=lambda f: f["psi"])
    fig = Figure(figsize=(10, 0.28 * len(rows) + 1.2))
    ax = fig.subplots()
    colours = ["#d64545" if f["psi"] > t["psi_significant"] else "#f0b429" if f["psi"] > t["psi_moderate"]
               else "#9fb3c8" for f in rows]  # fmt: skip
    ax.barh([f["feature"] for f in rows], [f["psi"] for f in rows], color=colours)
    ax.axvline(t["psi_significant"], color="#d64545", lw=0.8, ls="--")
    ax.axvline(t["psi_moderate"], color="#f0b429", lw=0.8, ls=":")
    ax.set(xlabel="PSI (reference deciles)", title="Population stability per feature")
    ax.tick_params(axis="y", labelsize=8)
    figures: dict[str, Any] = {"psi": png(fig), "distributions": []}
    pairs = [(name, ref[name], cur[name]) for name in result["drifted_features"][:5]]
    pairs.append(("churn probability (score)", pd.Series(ref_p), pd.Series(cur_p)))
    for name, r, c in pairs:
        fig = Figure(figsize=(5, 3))
        ax = fig.subplots()
        if pd.api.types.is_numeric_dtype(r) and not pd.api.types.is_bool_dtype(r):
            r_num = pd.to_numeric(r, errors="coerce").dropna().to_numpy(np.float64)
            c_num = pd.to_numeric(c, errors="coerce").dropna().to_numpy(np.float64)
            both = np.concatenate([r_num, c_num])
            edges = np.unique(np.quantile(both, np.linspace(0, 1, 31))) if len(both) else np.array([0.0, 1.0])
            ax.hist(r_num, bins=list(edges), density=True, alpha=0.55, label="reference", color="#486581")
            ax.hist(c_num, bins=list(edges), density=True, alpha=0.55, label="current", color="#d64545")
        else:
            shares = pd.DataFrame({"reference": r.astype(str).value_counts(normalize=True),
                                   "current": c.astype(str).value_counts(normalize=True)}).fillna(0.0)  # fmt: skip
            shares.plot.bar(ax=ax, color=["#486581", "#d64545"], alpha=0.8, rot=30)
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7)
        figures["distributions"].append((name, png(fig)))
    return figures


def _summary_page(result: dict[str, Any], path: Path, figures: dict[str, Any]) -> Path:
    """Our verdicts for people: the page that decides, linking Evidently's report beside it."""
    s, q, t = result["scores"], result["concept"], result["thresholds"]
    verdict = "DRIFT DETECTED" if result["drift_detected"] else "no drift"
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
        quality = q.get("note", "")
    served = result["served_scores"]
    served_text = (
        f"Served predictions: mean {served['mean_reference']:.4f} → {served['mean_current']:.4f} "
        f"({served['relative_change']:+.1%}) over {served['reference_rows']:,} / {served['current_rows']:,} answers; "
        f"{'flagged' if served['flagged'] else 'not flagged'}."
        if "mean_current" in served
        else f"Served predictions: {served.get('note', '')}."
    )
    reasons = []
    if result["drifted_features"]:
        reasons.append(f"{len(result['drifted_features'])} feature(s) moved beyond PSI {t['psi_significant']}")
    if s["flagged"]:
        reasons.append(f"the mean score moved {s['relative_change']:+.1%}")
    if q.get("flagged"):
        reasons.append("the model did worse on the labels that have matured")
    if served.get("flagged"):
        reasons.append("the served scores shifted")
    headline = (
        "Drift: " + "; ".join(reasons) + ". The drift flow retrains and the promotion gate decides."
        if result["drift_detected"]
        else "No drift: every feature, the scores and (where labels have matured) the model's quality are within "
        "their thresholds."
    )
    return write_page(
        "drift.html",
        path,
        verdict=verdict,
        detected=result["drift_detected"],
        headline=headline,
        reference_months=", ".join(result["reference"]["months"]),
        reference_rows=result["reference"]["rows"],
        current_months=", ".join(result["current"]["months"]),
        current_rows=result["current"]["rows"],
        model_version=result["model_version"],
        drifted=", ".join(result["drifted_features"]) or "none",
        figures=figures,
        scores_text=(
            f"Mean probability {s['mean_reference']:.4f} → {s['mean_current']:.4f} ({s['relative_change']:+.1%}); "
            f"PSI of the scores {s['psi']:.3f}; {'flagged' if s['flagged'] else 'not flagged'}."
        ),
        served_text=served_text,
        quality=quality,
        t=t,
        quality_page=bool(result.get("evidently_quality_report")),
        features=sorted(result["features"], key=lambda f: -f["psi"]),
        skipped=list(result.get("skipped_features", {}).items()),
    )


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
