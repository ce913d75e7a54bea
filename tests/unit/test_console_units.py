"""The console's parts without a browser: the at-risk board against pandas, the audit chain, sessions and redirects."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn import audit
from churn.actions import load_catalogue
from churn.errors import InputError
from console.access import Sessions, csrf_ok, safe_next
from console.scores import Query, ScoreBoard
from serving.auth import KeyRing

ADMIN = "unit-admin-key-0123456789abcdefGHIJ"
VIEWER = "unit-viewer-key-9876543210zyxwvuTSRQ"


def scores(n: int = 500, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(n)],
            "snapshot_date": pd.Timestamp("2024-06-01").date(),
            "probability": rng.beta(1, 6, n).round(3),  # rounded: ties, so the tie order is tested too
            "risk_band": "low",
            "model_version": "churn_model:x",
            "contract_type": rng.choice(["Month-to-month", "One year", "Two year"], n),
            "monthly_charges": rng.uniform(20, 120, n).round(2),
            "num_support_tickets_3m": rng.integers(0, 5, n),
            "paperless_billing": rng.random(n) < 0.5,
        }
    )


@pytest.fixture(scope="module")
def board() -> ScoreBoard:
    from churn.decisions import prepare

    return ScoreBoard(Path("batch_scores_2024-06-01.parquet"), prepare(scores(), load_catalogue(), 1, {"C0000007"}))


def expected(board: ScoreBoard, query: Query) -> list[str]:
    frame = pd.DataFrame({"customer_id": board.ids, **board.columns}).assign(
        contract_type=board.scores["contract_type"].to_numpy(), row=np.arange(len(board.ids))
    )
    if query.band:
        frame = frame[frame["risk_band"] == query.band]
    if query.action:
        frame = frame[frame["action"] == query.action]
    if query.attribute and query.value:
        frame = frame[frame[query.attribute].astype(str) == query.value]
    frame = frame.sort_values([query.sort, "row"], ascending=[False, True])
    return list(frame["customer_id"])


@settings(max_examples=60, deadline=None)
@given(
    band=st.sampled_from(["", "low", "medium", "high"]),
    contract=st.sampled_from(["", "Month-to-month", "Two year"]),
    sort=st.sampled_from(["probability", "expected_value", "clv"]),
    page=st.integers(1, 4),
)
def test_a_page_is_the_slice_pandas_would_give(
    board: ScoreBoard, band: str, contract: str, sort: str, page: int
) -> None:
    if band and band not in board.filters["risk_band"][1]:
        with pytest.raises(InputError, match=r"^band: no customer has"):
            board.page(Query(band=band))
        return
    query = Query(band=band, attribute="contract_type" if contract else "", value=contract, sort=sort, page=page)
    want = expected(board, query)
    pages = max(1, -(-len(want) // 50))
    if page > pages:
        with pytest.raises(InputError, match=rf"^page: there are {pages} page"):
            board.page(query)
        return
    got = board.page(query)
    assert got.total == len(want) and got.pages == pages
    assert [r["customer_id"] for r in got.rows] == want[(page - 1) * 50 : page * 50]
    if contract:
        assert {r["contract_type"] for r in got.rows} <= {contract}


def test_the_board_decides_as_the_engine_does_and_honours_objections(board: ScoreBoard) -> None:
    from churn.decisions import decide

    plan = decide(board.scores, board.catalogue, None, 0.0, 1, {"C0000007"}).frame.set_index("customer_id")
    for i in (0, 7, 42, 199):
        row = board.row(i)
        assert row["expected_value"] == pytest.approx(plan.loc[row["customer_id"], "expected_value"], abs=0.01)
        assert row["clv"] == pytest.approx(plan.loc[row["customer_id"], "clv"], abs=0.01)
    assert board.row(7)["action"] == "excluded (objected)" and not board.row(7)["target"]
    assert set(board.attributes) == {"contract_type", "paperless_billing"}  # numbers are not categories
    assert board.find("C0000042")["customer_id"] == "C0000042" and board.find("nobody") is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (Query(sort="name"), "sort: must be one of probability, expected_value, clv"),
        (Query(action="free lunch"), "action: no customer has 'free lunch'"),
        (Query(attribute="monthly_charges", value="20"), "attribute: 'monthly_charges' is not a filterable column"),
        (Query(attribute="contract_type", value="Ten year"), "value: contract_type has no value 'Ten year'"),
        (Query(page=0), "page: must be 1 or more"),
    ],
)
def test_bad_queries_name_the_field(board: ScoreBoard, query: Query, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        board.page(query)


def test_the_audit_log_chains_entries_and_finds_an_edit(tmp_path: Path) -> None:
    audit.append(tmp_path, "abc123", "promote churn", "v1", "v2", "gate passed")
    audit.append(tmp_path, "abc123", "rollback churn", "v2", "v1")
    audit.append(tmp_path, "def456", "promote clv", None, "c1")
    entries = audit.read(tmp_path)
    assert [e["action"] for e in entries] == ["promote clv", "rollback churn", "promote churn"]
    assert entries[-1]["previous_sha256"] == audit.GENESIS and audit.verify(tmp_path) is None
    assert oct(audit.audit_path(tmp_path).stat().st_mode & 0o777) == "0o600"
    lines = audit.audit_path(tmp_path).read_text().splitlines()
    edited = json.loads(lines[0]) | {"after": "v9"}
    audit.audit_path(tmp_path).write_text("\n".join([json.dumps(edited, sort_keys=True), *lines[1:]]) + "\n")
    assert audit.verify(tmp_path) == "line 2 does not follow line 1 (edited, removed or inserted)"
    audit.audit_path(tmp_path).write_text("\n".join([lines[0], lines[2]]) + "\n")  # the middle line removed
    assert audit.verify(tmp_path) == "line 2 does not follow line 1 (edited, removed or inserted)"


def test_sessions_give_roles_by_scope_expire_and_check_csrf() -> None:
    sessions = Sessions(KeyRing.parse(f"admin:{ADMIN},{VIEWER}"), lifetime=0.3)
    admin, viewer = sessions.sign_in(ADMIN), sessions.sign_in(VIEWER)
    assert admin is not None and viewer is not None
    assert (admin.role, viewer.role) == ("admin", "viewer") and admin.admin and not viewer.admin
    assert sessions.sign_in("wrong-key-0123456789abcdefGHIJ") is None and sessions.sign_in("") is None
    assert sessions.get(admin.token) == admin and sessions.get("forged") is None
    assert csrf_ok(admin, admin.csrf) and not csrf_ok(admin, viewer.csrf) and not csrf_ok(admin, "")
    sessions.sign_out(viewer.token)
    assert sessions.get(viewer.token) is None
    time.sleep(0.35)
    assert sessions.get(admin.token) is None  # expired


@pytest.mark.parametrize(
    ("target", "where"),
    [("/customers?band=high", "/customers?band=high"), ("//evil.example/x", "/"), ("https://evil.example", "/"),
     ("/\\evil.example", "/"), ("", "/"), (None, "/")],
)  # fmt: skip
def test_sign_in_only_returns_to_pages_of_this_console(target: str | None, where: str) -> None:
    assert safe_next(target) == where


def test_an_objection_recorded_while_the_console_runs_takes_the_customer_out_of_the_list_and_the_plan(
    tmp_path: Path,
) -> None:
    from churn.consent import record
    from churn.decisions import finish
    from churn.io import write_parquet
    from console.scores import ScoreCache
    from harness.settings import make_settings

    settings = make_settings(tmp_path, "console_unit")
    frame = scores()
    write_parquet(frame, settings.outputs_dir / "batch_scores_2024-06-01.parquet")
    write_parquet(frame[["customer_id"]], settings.raw_dir / "customers.parquet")
    cache = ScoreCache(settings, load_catalogue())
    before = cache.board()
    assert before is not None and cache.board() is before  # unchanged files: the same board
    assert before.row(7)["action"] != "excluded (objected)"
    record(settings.raw_dir, ["C0000007"], True)
    after = cache.board()
    assert after is not None and after is not before
    assert after.row(7)["action"] == "excluded (objected)" and not after.row(7)["target"]
    plan = finish(after.prepared).frame.set_index("customer_id")
    assert plan.loc["C0000007", "status"].startswith("excluded: objected") and not plan.loc["C0000007", "targeted"]
