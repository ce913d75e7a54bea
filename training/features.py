"""Every read and write of the feature store: training sets, online reads, apply and materialize.

One module that training, serving and batch scoring share, so the model sees in
production exactly what it saw in training. Feast's ``${VAR}`` expansion has no
defaults, so :func:`feast_env` sets every variable the profile's yaml uses before
Feast reads it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.lineage import describe
from churn.lineage import same_source as lineage_same_source
from churn.offline import offline_lineage, read_snapshots, snapshot_months
from churn.schema import ENTITY, EVENT_TIMESTAMP, FEATURES_BY_NAME
from churn.settings import Settings
from churn.timeutil import InputError, month_index_of, month_label, month_start, parse_month
from training.online_marker import LOADING, READY, clear_online, read_marker, write_marker

REPO_DIR = Path(__file__).resolve().parents[1] / "feature_repo"
DEFAULT_SERVICE = "churn_model_v1"
_DECLARATION_MODULES = ("entities", "data_sources", "features", "feature_services")
YAML_BY_PROFILE = {
    "local": "feature_store.yaml",
    "redis": "feature_store.redis.yaml",
    "shared": "feature_store.shared.yaml",
    "spark": "feature_store.spark.yaml",
}


def feast_env(settings: Settings) -> dict[str, str]:
    """The variables the yaml files expand, for this process and for people running `feast` by hand."""
    return {
        "CHURN_HOME": str(settings.home_dir),
        "CHURN_PROFILE": settings.profile,  # feature_repo/data_sources.py picks the source class by profile
        "CHURN_SPARK_MASTER": settings.spark_master,
        "CHURN_REDIS": settings.redis,
        "CHURN_REDIS_TYPE": settings.redis_type,
        "CHURN_FEAST_PROJECT": settings.feast_project,
        "CHURN_ONLINE_KEY_TTL": str(settings.online_key_ttl),
        "CHURN_REGISTRY_URL": settings.registry_url,
        # Spark's Python workers (materialization, scoring UDFs) must run this interpreter, which has our packages
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
    }


def yaml_path(profile: str) -> Path:
    try:
        path = REPO_DIR / YAML_BY_PROFILE[profile]
    except KeyError:
        raise InputError(f"CHURN_PROFILE: unknown profile {profile!r}") from None
    if not path.exists():
        raise InputError(f"CHURN_PROFILE: profile {profile!r} has no {path.name} yet")
    return path


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Feast prints progress on stdout; our commands keep stdout for their one JSON object."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def get_store(settings: Settings, profile: str | None = None) -> Any:
    """A FeatureStore for the profile (default: the active one), with its yaml's variables set."""
    from feast import FeatureStore

    profile = profile or settings.profile
    os.environ.update(feast_env(settings))
    settings.feast_dir(profile).mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(REPO_DIR), fs_yaml_file=yaml_path(profile))


def load_declarations(settings: Settings) -> list[Any]:
    """Import feature_repo/ afresh (its source path follows CHURN_HOME) and return its Feast objects."""
    from feast import Entity, FeatureService, FeatureView
    from feast.data_source import DataSource

    os.environ.update(feast_env(settings))
    for name in _DECLARATION_MODULES:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(REPO_DIR))
    try:
        modules = [importlib.import_module(name) for name in _DECLARATION_MODULES]
    finally:
        sys.path.remove(str(REPO_DIR))
    objects: dict[str, Any] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Entity | DataSource | FeatureView | FeatureService):
                objects[f"{type(value).__name__}:{value.name}"] = value
    return list(objects.values())


@dataclass
class ApplyResult:
    project: str
    profile: str
    applied: list[str]
    deleted: list[str]


def apply(settings: Settings, profile: str | None = None) -> ApplyResult:
    """`feast apply` for the profile: register the declarations, delete what the repo no longer declares."""
    from feast import FeatureService, FeatureView

    store = get_store(settings, profile)
    objects = load_declarations(settings)
    names = {o.name for o in objects}
    stale: list[Any] = [fv for fv in store.list_feature_views() if fv.name not in names]
    stale += [fs for fs in store.list_feature_services() if fs.name not in names]
    with quiet_stdout():
        store.apply(objects, objects_to_delete=stale, partial=False)
    kinds = (FeatureView, FeatureService)
    return ApplyResult(
        project=settings.feast_project,
        profile=profile or settings.profile,
        applied=sorted(f"{type(o).__name__}:{o.name}" for o in objects if isinstance(o, kinds)),
        deleted=sorted(o.name for o in stale),
    )


