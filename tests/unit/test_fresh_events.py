"""Event-time windows and events: the builder, the plain definition and the online path agree at every instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn.events import EventError, EventLog, load_events, merge_events, parse_event
from churn.fresh import DAY_MS, count_in_window, month_start_ms, values_at
from churn.raw import RawData, load_raw, save_raw
from churn.schema import WINDOWED_FEATURES
from churn.temporal import build_snapshots
from churn.timeutil import parse_month

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _check_month_starts(raw: RawData) -> None:
    """At every month start, each windowed feature and its times equal the plain definition's."""
    built = build_snapshots(raw).features
    for month, part in built.groupby("snapshot_month"):
        plain = values_at(raw.tables, raw.behaviour_tables, month_start_ms(parse_month(str(month))))
        rows = part.set_index("customer_id")
        for feature in WINDOWED_FEATURES:
            if feature.window is not None and feature.window.table not in raw.behaviour_tables:
                assert rows[feature.name].isna().all() and rows[feature.times_column].isna().all()
                continue
            expected = plain.get(feature.name, pd.Series(dtype=float)).reindex(rows.index).fillna(0)
            np.testing.assert_array_equal(rows[feature.name].astype(float), expected.astype(float), feature.name)
            times = plain.get(feature.times_column, pd.Series(dtype=object)).reindex(rows.index).fillna("")
            assert (rows[feature.times_column].fillna("") == times).all(), (month, feature.times_column)


def test_builder_equals_the_plain_definition_on_the_simulation(small_raw: RawData) -> None:
    _check_month_starts(small_raw)
    built = build_snapshots(small_raw).features
    assert built["tickets_90d"].sum() > 0 and built["late_payments_180d"].sum() > 0  # the windows see records


@st.composite
def _records(draw: st.DrawFn) -> RawData:
    """Two customers from 2023-01, and tickets at any time with any delay before they were known."""
    base = pd.Timestamp("2023-01-01", tz="UTC")
    customers = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "signup_at": [base - pd.Timedelta(days=400)] * 2,
            "known_at": [base - pd.Timedelta(days=400)] * 2,
            "gender": ["Male", "Female"],
            "senior_citizen": False,
            "partner": False,
            "dependents": False,
        }
    )
    n = draw(st.integers(0, 12))
    opened = [base + pd.Timedelta(minutes=draw(st.integers(-60 * 24 * 40, 60 * 24 * 200))) for _ in range(n)]
    lag = [pd.Timedelta(minutes=draw(st.integers(0, 60 * 24 * 70))) for _ in range(n)]
    tickets = pd.DataFrame(
        {
            "customer_id": [draw(st.sampled_from("AB")) for _ in range(n)],
            "ticket_id": [f"t{i}" for i in range(n)],
            "opened_at": pd.Series(opened, dtype="datetime64[ns, UTC]"),
            "known_at": pd.Series([o + d for o, d in zip(opened, lag, strict=True)], dtype="datetime64[ns, UTC]"),
        }
    )
    changes = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "effective_at": customers.signup_at,
            "known_at": customers.signup_at,
            "contract": "Month-to-month",
            "contract_start": customers.signup_at,
            "phone_service": True,
            "multiple_lines": False,
            "internet_service": "No",
            "online_security": False,
            "online_backup": False,
            "device_protection": False,
            "tech_support": False,
            "streaming_tv": False,
            "streaming_movies": False,
            "payment_method": "Mailed check",
            "paperless_billing": False,
        }
    )
    billed = pd.Timestamp("2022-12-01", tz="UTC")
    billing = pd.DataFrame(
        {"customer_id": ["A", "B"], "period_month": "2022-12", "billed_at": billed, "known_at": billed, "amount": 20.0}
    )
    manifest = {"first_snapshot_month": "2023-01", "last_snapshot_month": "2023-08", "behaviour_tables": ["tickets"]}
    tables = {"customers": customers, "service_changes": changes, "billing": billing, "tickets": tickets}
    return RawData(tables=tables, manifest=manifest)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_records())
