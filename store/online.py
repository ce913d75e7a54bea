"""Online reads: one protocol, two readers (Feast's own, and straight from Redis), and the factory that picks.

Serving, ``churn features get`` and the store's health probe read through
:class:`OnlineReader`; which class answers depends on the profile's online
store, and a test shows both give the same values for the same customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from churn.fresh import online_values
from churn.schema import ENTITY, EVENT_TIMESTAMP, FEATURES_BY_NAME, TIMES_COLUMNS
from store.feast_store import DEFAULT_SERVICE, feature_names, feature_service

# One customer's online row: feature values by name, and the event time (epoch seconds) of its freshest view.
OnlineRow = tuple[dict[str, Any], float]
# In a row's values: when events were last pushed for the customer, if that is newer than its snapshot (seconds).
PUSHED_AT = "_pushed_at"


def mark_pushed(values: dict[str, Any], stamps: Sequence[float], fresh_index: int) -> None:
    """Note in ``values`` when the pushed view was written after every snapshot view (an event since then)."""
    pushed = stamps[fresh_index]
    others = [s for i, s in enumerate(stamps) if i != fresh_index]
    if pushed > max(others, default=0.0):
        values[PUSHED_AT] = pushed


_NUMERIC = {"int", "float"}


def at_instant(row: OnlineRow | None, now_ms: int) -> OnlineRow | None:
    """A row whose customer had events pushed since the snapshot, with its windowed features counted at ``now_ms``
    from the event times it holds; other rows as stored (their snapshot is the newest thing known of them)."""
    if row is None or PUSHED_AT not in row[0]:
        return row
    values = dict(row[0])
    values.update(online_values(values, now_ms))
    return values, row[1]


class StoreUnavailable(RuntimeError):
    """The online store did not answer; callers answer 503 and retry later, never 500."""


@dataclass
class OnlineFeatures:
    """Online read for many customers: vectors of the known ones, and who is unknown."""

    features: pd.DataFrame  # index customer_id, one column per feature (known customers only)
    event_timestamps: pd.Series  # index customer_id: when the served snapshot was taken
    unknown: list[str] = field(default_factory=list)


class OnlineReader(Protocol):
    """What every online reader offers; ``names`` are the service's features in model order."""

    names: list[str]

    def read_rows(self, customer_ids: Sequence[str]) -> list[OnlineRow | None]:
        """Per customer: (values by name, event time in seconds), or None when the store has no row."""
        ...

    def read(self, customer_ids: Sequence[str]) -> OnlineFeatures: ...

    def ping(self) -> bool: ...


_FEAST_KINDS = {
    "Int64": "int",
    "Int32": "int",
    "Float64": "float",
    "Float32": "float",
    "Bool": "bool",
    "String": "string",
}


def feature_kinds(names: Sequence[str], service: Any = None) -> list[str]:
    """Each feature's kind: as the feature service declares its fields (a deployment's declared features included),
    else the platform's schema."""
    declared = (
        {f.name: _FEAST_KINDS.get(str(f.dtype), "float") for p in service.feature_view_projections for f in p.features}
        if service is not None
        else {}
    )
    return [declared.get(n) or (FEATURES_BY_NAME[n].dtype if n in FEATURES_BY_NAME else "float") for n in names]


def _column(kind: str, values: list[Any]) -> np.ndarray:
    if kind in _NUMERIC:
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if kind == "bool":
        return np.array([bool(v) for v in values], dtype=bool)
    return np.array(values, dtype=object)


def rows_to_online_features(
    ids: list[str], rows: Sequence[OnlineRow | None], names: list[str], kinds: list[str] | None = None
) -> OnlineFeatures:
    """Rows (None for an unknown id) as the frame batch callers use, with the dtypes Feast's reader gives."""
    known = [(i, r) for i, r in zip(ids, rows, strict=True) if r is not None]
    index = pd.Index([i for i, _ in known], name=ENTITY, dtype=object)
    frame = pd.DataFrame(
        {n: _column(k, [r[0][n] for _, r in known]) for n, k in zip(names, kinds or feature_kinds(names), strict=True)},
        index=index,
    )
    stamps = pd.Series(pd.to_datetime([r[1] for _, r in known], unit="s", utc=True), index=index, name=EVENT_TIMESTAMP)
    return OnlineFeatures(
        features=frame, event_timestamps=stamps, unknown=[i for i, r in zip(ids, rows, strict=False) if r is None]
    )


