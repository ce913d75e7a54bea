"""The platform's steps as Prefect tasks: the same functions the CLI calls, with retries where a retry helps.

Online-store and file I/O steps retry (a Redis restart, a file briefly
locked); training and decisions do not — their failures are not transient,
and a retry would only repeat the same error later. No task caches: every run
must do its work.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from operations import steps as plain
from operations.steps import Steps

IO_RETRIES: dict[str, Any] = {"retries": 3, "retry_delay_seconds": [2, 10, 30]}

TASKS = Steps(
    simulate=task(name="simulate", cache_policy=NO_CACHE)(plain.simulate),
    build=task(name="build snapshots", cache_policy=NO_CACHE, **IO_RETRIES)(plain.build),
    apply=task(name="feast apply", cache_policy=NO_CACHE, **IO_RETRIES)(plain.apply),
    refresh_online=task(name="refresh the online store", cache_policy=NO_CACHE, **IO_RETRIES)(plain.refresh_online),
    train=task(name="train, evaluate, gate", cache_policy=NO_CACHE)(plain.train),
    score=task(name="batch score", cache_policy=NO_CACHE, **IO_RETRIES)(plain.score),
    decide=task(name="decide", cache_policy=NO_CACHE)(plain.decide),
    drift=task(name="drift check and response", cache_policy=NO_CACHE)(plain.drift),  # no retry: could train twice
    retention=task(name="delete personal data past retention", cache_policy=NO_CACHE, **IO_RETRIES)(plain.retention),
    campaign_readouts=task(name="read back matured campaigns", cache_policy=NO_CACHE)(plain.campaign_readouts),
)