def feature_service(store: Any, name: str = DEFAULT_SERVICE) -> Any:
    try:
        return store.get_feature_service(name)
    except Exception as err:  # Feast raises its own not-found classes
        raise InputError(f"feature service {name!r} is not registered — run `churn features apply` ({err})") from None


def _feature_names(service: Any) -> list[str]:
    return [f.name for projection in service.feature_view_projections for f in projection.features]


def service_features(store: Any, name: str = DEFAULT_SERVICE) -> list[str]:
    """The service's feature names, in the order the model receives them."""
    return _feature_names(feature_service(store, name))


def build_training_set(store: Any, entity_df: pd.DataFrame, service_name: str = DEFAULT_SERVICE) -> pd.DataFrame:
    """Point-in-time join of ``entity_df`` (customer_id, event_timestamp, any label columns) with the service.

    The result has exactly the entity rows given, in their order; a feature view
    without a snapshot inside its TTL yields nulls for that row.
    """
    if entity_df.duplicated([ENTITY, EVENT_TIMESTAMP]).any():
        raise InputError("entity rows: duplicate (customer_id, event_timestamp) pairs")
    entities = entity_df.reset_index(drop=True).assign(_row=np.arange(len(entity_df)))
    entities[EVENT_TIMESTAMP] = pd.to_datetime(entities[EVENT_TIMESTAMP], utc=True)
    with quiet_stdout():
        job = store.get_historical_features(entity_df=entities, features=feature_service(store, service_name))
        df = job.to_df()
    if len(df) != len(entities) or not np.array_equal(np.sort(df["_row"].to_numpy()), entities["_row"].to_numpy()):
        raise RuntimeError(f"point-in-time join returned {len(df)} rows for {len(entities)} entity rows")
    df = df.sort_values("_row", kind="stable").drop(columns="_row").reset_index(drop=True)
    df[EVENT_TIMESTAMP] = pd.to_datetime(df[EVENT_TIMESTAMP], utc=True).astype("datetime64[ns, UTC]")
    return df


@dataclass
class OnlineFeatures:
    """Online read for many customers: vectors of the known ones, and who is unknown."""

    features: pd.DataFrame  # index customer_id, one column per feature (known customers only)
    event_timestamps: pd.Series  # index customer_id: when the served snapshot was taken
    unknown: list[str] = field(default_factory=list)


_NUMERIC = {"int", "float"}

# One customer's online row: feature values by name, and the event time (epoch seconds) of its freshest view.
OnlineRow = tuple[dict[str, Any], float]


class StoreUnavailable(RuntimeError):
    """The online store did not answer; callers answer 503 and retry later, never 500."""


def _column(kind: str, values: list[Any]) -> np.ndarray:
    if kind in _NUMERIC:
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if kind == "bool":
        return np.array([bool(v) for v in values], dtype=bool)
    return np.array(values, dtype=object)


def rows_to_online_features(ids: list[str], rows: Sequence[OnlineRow | None], names: list[str]) -> OnlineFeatures:
    """Rows (None for an unknown id) as the frame batch callers use, with the dtypes Feast's reader gives."""
    known = [(i, r) for i, r in zip(ids, rows, strict=True) if r is not None]
    kinds = [FEATURES_BY_NAME[n].dtype if n in FEATURES_BY_NAME else "float" for n in names]
    index = pd.Index([i for i, _ in known], name=ENTITY, dtype=object)
    frame = pd.DataFrame(
        {n: _column(k, [r[0][n] for _, r in known]) for n, k in zip(names, kinds, strict=True)}, index=index
    )
    stamps = pd.Series(pd.to_datetime([r[1] for _, r in known], unit="s", utc=True), index=index, name=EVENT_TIMESTAMP)
    return OnlineFeatures(
        features=frame, event_timestamps=stamps, unknown=[i for i, r in zip(ids, rows, strict=False) if r is None]
    )


