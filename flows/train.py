"""Monthly: train → evaluate → gate → promote or keep, with the gate's reasons published and announced."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows import notify, steps


def publish_training(settings: Any, result: dict[str, Any]) -> None:
    """The metrics table, the model report's path, and an announcement when the champion changed."""
    test = result["test"]
    notify.table(
        "training-metrics",
        [{"model": result["version"], **{k: round(float(v), 4) for k, v in test.items()}}],
        "; ".join(result["decision"]),
    )
    if result.get("report"):
        notify.markdown("model-report", f"Model report: `{result['report']}`", result["version"])
    if result["promoted"]:
        notify.announce(settings, "promotion", f"{result['version']} is the new champion",
                        {"reasons": "; ".join(result["decision"]), **test})  # fmt: skip


@flow(name="training", log_prints=True)
def training_flow(as_of: str | None = None, promote: str = "auto", bootstrap: int = 50) -> dict[str, Any]:
    settings = steps.settings_at(as_of)
    result = steps.train(settings, promote=promote, bootstrap=bootstrap)
    publish_training(settings, result)
    return result
