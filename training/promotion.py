"""The promotion gate applied: a challenger against the champion on the challenger's own held-out rows.

Training applies it to the version it just registered; `churn models promote`
applies it to any registered version, and promotes one that fails only with
``--force`` (recorded as such in the history).

Like is compared with like. A champion that never saw the challenger's held-out
rows (the test months of a monthly history, or another source's customers) is
rescored on them. On a cross-section judged by K-fold, the champion was fitted
on those very customers, so rescoring it would flatter it: a K-fold champion of
the same data is compared by its own recorded out-of-fold figures (the same
folds: same rows, same seed), and a champion judged another way on the same
data cannot be compared at all — the challenger is kept, and the reason says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from churn.errors import InputError
from churn.metrics import all_metrics
from churn.offline import read_labels
from churn.schema import EVENT_TIMESTAMP, LABEL
from churn.settings import Settings
from churn.timeutil import month_labels
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


def _mode(metadata: dict[str, Any]) -> str:
    return str((metadata.get("evaluation") or {}).get("mode") or "time")  # versions before K-fold: time


def _same_data(a: dict[str, Any], b: dict[str, Any]) -> bool:
    fa, fb = ((m.get("lineage") or {}).get("fingerprint") for m in (a, b))
    return fa is not None and fa == fb


def like_with_like(
    settings: Settings, challenger_meta: dict[str, Any]
) -> tuple[str, dict[str, Any] | None, str | None]:
    """How the champion is judged against this challenger: ("rescore", None, None) on the challenger's held-out
    rows; ("recorded", its out-of-fold figures, champion); or ("incomparable", None, why)."""
    current = registry.read_pointer(settings).get("champion")
    if not current:
        return "rescore", None, None
    try:
        theirs = registry.model_info(settings, current)["metadata"]
    except (registry.RegistryError, KeyError):
        return "rescore", None, None  # an unreadable champion: the rescore reports it
    if not _same_data(theirs, challenger_meta) or (_mode(theirs) == _mode(challenger_meta) == "time"):
        return "rescore", None, None
    if _mode(theirs) == _mode(challenger_meta) == "kfold" and theirs.get("evaluation") == challenger_meta.get(
        "evaluation"
    ):
        return "recorded", theirs.get("test"), current
    why = (
        f"champion {current} was judged by {_mode(theirs)} ({theirs.get('evaluation') or 'time windows'}) and "
        f"this version by {_mode(challenger_meta)} on the same data; rescoring a model on rows it was fitted on "
        "would flatter it, so the two cannot be compared — promote with --promote force after reading both reports"
    )
    return "incomparable", None, why


def promotion_decision(
    settings: Settings,
    promote: str,
    version: str,
    challenger: dict[str, float],
    test_frame: pd.DataFrame,
    leakage_passed: bool,
    margin: float,
    blockers: tuple[str, ...] = (),
    metadata: dict[str, Any] | None = None,
) -> registry.Decision:
    """Apply ``--promote auto|force|never`` to a freshly trained version and record the outcome; in auto mode,
    ``blockers`` (e.g. fairness warnings under CHURN_FAIRNESS_GATE) refuse the promotion and say why."""

    def judged() -> registry.Decision:
        decision = judge_like_with_like(settings, challenger, test_frame, leakage_passed, margin, metadata or {})
        if blockers:
            return registry.Decision(False, [*decision.reasons, *(f"blocked: {b}" for b in blockers)])
        return decision

    return apply_mode(settings, promote, version, judged)


def judge_like_with_like(
    settings: Settings,
    challenger: dict[str, float],
    test_frame: pd.DataFrame | None,
    leakage_passed: bool,
    margin: float,
    metadata: dict[str, Any],
) -> registry.Decision:
    how, recorded, detail = like_with_like(settings, metadata)
    if how == "incomparable":
        return registry.Decision(False, [str(detail)])
    if how == "recorded":
        decision = registry.decide(challenger, recorded, leakage_passed, margin)
        if recorded is not None:
            decision.reasons.insert(0, f"compared with champion {detail}'s out-of-fold figures on the same folds")
        return decision
    if test_frame is None:
        return registry.Decision(False, ["no held-out rows to rescore the champion on"])
    return gate(settings, challenger, test_frame, leakage_passed, margin)


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
    if _mode(metadata) == "kfold" and challenger:
        leakage = bool((metadata.get("leakage") or {}).get("passed", True))
        if not registry.read_pointer(settings).get("champion"):
            return registry.decide(challenger, None, leakage, margin)
        if like_with_like(settings, metadata)[0] == "rescore":
            return registry.Decision(False, [f"{version} was judged by K-fold on other data than the champion's: "
                                             "retrain it on the champion's source to compare"])  # fmt: skip
        return judge_like_with_like(settings, challenger, None, leakage, margin, metadata)
    if not months or not challenger:
        return registry.Decision(False, [f"{version} records no test window to judge it on"])
    labels = read_labels(settings.labels_path)
    labels = labels[month_labels(labels[EVENT_TIMESTAMP]).isin(months).to_numpy()]
    if labels.empty:
        return registry.Decision(False, [f"the offline store holds no labels of {version}'s test months {months}"])
    champion = registry.read_pointer(settings).get("champion")
    holder = registry.model_info(settings, champion)["metadata"] if champion else metadata  # the champion rescored
    frame = build_training_set(get_store(settings), labels, str(holder.get("feature_service") or DEFAULT_SERVICE))
    leakage = bool((metadata.get("leakage") or {}).get("passed", True))
    return gate(settings, challenger, frame, leakage, margin)