def test_windows_at_month_starts_match_the_definition_for_any_lateness(raw: RawData) -> None:
    """Late-known tickets never reach snapshots before they were known, and leave the window after 30 days."""
    _check_month_starts(raw)


def test_count_in_window_edges() -> None:
    t = 100 * DAY_MS
    times = [t - 30 * DAY_MS, t - 30 * DAY_MS - 1, t - 1, t]
    assert count_in_window(times, t, 30) == 2  # the lower edge counts, the instant itself does not


def test_parse_event_names_every_bad_field() -> None:
    with pytest.raises(EventError) as err:
        parse_event(
            {
                "event_id": "e1",
                "customer_id": "C 1",
                "type": "payment_late",
                "at": "2026-11-01T10:00:00",
                "colour": "red",
            },
            NOW,
            where="events[0]",
        )
    fields = [f for f, _ in err.value.problems]
    assert fields == ["events[0].customer_id", "events[0].at", "events[0].colour"]
    assert "no time zone" in dict(err.value.problems)["events[0].at"]
    with pytest.raises(EventError, match="is in the future"):
        parse_event({"event_id": "e", "customer_id": "C1", "type": "ticket_opened", "at": "2027-01-01T00:00:00Z"}, NOW)
    with pytest.raises(EventError, match="not one of"):
        parse_event(
            {
                "event_id": "e",
                "customer_id": "C1",
                "type": "service_change",
                "at": "2026-01-01T00:00:00Z",
                "contract": "Forever",
            },
            NOW,
        )
    event = parse_event(
        {"event_id": "e", "customer_id": "C1", "type": "payment_late", "at": "2026-11-03T09:00:00+05:30"}, NOW
    )
    assert event.at == datetime(2026, 11, 3, 3, 30, tzinfo=UTC) and event.fields == {"period_month": "2026-11"}


def test_log_records_once_and_takes_back_an_unapplied_append(tmp_path: Path) -> None:
    events = [
        parse_event(
            {"event_id": f"e{i}", "customer_id": "C1", "type": "ticket_opened", "at": "2026-11-29T00:00:00Z"}, NOW
        )
        for i in range(3)
    ]
    log = EventLog(tmp_path)
    with log.locked():
        log.append(events[:2], NOW)
    other = EventLog(tmp_path)  # another worker sees what the first wrote
    with other.locked():
        assert other.seen("e0") and other.seen("e1") and not other.seen("e2")
        mark = other.append(events[2:], NOW)
        other.truncate(mark)
        assert not other.seen("e2")
    recorded = load_events(tmp_path)
    assert list(recorded["event_id"]) == ["e0", "e1"]
    assert (recorded["known_at"] == pd.Timestamp(NOW)).all()


def test_recorded_events_become_raw_rows_known_at_arrival(small_raw: RawData, tmp_path: Path) -> None:
    """A ticket about an earlier day, arriving later, reaches only snapshots after its arrival."""
    save_raw(small_raw, tmp_path)
    last = small_raw.last_snapshot_month
    built = build_snapshots(small_raw).features
    customer = str(built.loc[built["snapshot_month"] == last, "customer_id"].iloc[0])  # active at the last month
    arrival = pd.Timestamp(f"{last}-01", tz="UTC") - pd.Timedelta(days=3)
    at = arrival - pd.Timedelta(days=40)  # happened 40 days before it arrived
    event = parse_event(
        {"event_id": "late-1", "customer_id": customer, "type": "ticket_opened", "at": at.isoformat()},
        arrival.to_pydatetime(),
    )
    log = EventLog(tmp_path)
    with log.locked():
        log.append([event], arrival.to_pydatetime())
    raw = load_raw(tmp_path)
    assert len(raw.tables["tickets"]) == len(small_raw.tables["tickets"]) + 1
    before = build_snapshots(small_raw).features.set_index(["customer_id", "snapshot_month"])
    after = build_snapshots(raw).features.set_index(["customer_id", "snapshot_month"])
    changed = (after["num_support_tickets_3m"] != before["num_support_tickets_3m"]).fillna(False)
    assert list(changed[changed].index) == [(customer, last)]  # known at arrival: only the next month start sees it
    moved = (after["tickets_90d"] != before["tickets_90d"]).fillna(False)
    assert list(moved[moved].index) == [(customer, last)]  # 43 days old at that month start: in the 90-day window
    _check_month_starts(raw)


