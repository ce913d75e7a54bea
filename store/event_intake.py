"""Events in: recorded once in the raw data, then the customer's windowed features moved through Feast's push.

One :class:`EventIntake` serves ``POST /events`` and ``churn events push`` alike.
For a batch it takes the event log's lock (so workers and the CLI on one host
never apply an event twice, nor interleave a customer's read and write), drops
ids already recorded, refuses customers the online store does not know, records
the rest with ``known_at`` = now, and for each customer whose events fall in a
current window pushes the fresh view: the event times it holds (the snapshot's,
plus every event pushed since), trimmed to the window, and the counts at now.
An event older than the window is recorded — the next snapshot is built from it —
but changes nothing online. A service change is recorded and reaches the profile
features with the next snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from churn.events import TYPES, Event, EventLog
from churn.fresh import decode_times, encode_times, in_window, online_values
from churn.schema import CREATED_TIMESTAMP, ENTITY, EVENT_TIMESTAMP, WINDOWED_FEATURES
from store.online import PUSHED_AT, StoreUnavailable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FRESH_VIEW = "customer_fresh"  # the view the push source feeds (feature_repo.features)


def intake_for(settings: Any, store: Any, reader: Any) -> EventIntake:
    """The intake a profile gets: into Redis with the platform's writer (Feast's bytes, a test compares them with
    ``store.push``), elsewhere through Feast's push."""
    from store.materialize import platform_writer
    from store.redis_writer import RedisWriter

    writer = RedisWriter(store, settings, timeout=1.0) if platform_writer(store, settings) else None
    return EventIntake(store, reader, settings.raw_dir, writer=writer)


# Which windowed features an event type moves (the table it is recorded in, and the rows the window counts).
_MOVES = {"ticket_opened": "tickets", "payment_late": "payments"}


@dataclass(frozen=True)
class Outcome:
    event_id: str
    customer_id: str
    status: str  # applied | recorded | duplicate | refused
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        out = {"event_id": self.event_id, "customer_id": self.customer_id, "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        return out


def _push_row(values: dict[str, Any], events: Sequence[Event], now_ms: int) -> tuple[dict[str, Any], set[str]]:
    """The fresh view's new values for one customer, and the ids of the ``events`` that moved them."""
    row: dict[str, Any] = {}
    moved: set[str] = set()
    for feature in WINDOWED_FEATURES:
        assert feature.window is not None
        text = values.get(feature.times_column)
        if text is None:  # the source does not record this table: its count stays unknown
            row[feature.name], row[feature.times_column] = None, None
            continue
        times = decode_times(text)
        low = now_ms - feature.window.days * 86_400_000
        for event in events:
            at_ms = int(event.at.timestamp() * 1000)
            if _MOVES.get(event.type) == feature.window.table and low <= at_ms < now_ms:
                times.append(at_ms)
                moved.add(event.event_id)
        kept = in_window(times, now_ms, feature.window.days)
        row[feature.times_column] = encode_times(kept)
    row.update(online_values(row, now_ms))
    return row, moved


class EventIntake:
    """Records events and moves the online windows; ``clock`` (ns) is injectable so tests can fix "now"."""

    def __init__(
        self,
        store: Any,
        reader: Any,
        raw_dir: Path,
        push_source: str = "customer_events",
        clock: Callable[[], int] = time.time_ns,
        writer: Any = None,
    ) -> None:
        self.store = store
        self.reader = reader
        self.log = EventLog(raw_dir)
        self.push_source = push_source
        self.clock = clock
        self.writer = writer  # a RedisWriter where the platform writes Redis itself; else Feast's push

    def take(self, events: Sequence[Event]) -> list[Outcome]:
        """One outcome per event, in order. Raises StoreUnavailable when the online store does not answer; nothing
        is recorded then, so the sender retries the whole batch."""
        outcomes: dict[int, Outcome] = {}
        with self.log.locked() as log:
            now_ns = self.clock()
            arrived = datetime.fromtimestamp(now_ns / 1e9, tz=UTC)
            fresh: list[tuple[int, Event]] = []
            batch_ids: set[str] = set()
            for i, event in enumerate(events):
                if log.seen(event.event_id) or event.event_id in batch_ids:
                    outcomes[i] = Outcome(event.event_id, event.customer_id, "duplicate", "already recorded")
                else:
                    batch_ids.add(event.event_id)
                    fresh.append((i, event))
            customers = sorted({e.customer_id for _, e in fresh})
            rows = dict(zip(customers, self.reader.read_rows(customers), strict=True)) if customers else {}
            accepted: list[tuple[int, Event]] = []
            for i, event in fresh:
                if rows.get(event.customer_id) is None:
                    detail = f"customer {event.customer_id!r} is not known to the online store"
                    outcomes[i] = Outcome(event.event_id, event.customer_id, "refused", detail)
                else:
                    accepted.append((i, event))
            mark = log.append([e for _, e in accepted], arrived)
            try:
                moved = self._push(accepted, rows, now_ns)
            except StoreUnavailable:
                log.truncate(mark)  # not recorded either: a retry of the batch applies it whole
                raise
            for i, event in accepted:
                if event.event_id in moved:
                    outcomes[i] = Outcome(event.event_id, event.customer_id, "applied")
                else:
                    outcomes[i] = Outcome(event.event_id, event.customer_id, "recorded", _why_not_moved(event))
        return [outcomes[i] for i in range(len(events))]

    def _push(self, accepted: list[tuple[int, Event]], rows: dict[str, Any], now_ns: int) -> set[str]:
        """Push the fresh view for every customer an event moves; returns the ids of the events that moved it."""
        now_ms = now_ns // 1_000_000
        by_customer: dict[str, list[Event]] = {}
        for _, event in accepted:
            if event.type in _MOVES:
                by_customer.setdefault(event.customer_id, []).append(event)
        records, moved = [], set()
        for customer, events in by_customer.items():
            values = rows[customer][0]
            row, ids = _push_row(values, events, now_ms)
            if not ids:
                continue
            moved |= ids
            # Feast keeps a row only if it is newer than the stored one: strictly after the last push
            stamp = max(now_ns, int(float(values.get(PUSHED_AT, 0)) * 1e6) * 1000 + 2000)
            when = _EPOCH + timedelta(microseconds=stamp // 1000)  # whole microseconds, as Feast keeps
            records.append({ENTITY: customer, EVENT_TIMESTAMP: when, CREATED_TIMESTAMP: when, **row})
        if records:
            try:
                if self.writer is not None:  # one row per customer: straight to Arrow, no DataFrame
                    self.writer.write_view(FRESH_VIEW, pa.Table.from_pylist(records))
                else:
                    from feast.data_source import PushMode  # the service imports Feast anyway; the CLI when it pushes

                    frame = pd.DataFrame.from_records(records)
                    for feature in WINDOWED_FEATURES:
                        frame[feature.name] = frame[feature.name].astype("Int64")
                    self.store.push(self.push_source, frame, to=PushMode.ONLINE)
            except Exception as err:  # nothing is kept: the caller takes the log's append back
                raise StoreUnavailable(f"online store unavailable ({err.__class__.__name__}: {err})") from None
        return moved


def _why_not_moved(event: Event) -> str:
    if event.type not in TYPES:  # a declared metered table's reading: its aggregates cover whole months before T
        return "recorded; the declared aggregates over its table take it with the next snapshot"
    if event.type not in _MOVES:
        return "recorded; the profile features take it with the next snapshot"
    return "recorded; outside every current window, so online values are unchanged (the next snapshot has it)"
