"""What the flows tell people: a log line and a Prefect artifact always, a webhook POST when one is configured."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from churn.settings import Settings


def _key(text: str) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes."""
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def table(key: str, rows: list[dict[str, Any]], description: str) -> None:
    create_table_artifact(key=_key(key), table=rows, description=description)


def markdown(key: str, text: str, description: str) -> None:
    create_markdown_artifact(key=_key(key), markdown=text, description=description)


def announce(settings: Settings, event: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    """A drift alarm or a promotion: logged, published as an artifact, and POSTed to ``CHURN_ALERT_WEBHOOK``.

    A webhook that fails is logged and never fails the flow: the alarm is
    already in the log and the artifact.
    """
    logger = get_run_logger()
    logger.warning("%s: %s", event, message)
    body = "\n".join(f"- **{k}**: {v}" for k, v in details.items())
    markdown(f"alert-{event}", f"## {event}\n\n{message}\n\n{body}", message)
    delivered: bool | None = None
    if settings.alert_webhook:
        payload = json.dumps({"event": event, "text": message, "details": details}, default=str).encode()
        request = urllib.request.Request(
            settings.alert_webhook, data=payload, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                delivered = 200 <= response.status < 300
        except OSError as err:
            logger.error("alert webhook %s failed: %s", settings.alert_webhook, err)
            delivered = False
    return {"event": event, "message": message, "webhook_delivered": delivered}


def materialization(result: dict[str, Any]) -> None:
    table(
        "materialization",
        [{"mode": result["mode"], "customers": result["customers"], "seconds": result["seconds"],
          "fresh before": result["before"]["fresh_share"], "fresh after": result["after"]["fresh_share"]}],
        f"online store at {result['before']['month']}",
    )  # fmt: skip


def training(settings: Settings, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics table, the model report's path, and an announcement when the champion changed."""
    test = result["test"]
    table(
        "training-metrics",
        [{"model": result["version"], **{k: round(float(v), 4) for k, v in test.items()}}],
        "; ".join(result["decision"]),
    )
    if result.get("report"):
        markdown("model-report", f"Model report: `{result['report']}`", result["version"])
    if not result["promoted"]:
        return []
    return [announce(settings, "promotion", f"{result['version']} is the new champion",
                     {"reasons": "; ".join(result["decision"]), **test})]  # fmt: skip


def plan(result: dict[str, Any]) -> None:
    keys = ("date", "customers", "targeted", "spend", "expected_saved_revenue", "expected_net_value", "roi")
    table("action-plan", [{k: result.get(k) for k in keys}], f"action plan: {result['latest']}")


def drift(settings: Settings, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The PSI table, the report's path, an alarm when drift was found, and the retraining's outcome.

    Returns what was announced, each with whether its webhook took it.
    """
    announced: list[dict[str, Any]] = []
    rows = [{"feature": f["feature"], "psi": f["psi"], "kl": f["kl"], "level": f["level"]}
            for f in sorted(result["features"], key=lambda f: -f["psi"])]  # fmt: skip
    table("drift-features", rows, f"{result['reference']['months']} -> {result['current']['months']}")
    if result.get("report"):
        markdown("drift-report", f"Drift report: `{result['report']}`", "drift report")
    if result["drift_detected"]:
        what = ", ".join(result["drifted_features"]) or "scores or quality"
        alarm = announce(
            settings, "drift", f"drift in {result['current']['months'][-1]}: {what}",
            {"scores_flagged": result["scores"]["flagged"], "concept_flagged": result["concept"]["flagged"],
             "report": result.get("report")},
        )  # fmt: skip
        announced.append(alarm)
    response = result.get("response") or {}
    if response.get("action") == "retrained":
        announced += training(settings, {**response, "report": None})
    return announced
