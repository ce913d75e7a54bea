"""The promotion gate applied: a challenger against the champion on the challenger's own test window.

Training applies it to the version it just registered; `churn models promote`
applies it to any registered version, and promotes one that fails only with
``--force`` (recorded as such in the history).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from churn.errors import InputError
from churn.metrics import all_metrics
from churn.offline import read_labels
from churn.schema import EVENT_TIMESTAMP, LABEL
from churn.settings import Settings
from store.feast_store import get_store
from store.training_sets import build_training_set
from training import registry
from training.config import DEFAULT_SERVICE


def _champion_on(
    settings: Settings, test_frame: pd.DataFrame
) -> tuple[str | None, dict[str, float] | None, str | None]:
    """(the champion, its metrics on ``test_frame``, why it could not be judged)."""
    current = registry.read_pointer(settings).get("champion")
    if not current:
        return None, None, None
    try:
        champion = registry.load_model(settings, current)
        return current, all_metrics(test_frame[LABEL].to_numpy(), champion.predict_proba(test_frame)), None
    except (InputError, KeyError, ValueError) as err:
        return current, None, str(err)


def gate(
    settings: Settings, challenger: dict[str, float], test_frame: pd.DataFrame, leakage_passed: bool, margin: float
) -> registry.Decision:
    """The automatic gate's decision, with the comparison it rests on named first."""
    current, champion_metrics, error = _champion_on(settings, test_frame)
    decision = registry.decide(challenger, champion_metrics, leakage_passed, margin, error)
    if current and champion_metrics is not None:
        decision.reasons.insert(0, f"compared with champion {current} on the same test window")
    return decision


def promotion_decision(
    settings: Settings,
    promote: str,
    version: str,
    challenger: dict[str, float],
    test_frame: pd.DataFrame,
    leakage_passed: bool,
    margin: float,
    blockers: tuple[str, ...] = (),
) -> registry.Decision:
    """Apply ``--promote auto|force|never`` to a freshly trained version and record the outcome; in auto mode,
    ``blockers`` (e.g. fairness warnings under CHURN_FAIRNESS_GATE) refuse the promotion and say why."""

    def judged() -> registry.Decision:
        decision = gate(settings, challenger, test_frame, leakage_passed, margin)
        if blockers:
            return registry.Decision(False, [*decision.reasons, *(f"blocked: {b}" for b in blockers)])
        return decision

    return apply_mode(settings, promote, version, judged)


def apply_mode(
    settings: Settings, mode: str, version: str, judge: Callable[[], registry.Decision], kind: str = "churn"
) -> registry.Decision:
    """``--promote never|force|auto`` for a version just registered (``judge`` decides auto), recorded in the
    history of its kind's champion: one rule for the churn model and the lifetime model."""
    if mode == "never":
        decision = registry.Decision(False, ["--promote never"])
    elif mode == "force":
        decision = registry.Decision(True, ["--promote force"])
    else:
        decision = judge()
    if decision.promote:
        registry.promote(settings, version, decision.reasons, kind=kind)
    else:
        registry.keep(settings, version, decision.reasons, kind=kind)
    return decision


def judge_registered(settings: Settings, version: str, margin: float = 0.005) -> registry.Decision:
    """The gate for a version registered earlier: its recorded test figures and windows, the champion rescored there."""
    metadata = registry.model_info(settings, version)["metadata"]
    months = (metadata.get("windows") or {}).get("test") or []
    challenger = metadata.get("test")
    if not months or not challenger:
        return registry.Decision(False, [f"{version} records no test window to judge it on"])
    labels = read_labels(settings.labels_path)
    labels = labels[labels[EVENT_TIMESTAMP].dt.strftime("%Y-%m").isin(months)]
    if labels.empty:
        return registry.Decision(False, [f"the offline store holds no labels of {version}'s test months {months}"])
    champion = registry.read_pointer(settings).get("champion")
    holder = registry.model_info(settings, champion)["metadata"] if champion else metadata  # the champion rescored
    frame = build_training_set(get_store(settings), labels, str(holder.get("feature_service") or DEFAULT_SERVICE))
    leakage = bool((metadata.get("leakage") or {}).get("passed", True))
    return gate(settings, challenger, frame, leakage, margin)
