"""Materialization into the online store, the store's health, and bringing it to the platform clock.

Feast's registry remembers which intervals were loaded, not what they were
loaded from, and it outlives a Redis restart that lost every key. So each load
writes a marker into the online store itself (:mod:`store.marker`); an
incremental load that finds the marker describing other data (a source
change, a rebuild, a flushed store) reloads the clock month instead, and a
store that held another source's customers is cleared first.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from churn.clock import platform_clock
from churn.errors import InputError
from churn.lineage import describe
from churn.lineage import same_source as lineage_same_source
from churn.offline import offline_lineage, read_snapshots, snapshot_months, snapshots_path
from churn.schema import ENTITY
from churn.settings import Settings
from churn.timeutil import month_index_of, month_label, month_start, parse_month
from store.feast_store import DEFAULT_SERVICE, feature_service, get_store, private_registry, quiet_stdout
from store.marker import LOADING, READY, clear_online, read_marker, write_marker
from store.readers import online_reader
from store.redis_writer import RedisWriter, latest_rows
from store.spark import spark_session


@dataclass
class MaterializeResult:
    profile: str
    start: datetime
    end: datetime
    customers: int  # customers whose rows this run really wrote
    seconds: float
    incremental: bool
    workers: int = 1
    mode: str = "range"  # reload (the clock month), incremental, or range (explicit dates)
    reason: str | None = None  # why an incremental run became a reload
    source_changed: bool = False  # the store held another source's customers, cleared first
    lineage: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "mode": self.mode,
            "reason": self.reason,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "customers": self.customers,
            "seconds": round(self.seconds, 2),
            "customers_per_second": round(self.customers / self.seconds) if self.seconds and self.customers else None,
            "incremental": self.incremental,
            "workers": self.workers,
            "source_changed": self.source_changed,
            "lineage": self.lineage,
        }


def snapshot_ttl(store: Any, service_name: str = DEFAULT_SERVICE) -> timedelta:
    service = feature_service(store, service_name)
    ttls = [store.get_feature_view(p.name).ttl for p in service.feature_view_projections]
    return max(ttls)


def _watermark(store: Any, end: datetime) -> datetime:
    """Where ``materialize-incremental`` starts: the earliest end of the views' last loads (else end − TTL)."""
    starts = []
    for view in store.list_feature_views():  # every view is loaded, older services' too
        recent = view.most_recent_end_time
        starts.append(recent if recent is not None else end - view.ttl)
    return min(starts)


def _incremental_refused(marker: dict[str, Any] | None, data: dict[str, Any]) -> str | None:
    """Why an incremental load cannot trust the registry's watermark, or None when it can."""
    if marker is None:
        return "the online store holds no marker of an earlier load (new, flushed or restarted empty)"
    if marker.get("state") != READY:
        return "the last load did not finish"
    if marker.get("fingerprint") != data.get("fingerprint"):
        return f"the offline data changed since the last load ({describe(marker)} → {describe(data)})"
    return None


