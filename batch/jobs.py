"""The batch scoring job on the profile's engine: Spark for `spark`, this process otherwise."""

from __future__ import annotations

from collections.abc import Callable

from batch.scoring import IN_PROCESS_STEPS, ScoreResult, score_in_process
from batch.spark_scoring import SPARK_STEPS, score_spark
from churn.actions import Catalogue
from churn.settings import Settings


def score(
    settings: Settings,
    day: str | None = None,
    catalogue: Catalogue | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScoreResult:
    """Score every customer active at ``day`` on the engine the profile names.

    The CLI, the flows and the benchmarks call this one function, so moving to
    Spark is a change of ``CHURN_PROFILE``, not of code; both engines write the
    same rows (tested).
    """
    if settings.profile == "spark":
        return score_spark(settings, day, catalogue, progress)
    return score_in_process(settings, day, catalogue, progress)


def step_count(settings: Settings) -> int:
    """How many progress messages the profile's scoring job reports: the CLI's bar shows step k of this."""
    return SPARK_STEPS if settings.profile == "spark" else IN_PROCESS_STEPS
