"""Promotion by hand and rollback: one path for `churn models promote|rollback` and the console's buttons.

Both check before they write: a version that does not load is refused before
the gate is consulted, and a version that fails the gate needs ``force``. The
registry itself holds the lock and keeps the history.
"""

from __future__ import annotations

from typing import Any

from churn.errors import InputError
from churn.settings import Settings
from training import registry
from training.config import TrainConfig


def check_kind(kind: str, field: str = "--kind") -> str:
    if kind not in registry.KINDS:
        raise InputError(f"{field}: must be one of {', '.join(registry.KINDS)}, got {kind!r}")
    return kind


def promote_by_hand(
    settings: Settings, version: str, force: bool = False, margin: float = TrainConfig().margin
) -> dict[str, Any]:
    """Make ``version`` (of either kind) the champion when it passes its gate, or with ``force``."""
    from training.lifetime_fit import judge_registered_lifetime
    from training.promotion import judge_registered

    registry.load_model(settings, version)  # a version that does not load is refused before anything is judged
    kind = registry.kind_of(version)
    decision = (
        judge_registered_lifetime(settings, version) if kind == "clv" else judge_registered(settings, version, margin)
    )
    if not decision.promote and not force:
        raise registry.RegistryError(
            f"registry: {version} fails the promotion gate ({'; '.join(decision.reasons)}); "
            "promote it anyway with --force"
        )
    reasons = ["promoted by hand" + ("" if decision.promote else " with --force"), *decision.reasons]
    previous = registry.promote(settings, version, reasons, kind=kind)
    return {"champion": version, "previous": previous, "kind": kind, "gate": decision.reasons,
            "forced": not decision.promote}  # fmt: skip


def roll_back(settings: Settings, kind: str = "churn") -> dict[str, Any]:
    """Restore the champion before the current one (of ``kind``)."""
    current, previous = registry.rollback(settings, check_kind(kind))
    return {"champion": previous, "rolled_back_from": current, "kind": kind}
