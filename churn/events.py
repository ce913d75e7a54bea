"""Customer events between snapshots: checked, recorded once in the raw data, and merged into its tables.

An event says what happened (``type``) to whom, and when (``at``, with its time
zone); the platform adds when it became known: the moment it arrived. It is
recorded with that ``known_at`` in an append-only log under the raw folder
(``events/log.jsonl``), so every later build sees it exactly from the first
snapshot after its arrival — point-in-time correctness does not depend on the
sender's clock. The log is the raw record of events: :func:`merge_events`
turns it into rows of the raw tables (tickets, payments, service changes)
whenever raw data is loaded.

Recording is serialised by an exclusive lock on the log, across the service's
workers and the CLI on one host; under it an event id already in the log is
refused as a duplicate, so an event is applied once however often it is sent.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from churn.declared import METERED_KEY, METERED_PREFIX
from churn.errors import InputError
from churn.labels import PLATFORM, Labels
from churn.schema import CUSTOMER_ID_PATTERN

LOG_DIR = "events"
LOG_FILE = "log.jsonl"
MAX_EVENT_ID = 128
CLOCK_SKEW = timedelta(minutes=5)  # an `at` later than arrival plus this is refused as in the future
_ID_RE = re.compile(CUSTOMER_ID_PATTERN)
_EVENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_BOOL = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}

# What each type records, and the fields it may carry beyond the common four.
SERVICE_FIELDS = ("contract", "payment_method", "paperless_billing")
TYPES: dict[str, tuple[str, ...]] = {
    "ticket_opened": ("ticket_id",),
    "payment_late": ("period_month",),
    "service_change": SERVICE_FIELDS,
}
COMMON = ("event_id", "customer_id", "type", "at")
_CATEGORY_OF = {"contract": "contract", "payment_method": "payment_method"}


class EventError(InputError):
    """An event that cannot be taken: ``problems`` are (field, problem) pairs naming what is wrong."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}: {p}" for f, p in problems))


@dataclass(frozen=True)
class Event:
    event_id: str
    customer_id: str
    type: str
    at: datetime  # UTC
    fields: dict[str, Any] = field(default_factory=dict)

    def record(self, known_at: datetime) -> dict[str, Any]:
        """The log line: the event as sent (times normalised to UTC) and when it became known."""
        return {
            "event_id": self.event_id,
            "customer_id": self.customer_id,
            "type": self.type,
            "at": _iso(self.at),
            "known_at": _iso(known_at),
            **self.fields,
        }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value)


