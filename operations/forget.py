"""`churn forget`: erase customers from every store the platform keeps, and keep them out of later data.

Order matters for a crash: the tombstones are written first (a later ingest
already leaves the customers out), then the online store, then every file
under CHURN_HOME (:func:`churn.privacy.sweep`, file by file, atomically). Any
step can be interrupted; running the same command again completes the erasure.
Models already trained on these customers are not retrained on the spot: the
next `churn train` reads snapshots and labels that no longer hold them.
"""

from __future__ import annotations

from typing import Any

from churn.errors import InputError
from churn.privacy import add_tombstones, forgotten_ids, sweep
from churn.raw import known_customers
from churn.schema import CUSTOMER_ID_PATTERN
from churn.settings import Settings
from store.erase import erase_online
from training import registry


def _known(settings: Settings, ids: list[str]) -> tuple[list[str], list[str]]:
    """(ids the raw data holds or that were forgotten before — a rerun —, ids nobody knows)."""
    present = known_customers(settings.raw_dir)
    again = forgotten_ids(ids, settings.raw_dir)
    known = [i for i in ids if i in present or i in again]
    return known, [i for i in ids if i not in present and i not in again]


def forget(settings: Settings, customer_ids: list[str]) -> dict[str, Any]:
    import re

    ids = list(dict.fromkeys(str(c).strip() for c in customer_ids))
    malformed = [i for i in ids if not re.fullmatch(CUSTOMER_ID_PATTERN, i)]
    if not ids or malformed:
        raise InputError(f"forget: {'give at least one customer id' if not ids else f'not an id: {malformed[:5]}'}")
    known, unknown = _known(settings, ids)
    if unknown:
        raise InputError(f"forget: unknown customer(s) {unknown[:10]}{' …' if len(unknown) > 10 else ''}; "
                         "nothing was changed")  # fmt: skip
    added = add_tombstones(settings.raw_dir, known)
    online = erase_online(settings, known)
    swept = sweep(settings.home_dir, known)
    versions = [m["version"] for kind in registry.KINDS for m in registry.list_models(settings, kind)]
    return {
        "forgotten": len(known),
        "tombstones_added": added,
        "online": online,
        **swept,
        "models_trained_with_them": versions,
        "retraining": "not done now: the next `churn train` (or the scheduled retraining) reads snapshots and "
        "labels without these customers; until then the current models keep what they learned from everyone",
    }