class FeastOnlineReader:
    """Online reads through Feast's ``get_online_features`` for one feature service, resolved once.

    Resolving a FeatureService from the registry costs milliseconds (proto
    decoding), and Feast caches its request plan per service object, so a
    long-lived reader (the API's) keeps one.
    """

    def __init__(self, store: Any, service_name: str = DEFAULT_SERVICE) -> None:
        self.store = store
        self.service_name = service_name
        self.service = feature_service(store, service_name)
        self.names = feature_names(self.service)
        self.kinds = feature_kinds(self.names, self.service)
        # the event-time support columns of the service's views, and one feature of every view to date each
        self.extras: list[str] = []
        self.fresh_view: str | None = None
        self.view_probes: dict[str, str] = {}
        for projection in self.service.feature_view_projections:
            view = store.get_feature_view(projection.name)
            support = [f.name for f in view.features if f.name in TIMES_COLUMNS]
            if support:
                self.fresh_view = view.name
                self.extras += support
            self.view_probes[view.name] = f"{view.name}:{view.features[0].name}"

    def read_rows(self, customer_ids: Sequence[str]) -> list[OnlineRow | None]:
        ids = [str(c) for c in customer_ids]
        try:
            online, support = self._read(ids, with_support=self.fresh_view is not None)
        except Exception as err:  # Feast wraps store errors in many types; all mean "not answering"
            raise StoreUnavailable(f"online store unavailable ({err.__class__.__name__}: {err})") from None
        records = online.features.astype(object).where(online.features.notna(), None).to_dict("index")
        ints = [n for n, k in zip(self.names, self.kinds, strict=True) if k == "int"]
        for values in records.values():  # the frame holds ints as float64 (NaN for null); rows keep the schema's type
            for name in ints:
                if values[name] is not None:
                    values[name] = int(values[name])
        for customer, extra in support.items():
            if customer in records:
                records[customer].update(extra)
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
        return self._read([str(c) for c in customer_ids], with_support=False)[0]

    def _read(self, ids: list[str], with_support: bool) -> tuple[OnlineFeatures, dict[str, dict[str, Any]]]:
        """One online call; ``with_support`` adds the event-time support columns and says, per customer, whether
        events were pushed after its snapshot (the pushed view newer than every other)."""
        if with_support:
            refs = [f"{p.name}:{f.name}" for p in self.service.feature_view_projections for f in p.features]
            refs += [f"{self.fresh_view}:{n}" for n in self.extras]
            request: Any = refs
        else:
            request = self.service
        response = self.store.get_online_features(features=request, entity_rows={ENTITY: ids}).to_dict(
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
        support: dict[str, dict[str, Any]] = {}
        if with_support:
            views = list(self.view_probes)
            fresh_index = views.index(str(self.fresh_view))
            probes = [self.view_probes[v].split(":", 1)[1] for v in views]
            for i, customer in enumerate(ids):
                extra: dict[str, Any] = {n: response[n][i] for n in self.extras}
                mark_pushed(extra, [float(response[f"{p}__ts"][i] or 0) for p in probes], fresh_index)
                support[customer] = extra
        if known.all():
            return OnlineFeatures(features=frame, event_timestamps=latest, unknown=[]), support
        online = OnlineFeatures(
            features=frame[known],
            event_timestamps=latest[known],
            unknown=[i for i, k in zip(ids, known, strict=True) if not k],
        )
        return online, support


def read_online(store: Any, customer_ids: Sequence[str], service_name: str = DEFAULT_SERVICE) -> OnlineFeatures:
    """One-off online read through Feast; long-lived callers keep a reader."""
    return FeastOnlineReader(store, service_name).read(customer_ids)