def _time(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time (e.g. 2025-03-04T10:15:00+01:00)") from None
    else:
        raise ValueError(f"expected an ISO 8601 time with its zone, got {type(value).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{value!r} has no time zone (write Z or an offset such as +01:00)")
    return when.astimezone(UTC)


def event_types(metered: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """The platform's event types and a deployment's metered ones (a metered table's name; its fields, the
    table's metrics). A metered table named like a platform type would be ambiguous: the mapping refuses it."""
    return {**{name: tuple(metrics) for name, metrics in (metered or {}).items()}, **TYPES}


def metered_of(manifest: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """The metered tables a raw folder's manifest declares, with their metrics."""
    return {name: tuple(metrics) for name, metrics in ((manifest or {}).get(METERED_KEY) or {}).items()}


def parse_event(
    raw: Mapping[str, Any],
    arrived: datetime,
    where: str = "event",
    labels: Labels = PLATFORM,
    metered: Mapping[str, Sequence[str]] | None = None,
) -> Event:
    """One event from a JSON object or a CSV row; raises EventError naming every bad field. ``labels``: the source's
    category labels a service change may name (the platform's and its own); ``metered``: the deployment's metered
    tables and their metrics (:func:`metered_of`), each an event type whose event is one reading of every metric."""
    types = event_types(metered)
    problems: list[tuple[str, str]] = []
    extra = {k: v for k, v in raw.items() if k not in COMMON and not _blank(v)}
    for name in COMMON:
        if _blank(raw.get(name)):
            problems.append((f"{where}.{name}", "missing"))
    if problems:
        raise EventError(problems)
    event_id, customer_id, kind = str(raw["event_id"]).strip(), str(raw["customer_id"]).strip(), str(raw["type"])
    if not _EVENT_ID_RE.match(event_id):
        problems.append((f"{where}.event_id", "1-128 letters, digits and _ . : - starting with a letter or digit"))
    if not _ID_RE.match(customer_id):
        problems.append((f"{where}.customer_id", "1-64 letters, digits and _ . : - starting with a letter or digit"))
    if kind not in types:
        problems.append((f"{where}.type", f"{kind!r} is not an event type; types are {sorted(types)}"))
        raise EventError(problems)
    at: datetime | None = None
    try:
        at = _time(raw["at"], "at")
        if at > arrived + CLOCK_SKEW:
            problems.append((f"{where}.at", f"{_iso(at)} is in the future (arrived {_iso(arrived)})"))
    except ValueError as err:
        problems.append((f"{where}.at", str(err)))
    allowed = types[kind]
    reading = kind not in TYPES
    for name in sorted(set(extra) - set(allowed)):
        problems.append((f"{where}.{name}", f"not a field of {kind} (its fields: {list(allowed)})"))
    fields: dict[str, Any] = {}
    for name in allowed:
        if name not in extra:
            if reading:  # a reading with a metric left out would enter the windows' sums as unknown
                problems.append((f"{where}.{name}", f"missing (a {kind} reading gives every metric: {list(allowed)})"))
            continue
        value = extra[name]
        problem, fields[name] = _metric(value) if reading else _field(name, value, labels)
        if problem:
            problems.append((f"{where}.{name}", problem))
    if kind == "service_change" and not any(n in extra for n in SERVICE_FIELDS):
        problems.append((f"{where}", f"a service_change names at least one of {list(SERVICE_FIELDS)}"))
    if problems or at is None:
        raise EventError(problems)
    if kind == "payment_late" and "period_month" not in fields:
        fields["period_month"] = at.strftime("%Y-%m")
    if kind == "ticket_opened" and "ticket_id" not in fields:
        fields["ticket_id"] = event_id
    return Event(event_id, customer_id, kind, at, fields)


def _metric(value: Any) -> tuple[str | None, Any]:
    """A metered reading's value: a finite number (JSON number or its text in a CSV cell)."""
    if isinstance(value, bool):
        return f"{value!r} is not a number", None
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else float(value)
    except ValueError:
        return f"{str(value)!r} is not a number", None
    return (None if math.isfinite(number) else f"{str(value)!r} is not a finite number"), number


def _field(name: str, value: Any, labels: Labels) -> tuple[str | None, Any]:
    text = str(value).strip()
    if name == "period_month":
        return (None if _MONTH_RE.match(text) else f"{text!r} is not a month YYYY-MM"), text
    if name == "paperless_billing":
        if isinstance(value, bool):
            return None, value
        flag = _BOOL.get(text.lower())
        return (None if flag is not None else f"{text!r} is not true or false"), flag
    if name in _CATEGORY_OF:
        allowed = labels.values[_CATEGORY_OF[name]]
        return (None if text in allowed else f"{text!r} is not one of {list(allowed)}"), text
    return (None if 0 < len(text) <= MAX_EVENT_ID else "1-128 characters"), text


def read_event_file(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV or JSON-lines event file, as given (checking is :func:`parse_event`'s)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{path}:{n}: not a JSON object ({err.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{n}: not a JSON object")
            rows.append(row)
        return rows
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = [c for c in COMMON if c not in frame.columns]
        if missing:
            raise InputError(f"{path}: missing column(s) {missing}; an event file has {list(COMMON)} at least")
        return [{k: v for k, v in row.items() if v != ""} for row in frame.to_dict("records")]
    raise InputError(f"{path}: an event file is .csv or .jsonl, not {path.suffix or 'no extension'}")


# --- the log -------------------------------------------------------------------------------------------------------


def log_path(raw_dir: Path) -> Path:
    return Path(raw_dir) / LOG_DIR / LOG_FILE


class EventLog:
    """The append-only event log of one raw folder, with the ids it holds (kept current from the file's tail)."""

    def __init__(self, raw_dir: Path) -> None:
        self.path = log_path(raw_dir)
        self._ids: set[str] = set()
        self._offset = 0
        self._inode: int | None = None
        self._last: list[str] = []

    @contextmanager
    def locked(self) -> Iterator[EventLog]:
        """Exclusive use of the log across processes: the check for duplicates and the append are one step."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._catch_up()
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _catch_up(self) -> None:
        """Read what others appended since last time; start over if the file was replaced (an erasure)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._ids, self._offset, self._inode = set(), 0, None
            return
        if stat.st_ino != self._inode or stat.st_size < self._offset:
            self._ids, self._offset, self._inode = set(), 0, stat.st_ino
        if stat.st_size == self._offset:
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            tail = f.read()
        complete = tail[: tail.rfind(b"\n") + 1]
        for line in complete.splitlines():
            try:
                self._ids.add(str(json.loads(line)["event_id"]))
            except (ValueError, KeyError, TypeError):
                continue  # a torn line holds no event
        self._offset += len(complete)

    def seen(self, event_id: str) -> bool:
        return event_id in self._ids

    def append(self, events: Sequence[Event], known_at: datetime) -> int:
        """Append in one write (call under :meth:`locked`); the ids count as seen at once. Returns the log's size
        before, for :meth:`truncate`."""
        before = self._offset
        if not events:
            return before
        data = "".join(json.dumps(e.record(known_at), separators=(",", ":")) + "\n" for e in events).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self._ids.update(e.event_id for e in events)
        if self._inode is None:
            self._inode = self.path.stat().st_ino
        self._offset += len(data)
        self._last = [e.event_id for e in events]
        return before

    def truncate(self, size: int) -> None:
        """Take back the last append (call under the same :meth:`locked`), when what it recorded was not applied."""
        os.truncate(self.path, size)
        self._ids.difference_update(self._last)
        self._offset, self._last = size, []


def load_events(raw_dir: Path) -> pd.DataFrame:
    """Every recorded event (first record of an id wins), times as UTC timestamps; empty when none."""
    path = log_path(raw_dir)
    columns = [*COMMON, "known_at"]
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=columns)
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.drop_duplicates("event_id", keep="first")
    for name in ("at", "known_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame.reset_index(drop=True)


def _appended(table: pd.DataFrame | None, rows: pd.DataFrame) -> pd.DataFrame:
    if table is None or table.empty:
        return rows.reset_index(drop=True)
    rows = rows.astype({c: table[c].dtype for c in rows.columns if c in table.columns and c.endswith("_at")})
    plain = table.astype({c: object for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)})
    return pd.concat([plain, rows], ignore_index=True)


def merge_events(tables: dict[str, pd.DataFrame], events: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The raw tables with the recorded events as rows of theirs (``known_at`` = arrival)."""
    if events.empty:
        return tables
    out = dict(tables)
    tickets = events[events["type"] == "ticket_opened"]
    if len(tickets):
        out["tickets"] = _appended(tables.get("tickets"), pd.DataFrame({
            "customer_id": tickets["customer_id"].astype(str), "ticket_id": tickets["ticket_id"].astype(str),
            "opened_at": tickets["at"], "known_at": tickets["known_at"]}))  # fmt: skip
    late = events[events["type"] == "payment_late"]
    if len(late):
        out["payments"] = _appended(tables.get("payments"), pd.DataFrame({
            "customer_id": late["customer_id"].astype(str), "period_month": late["period_month"].astype(str),
            "due_at": late["at"], "known_at": late["known_at"], "paid_late": True}))  # fmt: skip
    changes = events[events["type"] == "service_change"]
    if len(changes) and "service_changes" in tables:
        out["service_changes"] = _with_changes(tables["service_changes"], changes)
    for kind in sorted(set(events["type"].astype(str)) - set(TYPES)):  # readings of the deployment's metered tables
        name = f"{METERED_PREFIX}{kind}"
        if name not in tables:
            continue  # a table no longer declared: its readings stay in the log, as its ingest's rows stay in files
        readings = events[events["type"] == kind]
        metrics = [c for c in tables[name].columns if c not in ("customer_id", "at", "known_at")]
        values = {m: pd.to_numeric(readings[m], errors="coerce").astype(float) for m in metrics if m in readings}
        out[name] = _appended(tables[name], pd.DataFrame({
            "customer_id": readings["customer_id"].astype(str), "at": readings["at"], "known_at": readings["known_at"],
            **values}))  # fmt: skip
    return out


def _with_changes(states: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """A full service state row per change: the customer's state in force at ``at``, with the changed fields."""
    states = states.astype({c: object for c in states.columns if isinstance(states[c].dtype, pd.CategoricalDtype)})
    effective = pd.to_datetime(states["effective_at"], utc=True)
    rows = []
    for change in changes.sort_values(["at", "known_at"], kind="stable").itertuples(index=False):
        mine = states[(states["customer_id"].astype(str) == change.customer_id) & (effective <= change.at)]
        if mine.empty:
            continue  # nothing to change yet: the customer's first state comes from the export
        state = mine.sort_values(["effective_at", "known_at"]).iloc[-1].to_dict()
        new = dict(state)
        for name in SERVICE_FIELDS:
            value = getattr(change, name, None)
            if not _blank(value):
                new[name] = bool(value) if name == "paperless_billing" else value
        if new["contract"] != state["contract"]:
            new["contract_start"] = change.at
        new["effective_at"], new["known_at"] = change.at, change.known_at
        rows.append(new)
        states = pd.concat([states, pd.DataFrame([new])], ignore_index=True)
        effective = pd.to_datetime(states["effective_at"], utc=True)
    return states
