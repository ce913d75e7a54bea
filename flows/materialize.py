"""Daily: bring the online store to the platform clock (a full reload when it finds the store empty or stale)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows import notify, steps


@flow(name="materialize", log_prints=True)
def materialize_flow(as_of: str | None = None) -> dict[str, Any]:
    settings = steps.settings_at(as_of)
    result = steps.refresh_online(settings)
    notify.table(
        "materialization",
        [{"mode": result["mode"], "customers": result["customers"], "seconds": result["seconds"],
          "fresh before": result["before"]["fresh_share"], "fresh after": result["after"]["fresh_share"]}],
        f"online store at {result['before']['month']}",
    )  # fmt: skip
    return result
