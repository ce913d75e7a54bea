"""Weekly: the drift check; on drift, retraining, and the promotion gate decides. Alarms are announced."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows import notify, steps
from flows.train import publish_training


@flow(name="drift check", log_prints=True)
def drift_flow(
    as_of: str | None = None,
    reference_date: str | None = None,
    current_date: str | None = None,
    retrain: bool = True,
) -> dict[str, Any]:
    """Without dates: the champion's last test month against the clock's month (see `scheduled_dates`)."""
    settings = steps.settings_at(as_of)
    result = steps.drift(settings, retrain, reference_date, current_date)
    rows = [{"feature": f["feature"], "psi": f["psi"], "kl": f["kl"], "level": f["level"]}
            for f in sorted(result["features"], key=lambda f: -f["psi"])]  # fmt: skip
    notify.table("drift-features", rows, f"{result['reference']['months']} -> {result['current']['months']}")
    if result.get("report"):
        notify.markdown("drift-report", f"Drift report: `{result['report']}`", "drift report")
    if result["drift_detected"]:
        what = ", ".join(result["drifted_features"]) or "scores or quality"
        notify.announce(
            settings, "drift", f"drift in {result['current']['months'][-1]}: {what}",
            {"scores_flagged": result["scores"]["flagged"], "concept_flagged": result["concept"]["flagged"],
             "report": result.get("report")},
        )  # fmt: skip
    response = result.get("response") or {}
    if response.get("action") == "retrained":
        publish_training(settings, {**response, "report": None})
    return result