def materialize(
    settings: Settings,
    start: datetime | None = None,
    end: datetime | None = None,
    profile: str | None = None,
    incremental: bool = False,
    workers: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
) -> MaterializeResult:
    """Load snapshots into the online store.

    Without dates: the snapshots taken at the platform's clock, i.e. the latest
    snapshot of every customer active then, so a fresh or restarted online
    store is filled by one call. ``incremental`` moves forward from the last
    materialized time to ``end`` — unless the store's marker shows that the
    watermark describes other data (a source change, a rebuild, a flushed
    store): then the run reloads the clock month and says why. A store that
    held another source's customers is cleared first. ``workers`` > 1
    materializes groups of feature views in parallel processes (online stores
    that take concurrent writers only: Redis, not SQLite); incremental runs use one.
    ``progress(message, done, total)`` is told as each feature view (or group of views, in parallel) is loaded.
    """
    store = get_store(settings, profile)
    if (profile or settings.profile) == "spark":
        spark_session(settings)  # Feast's Spark engine then runs its Python workers on this interpreter
    clock = month_start(platform_clock(settings)).to_pydatetime()
    data = dict(offline_lineage(settings.offline_dir) or {})
    marker = read_marker(store, settings)
    reason = _incremental_refused(marker, data) if incremental else None
    if reason:
        incremental, start, end = False, None, None
    mode = "incremental" if incremental else ("reload" if start is None and end is None else "range")
    if start is None and end is None:
        start, end = clock, clock + timedelta(seconds=1)  # exactly the clock month's snapshots
    end = end or clock + timedelta(seconds=1)
    if start is None:
        start = end - snapshot_ttl(store) - timedelta(seconds=1)
    if start >= end:
        raise InputError(f"materialize: --start ({start:%Y-%m-%d}) must be before --end ({end:%Y-%m-%d})")
    if incremental:
        start = _watermark(store, end)
    customers = _customers_between(settings, start, end) if start < end else 0
    source_changed = lineage_same_source(marker, data) is False
    write_marker(store, settings, **{**(marker or {}), "state": LOADING, "started": start, "until": end})
    if source_changed:
        clear_online(store, settings)  # another source's customers must not be served beside this one's
    began = time.perf_counter()
    groups = _view_groups(store, 1 if incremental else workers)
    say = progress or (lambda *_: None)
    if customers == 0:
        pass  # nothing new since the watermark: Feast would only rewrite the registry
    elif platform_writer(store, settings):
        writer = RedisWriter(store, settings)
        say(f"reading {customers:,} customers", 0, customers)
        rows = latest_rows(settings, start, end, writer.columns)
        writer.write(rows, lambda done, total: say(f"{done:,} of {total:,} customers written", done, total))
        writer.record(start, end)
        groups = [[view.name for view in writer.views]]
    elif len(groups) == 1:
        views = groups[0]
        for k, view in enumerate(views, start=1):  # one view at a time: a fraction to show, same writes
            say(f"{view} ({customers:,} customers)", k - 1, len(views))
            _materialize_views(settings, profile, [view], start, end, incremental)
        say("done", len(views), len(views))
    else:
        # Feast's materialization is CPU-bound (protobuf conversion) and single-threaded: one process per
        # group of feature views, each through Feast's own materialize(feature_views=...). Spawned, not
        # forked: a fork of a process with DuckDB's threads running can deadlock.
        say(f"{len(groups)} groups of views in parallel ({customers:,} customers)", 0, len(groups))
        with multiprocessing.get_context("spawn").Pool(len(groups)) as pool:
            jobs = [(settings, profile, group, start, end, incremental) for group in groups]
            for k, _ in enumerate(pool.imap_unordered(_materialize_group, jobs), start=1):
                say(f"{k} of {len(groups)} groups of views loaded", k, len(groups))
        # The workers loaded through private copies of a file registry (never the shared file, which Feast
        # rewrites in place): record every view's interval in the real one, in this process.
        store = get_store(settings, profile)
        for view in (name for group in groups for name in group):
            fv = store.get_feature_view(view)
            if not fv.materialization_intervals or fv.materialization_intervals[-1] != (start, end):
                store.registry.apply_materialization(fv, store.project, start, end, commit=True)
    seconds = time.perf_counter() - began
    loaded_month = month_label(month_index_of(pd.Timestamp(end) - pd.Timedelta(seconds=1)))
    write_marker(
        store, settings, state=READY, source=data.get("source"), fingerprint=data.get("fingerprint"),
        month=max(loaded_month, str((marker or {}).get("month") or "")) if mode == "incremental" else loaded_month,
        until=end, customers=customers,
    )  # fmt: skip
    return MaterializeResult(
        profile=profile or settings.profile,
        start=start,
        end=end,
        customers=customers,
        seconds=seconds,
        incremental=incremental,
        workers=len(groups),
        mode=mode,
        reason=reason,
        source_changed=source_changed,
        lineage=data,
    )


def platform_writer(store: Any, settings: Settings) -> bool:
    """Whether the platform's own writer loads this store: a Redis online store fed from the snapshot Parquet
    (not the Spark engine, whose point is to scale out), unless ``CHURN_MATERIALIZE_WRITER=feast``."""
    config = store.config
    return (
        settings.materialize_writer == "platform"
        and getattr(config.online_store, "type", None) == "redis"
        and getattr(config.offline_store, "type", None) == "duckdb"
    )