class OnlineReader:
    """Online reads through one feature service, resolved once.

    Resolving a FeatureService from the registry costs milliseconds (proto
    decoding), and Feast caches its request plan per service object, so a
    long-lived reader (the API's) keeps one. :func:`read_online` is the one-off form.
    """

    def __init__(self, store: Any, service_name: str = DEFAULT_SERVICE) -> None:
        self.store = store
        self.service_name = service_name
        self.service = feature_service(store, service_name)
        self.names = _feature_names(self.service)
        self.kinds = [FEATURES_BY_NAME[n].dtype if n in FEATURES_BY_NAME else "float" for n in self.names]

    def read_rows(self, customer_ids: Sequence[str]) -> list[OnlineRow | None]:
        """Per customer: (values by name, event time in seconds), or None when the store has no row."""
        ids = [str(c) for c in customer_ids]
        try:
            online = self.read(ids)
        except Exception as err:  # Feast wraps store errors in many types; all mean "not answering"
            raise StoreUnavailable(f"online store unavailable ({err.__class__.__name__}: {err})") from None
        records = online.features.astype(object).where(online.features.notna(), None).to_dict("index")
        ints = [n for n, k in zip(self.names, self.kinds, strict=True) if k == "int"]
        for values in records.values():  # the frame holds ints as float64 (NaN for null); rows keep the schema's type
            for name in ints:
                if values[name] is not None:
                    values[name] = int(values[name])
        seconds = (online.event_timestamps.astype("int64") / 1e9).to_dict()
        return [(records[i], seconds[i]) if i in records else None for i in ids]

    def ping(self) -> bool:
        return True  # an embedded store answers whenever the process runs

    def read(self, customer_ids: Sequence[str]) -> OnlineFeatures:
        """Read the service's features for ``customer_ids`` in one online call.

        Feast answers an id it has never seen with all-null features; that is
        detected from the missing event timestamps and reported as unknown, never
        passed on as if it were data.
        """
        ids = [str(c) for c in customer_ids]
        response = self.store.get_online_features(features=self.service, entity_rows={ENTITY: ids}).to_dict(
            include_event_timestamps=True
        )
        seconds = np.array([response[f"{n}__ts"] for n in self.names], dtype="float64").reshape(
            len(self.names), len(ids)
        )
        latest_s = seconds.max(axis=0, initial=0.0)  # Feast stamps nothing-stored as 0
        known = latest_s > 0
        columns: dict[str, Any] = {}
        for name, kind in zip(self.names, self.kinds, strict=True):
            values = response[name]
            if kind in _NUMERIC:
                columns[name] = np.array(values, dtype="float64")
            elif kind == "bool":
                columns[name] = np.array([bool(v) for v in values], dtype=bool)
            else:
                columns[name] = np.array(values, dtype=object)
        frame = pd.DataFrame(columns, index=pd.Index(ids, name=ENTITY))
        latest = pd.Series(pd.to_datetime(latest_s, unit="s", utc=True), index=frame.index, name=EVENT_TIMESTAMP)
        if known.all():
            return OnlineFeatures(features=frame, event_timestamps=latest, unknown=[])
        return OnlineFeatures(
            features=frame[known],
            event_timestamps=latest[known],
            unknown=[i for i, k in zip(ids, known, strict=True) if not k],
        )


def online_reader(settings: Settings, store: Any, service_name: str = DEFAULT_SERVICE) -> Any:
    """The fastest reader the profile allows: one pipelined Redis round trip, else Feast's own read."""
    if getattr(store.config.online_store, "type", None) == "redis":
        from training.online_redis import RedisOnlineReader

        return RedisOnlineReader(store, settings, service_name)
    return OnlineReader(store, service_name)


def read_online(store: Any, customer_ids: Sequence[str], service_name: str = DEFAULT_SERVICE) -> OnlineFeatures:
    """One-off online read; long-lived callers keep an :class:`OnlineReader`."""
    return OnlineReader(store, service_name).read(customer_ids)


