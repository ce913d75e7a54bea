import numpy as np
import pytest

from churn.errors import InputError
from churn.timeutil import month_index_of_ns, month_label, month_starts_ns, parse_date, parse_month


def test_month_round_trip() -> None:
    for text in ("1970-01", "2023-12", "2024-02"):
        assert month_label(parse_month(text)) == text
    idx = np.array([parse_month("2024-02"), parse_month("2024-03")])
    assert (month_index_of_ns(month_starts_ns(idx) + 1) == idx).all()
    assert (month_index_of_ns(month_starts_ns(idx) - 1) == idx - 1).all()


@pytest.mark.parametrize("bad", ["2024-13", "2024-00", "24-01", "", "2024/01", "abc"])
def test_bad_month_names_the_field(bad: str) -> None:
    with pytest.raises(InputError, match="start: expected a month as YYYY-MM"):
        parse_month(bad, field="start")


@pytest.mark.parametrize(
    "bad", ["July 2025", "２０２５-０７-０１", "", "2025-07-01T00:00:00+14:00", "2025-7-1", "2025-02-30", "20250701"]
)
def test_dates_are_strict_iso_days(bad: str) -> None:
    """Every spelling but YYYY-MM-DD is refused by name: a time zone used to move the day quietly (June for July)."""
    with pytest.raises(InputError, match="--date: expected a date as YYYY-MM-DD"):
        parse_date(bad, field="--date")


def test_a_good_date_is_its_utc_midnight() -> None:
    assert parse_date(" 2025-07-01 ").isoformat() == "2025-07-01T00:00:00+00:00"
