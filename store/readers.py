"""Which online reader a profile gets: one pipelined Redis round trip where the store is Redis, else Feast's read."""

from __future__ import annotations

from typing import Any

from churn.settings import Settings
from store.feast_store import DEFAULT_SERVICE
from store.online import FeastOnlineReader, OnlineReader
from store.redis_online import RedisOnlineReader


def online_reader(settings: Settings, store: Any, service_name: str = DEFAULT_SERVICE) -> OnlineReader:
    if getattr(store.config.online_store, "type", None) == "redis":
        return RedisOnlineReader(store, settings, service_name)
    return FeastOnlineReader(store, service_name)