def platform_clock(settings: Settings) -> int:
    """The platform's "now" as a month index: CHURN_AS_OF, else the latest snapshot month."""
    if settings.as_of:
        return parse_month(settings.as_of, field="CHURN_AS_OF")
    months = snapshot_months(settings.snapshots_dir)
    if not months:
        raise InputError(f"offline store: no snapshots under {settings.snapshots_dir} — run `churn build` first")
    return parse_month(months[-1])


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
    service = feature_service(store)
    starts = []
    for projection in service.feature_view_projections:
        view = store.get_feature_view(projection.name)
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
    """
    store = get_store(settings, profile)
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
    if customers == 0:
        pass  # nothing new since the watermark: Feast would only rewrite the registry
    elif len(groups) == 1:
        _materialize_views(settings, profile, None, start, end, incremental)
    else:
        # Feast's materialization is CPU-bound (protobuf conversion) and single-threaded: one process per
        # group of feature views, each through Feast's own materialize(feature_views=...). Spawned, not
        # forked: a fork of a process with DuckDB's threads running can deadlock.
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(len(groups)) as pool:
            pool.starmap(_materialize_views, [(settings, profile, group, start, end, incremental) for group in groups])
        # The workers each rewrote the file registry; record every view's interval once more, in one process,
        # so none is lost to their race.
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


def _view_groups(store: Any, workers: int) -> list[list[str]]:
    """Split the service's feature views into ``workers`` groups of about equal feature counts."""
    service = feature_service(store)
    sizes = sorted(((len(p.features), p.name) for p in service.feature_view_projections), reverse=True)
    groups: list[list[str]] = [[] for _ in range(max(1, min(workers, len(sizes))))]
    load = [0] * len(groups)
    for size, name in sizes:
        i = load.index(min(load))
        groups[i].append(name)
        load[i] += size
    return groups


def _materialize_views(
    settings: Settings,
    profile: str | None,
    views: list[str] | None,
    start: datetime,
    end: datetime,
    incremental: bool,
) -> None:
    store = get_store(settings, profile)
    with quiet_stdout():
        if incremental:
            store.materialize_incremental(end_date=end, feature_views=views)
        else:
            store.materialize(start_date=start, end_date=end, feature_views=views)


def _customers_between(settings: Settings, start: datetime, end: datetime) -> int:
    """How many distinct customers have a snapshot in [start, end): what materialization moves."""
    import pyarrow.dataset as ds

    months = [
        m
        for m in snapshot_months(settings.snapshots_dir)
        if pd.Timestamp(start) <= month_start(parse_month(m)) < pd.Timestamp(end)
    ]
    if not months:
        return 0
    paths = [str(settings.snapshots_dir / f"snapshot_month={m}" / "part-0.parquet") for m in months]
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


def refresh_online(settings: Settings, min_fresh_share: float = 0.95) -> dict[str, Any]:
    """Bring the online store to the platform clock: incrementally, or reloaded whole when it is empty or stale.

    ``materialize-incremental`` trusts the registry's record of what was loaded;
    a Redis that restarted since has lost the data the record describes. So the
    store is probed first, and a probe that finds fewer than ``min_fresh_share``
    of sampled customers at the current snapshot reloads the latest snapshot of
    every customer active now.
    """
    before = online_health(settings)
    if before["fresh_share"] < min_fresh_share:
        result = materialize(settings)  # the clock month's snapshot of every active customer
        mode = "reload"
    else:
        clock = month_start(platform_clock(settings)).to_pydatetime()
        result = materialize(settings, end=clock + timedelta(seconds=1), incremental=True)
        mode = "incremental"
    after = online_health(settings)
    return {"mode": mode, "before": before, "after": after, **result.to_dict()}


def build_offline(settings: Settings, progress: Any = None) -> dict[str, Any]:
    """Raw data → the offline store, on the profile's engine: Spark tasks for `spark`, this process otherwise.

    The CLI's `churn build` and the flows both call this, so a move to Spark is
    a change of ``CHURN_PROFILE``; both engines write the same files (tested).
    """
    from churn.lineage import of_manifest
    from churn.offline import write_offline, write_offline_manifest
    from churn.raw import load_raw
    from churn.temporal import build_snapshots

    if settings.profile == "spark":
        from training.spark import build_offline_spark

        return {**build_offline_spark(settings), "engine": "spark"}
    raw = load_raw(settings.raw_dir)
    snaps = build_snapshots(raw, progress=progress)
    counts = write_offline(snaps, settings.snapshots_dir, settings.labels_path)
    write_offline_manifest(settings.offline_dir, raw.manifest, counts)
    return {
        **counts,
        "engine": "in-process",
        "source": raw.manifest.get("source"),
        "lineage": of_manifest(raw.manifest),
        "first_snapshot_month": raw.first_snapshot_month,
        "last_snapshot_month": raw.last_snapshot_month,
        "churn_rate": round(float(snaps.labels["churned"].mean()), 5) if len(snaps.labels) else None,
        "labelled": len(snaps.labels),
    }