def _view_groups(store: Any, workers: int) -> list[list[str]]:
    """Split every feature view (older services' too) into ``workers`` groups of about equal feature counts."""
    sizes = sorted(((len(v.features), v.name) for v in store.list_feature_views()), reverse=True)
    groups: list[list[str]] = [[] for _ in range(max(1, min(workers, len(sizes))))]
    load = [0] * len(groups)
    for size, name in sizes:
        i = load.index(min(load))
        groups[i].append(name)
        load[i] += size
    return groups


def _materialize_group(job: tuple[Any, ...]) -> None:
    settings, profile, views, start, end, incremental = job
    with private_registry(settings, profile) as store:
        _load(store, views, start, end, incremental)


def _materialize_views(
    settings: Settings,
    profile: str | None,
    views: list[str] | None,
    start: datetime,
    end: datetime,
    incremental: bool,
) -> None:
    _load(get_store(settings, profile), views, start, end, incremental)


def _load(store: Any, views: list[str] | None, start: datetime, end: datetime, incremental: bool) -> None:
    with quiet_stdout():
        if incremental:
            store.materialize_incremental(end_date=end, feature_views=views)
        else:
            store.materialize(start_date=start, end_date=end, feature_views=views)


def _customers_between(settings: Settings, start: datetime, end: datetime) -> int:
    """How many distinct customers have a snapshot in [start, end): what materialization moves."""
    months = [
        m
        for m in snapshot_months(settings.snapshots_dir)
        if pd.Timestamp(start) <= month_start(parse_month(m)) < pd.Timestamp(end)
    ]
    if not months:
        return 0
    paths = [str(snapshots_path(settings.snapshots_dir, m)) for m in months]
    ids = ds.dataset(paths, format="parquet").to_table(columns=[ENTITY]).column(ENTITY)
    return len(pd.unique(ids.to_numpy(zero_copy_only=False)))


PROBE_CUSTOMERS = 200  # customers sampled to tell a filled online store from an empty or stale one


def online_health(settings: Settings, sample: int = PROBE_CUSTOMERS) -> dict[str, Any]:
    """How much of the clock month's population the online store serves at the clock month's snapshot.

    A restarted Redis, a flushed database or a store left at an older month all
    show up here as a low ``fresh_share``; customers are drawn with a seeded
    generator so the probe repeats.
    """
    clock = platform_clock(settings)
    month = month_label(clock)
    ids = read_snapshots(settings.snapshots_dir, [month], columns=[ENTITY])[ENTITY].astype(str).to_numpy()
    if len(ids) == 0:
        return {"month": month, "probed": 0, "fresh_share": 1.0}
    rng = np.random.default_rng(settings.seed)
    probe = rng.choice(ids, size=min(sample, len(ids)), replace=False).tolist()
    store = get_store(settings)
    rows = online_reader(settings, store).read_rows(probe)
    expected = month_start(clock).timestamp()
    fresh = sum(1 for r in rows if r is not None and r[1] >= expected)
    return {"month": month, "probed": len(probe), "fresh_share": fresh / len(probe)}


def refresh_online(
    settings: Settings, min_fresh_share: float = 0.95, progress: Callable[[str, int, int], None] | None = None
) -> dict[str, Any]:
    """Bring the online store to the platform clock: incrementally, or reloaded whole when it is empty or stale.

    ``materialize-incremental`` trusts the registry's record of what was loaded;
    a Redis that restarted since has lost the data the record describes. So the
    store is probed first, and a probe that finds fewer than ``min_fresh_share``
    of sampled customers at the current snapshot reloads the latest snapshot of
    every customer active now.
    """
    before = online_health(settings)
    if before["fresh_share"] < min_fresh_share:
        result = materialize(settings, progress=progress)  # the clock month's snapshot of every active customer
        mode = "reload"
    else:
        clock = month_start(platform_clock(settings)).to_pydatetime()
        result = materialize(settings, end=clock + timedelta(seconds=1), incremental=True, progress=progress)
        mode = "incremental"
    after = online_health(settings)
    return {"mode": mode, "before": before, "after": after, **result.to_dict()}