def test_service_change_events_become_full_states() -> None:
    signup = pd.Timestamp("2024-01-01", tz="UTC")
    states = pd.DataFrame(
        {
            "customer_id": ["A"],
            "effective_at": [signup],
            "known_at": [signup],
            "contract": ["Month-to-month"],
            "contract_start": [signup],
            "payment_method": ["Mailed check"],
            "paperless_billing": [False],
            "phone_service": [True],
        }
    )
    events = pd.DataFrame(
        {
            "event_id": ["s1"],
            "customer_id": ["A"],
            "type": ["service_change"],
            "at": [pd.Timestamp("2024-05-10", tz="UTC")],
            "known_at": [pd.Timestamp("2024-05-11", tz="UTC")],
            "contract": ["One year"],
        }
    )
    merged = merge_events({"service_changes": states}, events)["service_changes"]
    new = merged.iloc[-1]
    assert new["contract"] == "One year" and new["contract_start"] == pd.Timestamp("2024-05-10", tz="UTC")
    assert new["payment_method"] == "Mailed check" and bool(new["phone_service"])
    assert new["known_at"] == pd.Timestamp("2024-05-11", tz="UTC")


def test_events_within_the_window_move_it_and_late_ones_only_when_they_belong(tmp_path: Path) -> None:
    """The online path at a fixed clock: after a sequence of pushes (one about an earlier day, one too old), the
    customer's online values equal the plain definition over the raw data at that instant."""
    from store.event_intake import EventIntake
    from store.online import at_instant

    times = {"A": "", "B": ""}

    class Reader:  # the online rows of two customers as materialized at a snapshot, then as pushed
        def read_rows(self, ids: list[str]) -> list[object]:
            return [
                (
                    {"tickets_90d_times": times[i], "late_payments_180d_times": "", "_pushed_at": pushed.get(i)}
                    if pushed.get(i)
                    else {"tickets_90d_times": times[i], "late_payments_180d_times": ""},
                    1.0,
                )
                if i in times
                else None
                for i in ids
            ]

    pushed: dict[str, float] = {}

    class Store:
        def push(self, name: str, frame: pd.DataFrame, to: object) -> None:
            for row in frame.itertuples(index=False):
                times[row.customer_id] = row.tickets_90d_times
                pushed[row.customer_id] = row.event_timestamp.timestamp()

    clock = [int(pd.Timestamp(NOW).value)]
    intake = EventIntake(Store(), Reader(), tmp_path, clock=lambda: clock[0])

    def ticket(eid: str, customer: str, days_ago: float) -> object:
        at = NOW - timedelta(days=days_ago)
        return parse_event(
            {"event_id": eid, "customer_id": customer, "type": "ticket_opened", "at": at.isoformat()},
            NOW + timedelta(days=1),
        )

    out = intake.take([ticket("t1", "A", 2), ticket("t2", "A", 10), ticket("t3", "A", 100), ticket("t4", "Z", 1)])
    assert [o.status for o in out] == ["applied", "applied", "recorded", "refused"]
    assert "'Z'" in out[3].detail
    clock[0] += 3_600 * 10**9
    late = ticket("t5", "A", 20)  # arrives an hour later, about a day 20 days back: it belongs in the window
    assert [o.status for o in intake.take([late, ticket("t1", "A", 2)])] == ["applied", "duplicate"]
    instant = clock[0] // 1_000_000 + 60_000
    row = at_instant(Reader().read_rows(["A"])[0], instant)
    assert row is not None
    recorded = load_events(tmp_path)
    tables = merge_events(
        {"tickets": pd.DataFrame(columns=["customer_id", "ticket_id", "opened_at", "known_at"])}, recorded
    )
    plain = values_at(tables, ["tickets"], instant)
    assert row[0]["tickets_90d"] == plain.loc["A", "tickets_90d"] == 3
    assert row[0]["tickets_90d_times"] == plain.loc["A", "tickets_90d_times"]
