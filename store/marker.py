"""The online store's own record of what it holds: a marker written by materialization, inside the store itself.

Feast's registry remembers which intervals were materialized, but not what was
materialized from, and it survives a Redis restart that lost every key. So
materialization writes a small marker into the online store itself — a Redis
key, or a table in the SQLite file — with the data's lineage (source and
fingerprint), the snapshot month loaded, how many customers, and whether a load
is under way. A store that lost its data lost the marker with it; a store
filled from another source says so. The same module clears a project's rows
when a source change makes them meaningless.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from feast.infra.online_stores.sqlite import _table_id

from churn.settings import Settings
from store.redis_online import redis_client

READY, LOADING = "ready", "loading"


def _redis(settings: Settings) -> Any:
    return redis_client(settings.redis, cluster=settings.redis_type == "redis_cluster")


def marker_key(project: str) -> str:
    """Ends with the project name, like Feast's own keys, so a project's cleanup finds it too."""
    return f"churn:online-marker:{project}"


def _sqlite(store: Any) -> sqlite3.Connection:
    conn = sqlite3.connect(str(store.config.online_store.path), timeout=30)
    conn.execute("CREATE TABLE IF NOT EXISTS churn_online_marker (project TEXT PRIMARY KEY, body TEXT NOT NULL)")
    return conn


def _kind(store: Any) -> str:
    return str(getattr(store.config.online_store, "type", ""))


def write_marker(store: Any, settings: Settings, **values: Any) -> dict[str, Any]:
    body = {**values, "written_at": datetime.now(UTC).isoformat(timespec="seconds")}
    text = json.dumps(body, sort_keys=True, default=str)
    project = store.config.project
    if _kind(store) == "redis":  # it lives as long as the rows it describes
        _redis(settings).set(marker_key(project), text, ex=settings.online_key_ttl)
    elif _kind(store) == "sqlite":
        with _sqlite(store) as conn:
            conn.execute("INSERT OR REPLACE INTO churn_online_marker VALUES (?, ?)", (project, text))
    return body


def read_marker(store: Any, settings: Settings, client: Any = None) -> dict[str, Any] | None:
    """The marker, or None when the store holds none (never loaded by us, or restarted empty)."""
    project = store.config.project
    if _kind(store) == "redis":
        raw = (client or _redis(settings)).get(marker_key(project))
    elif _kind(store) == "sqlite":
        with _sqlite(store) as conn:
            row = conn.execute("SELECT body FROM churn_online_marker WHERE project = ?", (project,)).fetchone()
        raw = row[0] if row else None
    else:
        return None
    if not raw:
        return None
    try:
        found = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def clear_online(store: Any, settings: Settings) -> None:
    """Delete every customer row of the project (all feature views) and the marker, in Feast's own layout."""
    project = store.config.project
    if _kind(store) == "redis":
        client = _redis(settings)
        keys = list(client.scan_iter(match=f"*{project}", count=10_000))
        for start in range(0, len(keys), 10_000):
            client.delete(*keys[start : start + 10_000])
    elif _kind(store) == "sqlite":
        with _sqlite(store) as conn:
            for view in store.list_feature_views():
                table = _table_id(project, view)
                exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
                if exists:
                    conn.execute(f'DELETE FROM "{table}"')
            conn.execute("DELETE FROM churn_online_marker WHERE project = ?", (project,))
