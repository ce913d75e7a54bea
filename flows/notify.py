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
