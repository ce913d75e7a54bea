"""Each feature checked against a customer history computed by hand.

Customer A signs up on 2023-01-10 with a one-year contract, fiber, phone and
online security, paying by electronic check. Her history includes records that
arrive late on purpose: an invoice posted five days into the next month, a
ticket entered three weeks after it was opened, a late payment learned about in
July, and a switch to a two-year contract made in May but recorded in July.
Customer B is a quiet DSL customer who keeps A company in the high-value ranking.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn.raw import RawData
from churn.schema import ADDON_SERVICES
from churn.temporal import build_snapshots
from churn.temporal_reference import reference_snapshots


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def state(cid: str, effective: str, known: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "customer_id": cid,
        "effective_at": ts(effective),
        "known_at": ts(known),
        "contract": "One year",
        "contract_start": ts("2023-01-10"),
        "phone_service": True,
        "multiple_lines": False,
        "internet_service": "Fiber optic",
        **{name: False for name in ADDON_SERVICES},
        "online_security": True,
        "payment_method": "Electronic check",
        "paperless_billing": True,
    }
    row.update(overrides)
    return row


def hand_history() -> RawData:
    customers = pd.DataFrame(
        [
            ["A", ts("2023-01-10"), ts("2023-01-10"), "Female", False, True, False],
            ["B", ts("2023-01-05"), ts("2023-01-05"), "Male", True, False, True],
        ],
        columns=["customer_id", "signup_at", "known_at", "gender", "senior_citizen", "partner", "dependents"],
    )
    changes = pd.DataFrame(
        [
            state("A", "2023-01-10", "2023-01-10"),
            state("A", "2023-04-15", "2023-04-16", payment_method="Mailed check", streaming_tv=True),
            state(
                "A",
                "2023-05-20",
                "2023-07-02",  # recorded late
                contract="Two year",
                contract_start=ts("2023-05-20"),
                payment_method="Mailed check",
                streaming_tv=True,
            ),
            state(
                "B",
                "2023-01-05",
                "2023-01-05",
                contract="Month-to-month",
                contract_start=ts("2023-01-05"),
                internet_service="DSL",
                online_security=False,
                payment_method="Credit card (automatic)",
            ),
        ]
    )
    amounts = {"2023-02": 50, "2023-03": 52, "2023-04": 54, "2023-05": 60, "2023-06": 60, "2023-07": 70}
    bills = []
    for period, amount in amounts.items():
        start = ts(f"{period}-01")
        known = ts("2023-07-05") if period == "2023-06" else start + pd.Timedelta(days=1)
        bills.append(["A", period, start, known, float(amount)])
        bills.append(["B", period, start, start + pd.Timedelta(days=1), 20.0])
    bills.append(["B", "2023-08", ts("2023-08-01"), ts("2023-08-02"), 20.0])
    billing = pd.DataFrame(bills, columns=["customer_id", "period_month", "billed_at", "known_at", "amount"])
    payments = pd.DataFrame(
        [
            ["A", "2023-02", ts("2023-02-25"), ts("2023-03-06"), True],
            ["A", "2023-03", ts("2023-03-25"), ts("2023-04-06"), False],
            ["A", "2023-04", ts("2023-04-25"), ts("2023-05-06"), True],
            ["A", "2023-05", ts("2023-05-25"), ts("2023-07-15"), True],  # learned about in July
        ],
        columns=["customer_id", "period_month", "due_at", "known_at", "paid_late"],
    )
    tickets = pd.DataFrame(
        [
            ["A", "T1", ts("2023-03-05"), ts("2023-03-06")],
            ["A", "T2", ts("2023-03-28"), ts("2023-04-20")],  # entered three weeks late
            ["A", "T3", ts("2023-06-10"), ts("2023-06-10")],
        ],
        columns=["customer_id", "ticket_id", "opened_at", "known_at"],
    )
    churn_events = pd.DataFrame(
        [["A", ts("2023-08-20"), ts("2023-08-20")]], columns=["customer_id", "churned_at", "known_at"]
    )
    return RawData(
        tables={
            "customers": customers,
            "service_changes": changes,
            "billing": billing,
            "payments": payments,
            "tickets": tickets,
            "churn_events": churn_events,
        },
        manifest={
            "source": "test",
            "first_snapshot_month": "2023-02",
            "last_snapshot_month": "2023-09",
            "behaviour_tables": ["payments", "tickets"],
        },
    )


@pytest.fixture(scope="module")
def built() -> tuple[pd.DataFrame, pd.DataFrame]:
    snaps = build_snapshots(hand_history())
    return snaps.features.set_index(["customer_id", "snapshot_month"]), snaps.labels


EXPECTED_A = {
    # month: tenure, contract, remaining, services, payment, monthly, avg3, trend6, total, tickets3m, late6m, high
    "2023-06": (4, "One year", 8, 4, "Mailed check", 60.0, (52 + 54 + 60) / 3, 16 / 5, 216.0, 2, 2, True),
    # June's invoice is posted on July 5th, so July's snapshot still sees May's as the latest.
    "2023-07": (5, "One year", 7, 4, "Mailed check", 60.0, (54 + 60) / 2, 16 / 5, 216.0, 1, 2, True),
    # The two-year contract (from May 20th) and May's late payment are known by August.
    "2023-08": (6, "Two year", 22, 4, "Mailed check", 70.0, (60 + 60 + 70) / 3, 65 / 17.5, 346.0, 1, 3, True),
}


@pytest.mark.parametrize("month", sorted(EXPECTED_A))
def test_customer_a_features_match_hand_computation(built: tuple[pd.DataFrame, pd.DataFrame], month: str) -> None:
    features, _ = built
    row = features.loc[("A", month)]
    tenure, contract, remaining, services, payment, monthly, avg3, trend, total, tickets, late, high = EXPECTED_A[month]
    assert row.tenure_months == tenure
    assert row.contract_type == contract
    assert row.contract_remaining_months == remaining
    assert row.num_services_total == services
    assert row.payment_method == payment
    assert row.has_fiber_optic
    assert row.monthly_charges == pytest.approx(monthly)
    assert row.avg_monthly_charges_3m == pytest.approx(avg3)
    assert row.charges_trend_6m == pytest.approx(trend)
    assert row.total_charges_to_date == pytest.approx(total)
    assert row.num_support_tickets_3m == tickets
    assert row.num_late_payments_6m == late
    assert bool(row.is_high_value) is high
    assert row.gender == "Female" and row.partner and not row.senior_citizen


def test_first_month_has_no_invoice_yet(built: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    features, _ = built
    row = features.loc[("A", "2023-02")]
    assert row.tenure_months == 0
    assert np.isnan(row.monthly_charges) and np.isnan(row.charges_trend_6m)
    assert row.total_charges_to_date == 0.0
    assert row.contract_remaining_months == 12


def test_churn_ends_snapshots_and_sets_the_label(built: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    features, labels = built
    months_a = sorted(features.loc["A"].index)
    assert months_a == ["2023-02", "2023-03", "2023-04", "2023-05", "2023-06", "2023-07", "2023-08"]
    mine = labels[labels.customer_id == "A"]
    label_a = mine.set_index(mine.event_timestamp.dt.strftime("%Y-%m"))["churned"]
    assert label_a.to_dict() == {m: int(m == "2023-08") for m in months_a}
    # The last month (2023-09) is not observed yet: B has a snapshot to score, but no label.
    assert ("B", "2023-09") in features.index
    assert not ((labels.customer_id == "B") & (labels.event_timestamp == ts("2023-09-01"))).any()


def test_high_value_is_relative_to_the_month(built: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    features, _ = built
    assert not features.loc[("B", "2023-06")].is_high_value
    # Alone in September, B is in his own top quarter.
    assert features.loc[("B", "2023-09")].is_high_value


def test_reference_builder_agrees_with_hand_history() -> None:
    raw = hand_history()
    fast = build_snapshots(raw).features.set_index(["customer_id", "snapshot_month"]).sort_index()
    slow = reference_snapshots(raw).set_index(["customer_id", "snapshot_month"]).sort_index()
    assert fast.index.equals(slow.index)
    for name in slow.columns.drop("event_timestamp"):
        a, b = fast[name], slow[name]
        if a.dtype.kind in "biuf" or str(a.dtype) == "Int64":
            np.testing.assert_allclose(a.astype(float), b.astype(float), atol=1e-9, err_msg=name)
        else:
            assert (a.astype(str) == b.astype(str)).all(), name
