"""Erase customers from the online store, in Feast's own layout (Feast can only drop a whole feature view).

Redis: one hash per customer, keyed by Feast's serialized entity key plus the
project — deleted. SQLite (the embedded profile): one table per feature view,
``<project>_<view>``, rows keyed by the serialized entity key — deleted. The
keys are built with Feast's encoder, as the reader builds them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from churn.settings import Settings
from store.feast_store import get_store
from store.redis_online import entity_key, redis_client


def erase_online(settings: Settings, customer_ids: Sequence[str]) -> dict[str, Any]:
    """Delete the customers' online features; returns what was deleted where."""
    store = get_store(settings)
    config = store.config
    version = config.entity_key_serialization_version
    keys = [entity_key(str(c), version) for c in customer_ids]
    kind = config.online_store.type
    if kind == "redis":
        client = redis_client(config.online_store.connection_string, connect_timeout=2.0, timeout=5.0,
                              cluster=config.online_store.redis_type == "redis_cluster")  # fmt: skip
        project = config.project.encode()
        deleted = sum(int(client.delete(key + project)) for key in keys)
        return {"online_store": "redis", "keys_deleted": deleted}
    if kind == "sqlite":
        views = [v.name for v in store.list_feature_views()]  # every view: older services' too
        deleted = 0
        with sqlite3.connect(config.online_store.path) as conn:
            conn.execute("PRAGMA secure_delete = ON")  # deleted rows are overwritten, not left in free pages
            present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            for view in views:
                table = f"{config.project}_{view}"
                if table not in present:
                    continue
                for key in keys:
                    deleted += conn.execute(f'DELETE FROM "{table}" WHERE entity_key = ?', (key,)).rowcount
        return {"online_store": "sqlite", "rows_deleted": deleted}
    raise ValueError(f"forget: no eraser for the {kind} online store")
