"""Objections to direct marketing: the latest record decides, bad records are refused by name, plans honour them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from churn.actions import parse_catalogue
from churn.consent import REJECTS_FILE, import_file, objected, record
from churn.decisions import STATUS, decide
from churn.errors import InputError
from churn.privacy import privacy_dir

GENEROUS = parse_catalogue({"actions": [{"name": "call", "cost": 1.0, "success_rate": 0.9}]}, "test")


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "raw"
    folder.mkdir(parents=True)
    pd.DataFrame({"customer_id": ["A1", "B2", "C3", "D4"]}).to_parquet(folder / "customers.parquet")
    return folder


def test_the_latest_record_decides_and_both_sources_count(raw_dir: Path) -> None:
    record(raw_dir, ["A1", "B2"], True, at=datetime(2025, 1, 1, tzinfo=UTC))
    record(raw_dir, ["B2"], False, at=datetime(2025, 2, 1, tzinfo=UTC))  # B2 withdrew
    assert objected(raw_dir) == {"A1"}
    # a CRM export through the raw table: C3 objected; an older record of A1's withdrawal does not undo the newer one
    pd.DataFrame({"customer_id": ["C3", "A1"],
                  "recorded_at": pd.to_datetime(["2025-01-15", "2024-06-01"], utc=True),
                  "known_at": pd.to_datetime(["2025-01-16", "2024-06-02"], utc=True),
                  "objected": [True, False]}).to_parquet(raw_dir / "consents.parquet")  # fmt: skip
    assert objected(raw_dir) == {"A1", "C3"}
    assert objected(raw_dir, ["C3", "D4"]) == {"C3"}


def test_unknown_customers_are_refused_by_name_and_nothing_is_recorded(raw_dir: Path) -> None:
    with pytest.raises(InputError, match=r"unknown customer\(s\) \['ZZ9'\]; nothing was recorded"):
        record(raw_dir, ["A1", "ZZ9"], True)
    assert objected(raw_dir) == set()


def test_an_import_records_good_rows_and_rejects_the_rest_with_reasons(raw_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        "customer_id,objected,recorded_at\n"
        "A1,yes,2025-03-01T10:00:00+01:00\n"
        "ZZ9,yes,2025-03-01T10:00:00Z\n"
        "B2,maybe,2025-03-01T10:00:00Z\n"
        "C3,no,yesterday\n"
        "D4,1,2025-03-02T00:00:00Z\n"
    )
    result = import_file(raw_dir, path)
    assert (result["recorded"], result["rejected"]) == (2, 3)
    assert objected(raw_dir) == {"A1", "D4"}
    rejects = pd.read_csv(privacy_dir(raw_dir) / REJECTS_FILE, dtype=str)
    assert rejects[["customer_id", "line", "reason"]].values.tolist() == [
        ["ZZ9", "3", "customer_id: unknown customer"],
        ["B2", "4", "objected: not one of true/false, yes/no, 1/0"],
        ["C3", "5", "recorded_at: not an ISO 8601 time"],
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,objected\nA1,yes\n")
    with pytest.raises(InputError, match=r"lacks column\(s\) \['customer_id', 'recorded_at'\]"):
        import_file(raw_dir, bad)


def test_a_plan_never_targets_nor_holds_out_a_customer_who_objected() -> None:
    scores = pd.DataFrame({"customer_id": ["A1", "B2", "C3"], "probability": [0.9, 0.8, 0.7],
                           "monthly_charges": [100.0, 100.0, 100.0]})  # fmt: skip
    open_plan = decide(scores, GENEROUS, control_fraction=0.0)
    assert open_plan.frame["targeted"].all()
    plan = decide(scores, GENEROUS, control_fraction=0.5, objected={"A1"})
    row = plan.frame.set_index("customer_id").loc["A1"]
    assert not row["targeted"] and not row["control"] and row["status"] == STATUS["objected"]
    assert plan.summary["excluded_objected"] == 1 and plan.summary["would_target_without_budget"] == 2
