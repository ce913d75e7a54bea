"""Declared features: a metered usage table and an attribute from another company's exports, through a mapping, into
the snapshots (hand-computed windows, point-in-time by property), the contracts, the Feast declarations, the
versioned feature service and the leakage gate; malformed declarations as one line naming the key."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn.declared import PLATFORM_FEATURES, features_of
from churn.errors import InputError
from churn.events import EventError, EventLog, metered_of, parse_event
from churn.mapped_ingest import ingest_mapped
from churn.mapping import parse_mapping
from churn.raw import RawData, load_raw, save_raw
from churn.schema import DEFAULT_SERVICE
from churn.temporal import build_snapshots
from churn.temporal_reference import reference_snapshots
from churn.validate import validate_temporal_consistency
from harness.acme import acme_mapping, export_acme, seconds_only
from training.leakage import leakage_gate

AGGREGATES = ("sum", "mean", "count", "max", "last", "trend")


def _declared(months: int = 3) -> dict[str, Any]:
    return {
        **{f"minutes_{a}_{months}m": {"table": "usage", "column": "minutes", "aggregate": a, "months": months}
           for a in AGGREGATES if a != "count"},
        f"readings_{months}m": {"table": "usage", "aggregate": "count", "months": months},
        "loyalty_tier": {"attribute": "tier", "type": "category"},
        "has_app": {"attribute": "app", "type": "flag", "true_values": ["Y"], "false_values": ["N"]},
        "lines": {"attribute": "lines", "type": "count"},
        "credit_limit": {"attribute": "credit", "type": "number"},
    }  # fmt: skip


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory, small_raw: RawData) -> tuple[Path, RawData, str]:
    """Acme's exports plus a usage file (readings dated by day, some entered late) and two extra client columns."""
    folder = tmp_path_factory.mktemp("declared")
    native = seconds_only(small_raw)
    export_acme(native, folder)
    ids = native.tables["customers"]["customer_id"].astype(str)
    clients = pd.read_csv(folder / "clients.csv", dtype=str)
    clients["tier"] = np.where(np.arange(len(clients)) % 3 == 0, "gold", "silver")
    clients["app"] = np.where(np.arange(len(clients)) % 2 == 0, "Y", "N")
    clients["lines"] = (1 + np.arange(len(clients)) % 4).astype(str)
    clients["credit"] = (np.arange(len(clients)) * 12.5).astype(str)
    clients.to_csv(folder / "clients.csv", index=False)
    # the hand-computed customer: one who stays active over 2023-02..2023-06
    snaps = build_snapshots(native).features
    months = snaps.groupby("customer_id")["snapshot_month"].agg(set)
    hand = next(c for c in ids if {"2023-03", "2023-04", "2023-05"} <= months.get(c, set()))
    rng = np.random.default_rng(3)
    rows = [  # (customer, used on, entered on, minutes)
        (hand, "2023-01-15", "2023-01-20", 100.0),
        (hand, "2023-02-10", "2023-03-10", 50.0),  # entered late: reaches snapshots from April on
        (hand, "2023-03-05", "2023-04-02", 30.0),
    ]
    for cid in ids[ids != hand][:120]:
        for month in range(1, 8):
            day = int(rng.integers(1, 28))
            lag = int(rng.choice([0, 3, 40]))
            used = pd.Timestamp(2023, month, day)
            rows.append((cid, used.date().isoformat(), (used + pd.Timedelta(days=lag)).date().isoformat(),
                         round(float(rng.normal(300, 80)), 1)))  # fmt: skip
    usage = pd.DataFrame(rows, columns=["subscriber", "used_on", "entered_on", "minutes"])
    usage.to_csv(folder / "usage.csv", index=False)
    return folder, native, hand


def _document(native: RawData, declared: dict[str, Any] | None = None) -> dict[str, Any]:
    document = acme_mapping(native)
    document["metered"] = {
        "usage": {
            "files": "usage.csv",
            "columns": {"customer_id": "subscriber", "at": {"column": "used_on", "format": "%Y-%m-%d"},
                        "known_at": {"column": "entered_on", "format": "%Y-%m-%d"}, "minutes": "minutes"},
        }
    }  # fmt: skip
    document["features"] = {"builtin": "all", "declared": declared if declared is not None else _declared()}
    return document


def _ingest(folder: Path, document: dict[str, Any]) -> RawData:
    return ingest_mapped(parse_mapping(document), folder).raw


def test_declared_windows_equal_the_hand_computed_values(exports: tuple[Path, RawData, str]) -> None:
    folder, native, hand = exports
    raw = _ingest(folder, _document(native))
    assert raw.manifest["metered_tables"] == {"usage": ["minutes"]}
    snaps = build_snapshots(raw).features.set_index(["customer_id", "snapshot_month"])
    row = snaps.loc[hand]
    # March: only January's reading is known (February's was entered on 10 March)
    assert row.loc["2023-03", ["minutes_sum_3m", "minutes_mean_3m", "minutes_max_3m", "minutes_last_3m"]].tolist() == [
        100.0, 100.0, 100.0, 100.0]  # fmt: skip
    assert row.loc["2023-03", "readings_3m"] == 1 and np.isnan(row.loc["2023-03", "minutes_trend_3m"])
    # April: January and February (March's was entered on 2 April)
    april = row.loc["2023-04"]
    assert (april["minutes_sum_3m"], april["minutes_mean_3m"], april["readings_3m"]) == (150.0, 75.0, 2)
    assert (april["minutes_max_3m"], april["minutes_last_3m"], april["minutes_trend_3m"]) == (100.0, 50.0, -50.0)
    # May: February and March; January has left the three-month window
    may = row.loc["2023-05"]
    assert (may["minutes_sum_3m"], may["minutes_mean_3m"], may["readings_3m"]) == (80.0, 40.0, 2)
    assert (may["minutes_max_3m"], may["minutes_last_3m"], may["minutes_trend_3m"]) == (50.0, 30.0, -20.0)
    # a customer with no reading: count and sum 0, the rest null
    metered = set(pd.read_csv(folder / "usage.csv").subscriber)
    quiet = snaps.loc[~snaps.index.get_level_values(0).isin(metered)]
    assert len(quiet) and (quiet["readings_3m"] == 0).all() and (quiet["minutes_sum_3m"] == 0).all()
    assert quiet["minutes_mean_3m"].isna().all() and quiet["minutes_last_3m"].isna().all()
    # attributes: the export's own labels, held; the flag read by its own spellings
    tiers = features_of(raw.manifest).by_name["loyalty_tier"].categories
    assert tiers == ("gold", "silver") and set(snaps["has_app"].unique()) == {True, False}
    assert str(snaps["lines"].dtype) == "int64" and set(snaps["lines"].unique()) == {1, 2, 3, 4}
    assert snaps["credit_limit"].dtype == np.float64


def test_declared_features_pass_validate_and_their_contract(exports: tuple[Path, RawData, str]) -> None:
    folder, native, _ = exports
    raw = _ingest(folder, _document(native))
    snaps = build_snapshots(raw)
    report = validate_temporal_consistency(snaps.features, snaps.labels, raw, sample_customers=40, seed=1)
    assert report.ok, report.to_dict()
    # a value the data does not support is caught by the reference check, naming the declared feature
    snaps.features.loc[snaps.features["readings_3m"] > 0, "minutes_sum_3m"] += 1.0
    broken = validate_temporal_consistency(snaps.features, snaps.labels, raw, sample_customers=60, seed=1)
    failed = [c for c in broken.to_dict()["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["features use only data known strictly before the snapshot (60 "
                                           "customers recomputed)"]  # fmt: skip
    assert {e.get("feature") for e in failed[0]["examples"]} == {"minutes_sum_3m"}
    # and a category outside the labels read off the data breaks the contract
    snaps.features["loyalty_tier"] = snaps.features["loyalty_tier"].replace("gold", "platinum")
    contract = validate_temporal_consistency(snaps.features, snaps.labels, raw, sample_customers=1, seed=1)
    assert not contract.checks[0].passed


readings = st.lists(
    st.tuples(
        st.integers(0, 2),  # customer
        st.integers(0, 7),  # month of use (2023-01 + k)
        st.integers(0, 27),  # day of the month
        st.sampled_from([0, 2, 20, 45, 70]),  # days until entered: some late by one or two months
        st.floats(0, 1000, allow_nan=False).map(lambda v: round(v, 1)),
    ),
    min_size=0,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readings)
def test_late_known_readings_never_reach_earlier_snapshots(small_raw: RawData, rows: list[tuple]) -> None:
    """Property: the builder equals the plain known_at < T filter for every aggregate, and a reading entered at
    or after a snapshot changes nothing at that snapshot or before."""
    ids = sorted(small_raw.tables["customers"]["customer_id"].astype(str))[:3]
    keep = {name: df[df["customer_id"].astype(str).isin(ids)].reset_index(drop=True)
            for name, df in small_raw.tables.items()}  # fmt: skip
    declared = [
        {"name": f"m_{a}", "kind": "aggregate", "dtype": "int" if a == "count" else "float", "description": "",
         "categories": [], "table": "usage", "column": None if a == "count" else "minutes", "aggregate": a,
         "months": 2, "source_column": None} for a in AGGREGATES
    ]  # fmt: skip
    manifest = {**small_raw.manifest, "metered_tables": {"usage": ["minutes"]},
                "declared_features": {"builtin": "all", "declared": declared, "allow": []}}  # fmt: skip

    def usage(items: list[tuple]) -> pd.DataFrame:
        at = [pd.Timestamp(2023, 1 + m, 1 + d, 10, tz="UTC") for _, m, d, _, _ in items]
        return pd.DataFrame({"customer_id": pd.Series([ids[c] for c, *_ in items], dtype=object),
                             "at": pd.Series(at, dtype="datetime64[ns, UTC]"),
                             "known_at": pd.Series([a + pd.Timedelta(days=lag) for a, (_, _, _, lag, _) in
                                                    zip(at, items, strict=True)], dtype="datetime64[ns, UTC]"),
                             "minutes": [v for *_, v in items]})  # fmt: skip

    raw = RawData(tables={**keep, "metered_usage": usage(rows)}, manifest=manifest)
    built = build_snapshots(raw).features.set_index(["customer_id", "snapshot_month"]).sort_index()
    names = [d["name"] for d in declared]
    ref = reference_snapshots(raw).set_index(["customer_id", "snapshot_month"]).sort_index()
    assert built.index.equals(ref.index)
    np.testing.assert_allclose(built[names].astype(float).to_numpy(), ref[names].astype(float).to_numpy(),
                               rtol=0, atol=1e-6)  # fmt: skip
    # one more reading, entered late: snapshots up to the month it was entered in are unchanged
    late = (0, 2, 10, 45, 999.0)  # used 2023-03-11, entered 2023-04-25: first seen by the 2023-05 snapshot
    more = build_snapshots(RawData(tables={**keep, "metered_usage": usage([*rows, late])}, manifest=manifest))
    after = more.features.set_index(["customer_id", "snapshot_month"]).sort_index()
    early = [i for i in built.index if i[1] <= "2023-04"]
    pd.testing.assert_frame_equal(after.loc[early, names], built.loc[early, names])


def _one_line(document: dict[str, Any], folder: Path) -> str:
    with pytest.raises(InputError) as caught:
        ingest_mapped(parse_mapping(document), folder)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_every_malformed_declaration_is_one_line_naming_the_key(exports: tuple[Path, RawData, str]) -> None:
    folder, native, _ = exports
    base = _document(native)

    def with_feature(spec: dict[str, Any], name: str = "bad") -> dict[str, Any]:
        doc = copy.deepcopy(base)
        doc["features"]["declared"] = {name: spec}
        return doc

    window = {"table": "usage", "column": "minutes", "aggregate": "sum"}
    for months in (0, -1, 2.5, "three", True):
        message = _one_line(with_feature({**window, "months": months}), folder)
        assert "features.declared.bad" in message and "positive whole number of months" in message, message
    assert "features.declared.bad.table: 'calls' is not a metered table (usage)" in _one_line(
        with_feature({**window, "table": "calls", "months": 3}), folder)  # fmt: skip
    assert "features.declared.bad.column: 'data_mb' is not a metric of usage (minutes)" in _one_line(
        with_feature({**window, "column": "data_mb", "months": 3}), folder)  # fmt: skip
    message = _one_line(with_feature({"attribute": "loyalty", "type": "category"}), folder)
    assert "features.declared.bad.attribute: column 'loyalty' not in clients.csv" in message
    assert "unknown key" in _one_line({**base, "features": {**base["features"], "declard": {}}}, folder)
    assert "features.declared.bad.agregate: unknown key" in _one_line(with_feature({**window, "agregate": "sum"}),
                                                                        folder)  # fmt: skip
    assert "is already a platform feature" in _one_line(with_feature({**window, "months": 3}, "tenure_months"), folder)
    assert "`column`: the metric" in _one_line(with_feature({"table": "usage", "aggregate": "max", "months": 1}),
                                              folder)  # fmt: skip
    no_rule = copy.deepcopy(base)
    del no_rule["metered"]["usage"]["columns"]["known_at"]
    assert "metered.usage.known_at: the export has no known-at column" in _one_line(no_rule, folder)
    missing = copy.deepcopy(base)
    missing["metered"]["usage"]["columns"]["minutes"] = "minutes_used"
    assert "metered.usage.columns: column(s) minutes_used not in usage.csv" in _one_line(missing, folder)
    assert "features.builtin: nonsense_feature not among" in _one_line(
        {**base, "features": {**base["features"], "builtin": ["tenure_months", "nonsense_feature"]}}, folder
    )


def test_the_service_is_versioned_by_the_declaration_and_feast_declares_it(
    exports: tuple[Path, RawData, str], tmp_path: Path
) -> None:
    from churn.offline import write_offline, write_offline_manifest
    from feature_repo.declarations import declarations

    folder, native, _ = exports
    one = features_of(_ingest(folder, _document(native)).manifest)
    assert PLATFORM_FEATURES.service_name == DEFAULT_SERVICE
    assert one.service_name.startswith(f"{DEFAULT_SERVICE}_") and one.service_name != DEFAULT_SERVICE
    widened = _declared()
    widened["minutes_sum_3m"] = {**widened["minutes_sum_3m"], "months": 6}
    two = features_of(_ingest(folder, _document(native, widened)).manifest)
    assert two.service_name != one.service_name  # a changed window is a new contract, never the old name
    assert two.changes_from(one) == {"added": [], "removed": [], "changed": ["minutes_sum_3m"]}
    kept = features_of(_ingest(folder, {**_document(native), "features": {
        "builtin": ["tenure_months", "monthly_charges"], "declared": _declared()}}).manifest)  # fmt: skip
    assert kept.model_features[:2] == ("tenure_months", "monthly_charges") and len(kept.model_features) == 2 + 10

    raw = _ingest(folder, _document(native))
    offline = tmp_path / "offline"
    counts = write_offline(build_snapshots(raw), offline / "snapshots", offline / "labels.parquet")
    write_offline_manifest(offline, raw.manifest, counts)
    objects = {o.name: o for o in declarations(offline / "snapshots")}
    service = objects[one.service_name]
    names = [f.name for p in service.feature_view_projections for f in p.features]
    assert names[-len(one.declared_names) :] == list(one.declared_names)
    assert {"churn_model_v1", DEFAULT_SERVICE, "customer_declared"} <= set(objects)
    stored = pd.read_parquet(next((offline / "snapshots").rglob("*.parquet")))
    assert list(stored.columns[-len(one.declared_names) :]) == list(one.declared_names)


def test_the_leakage_gate_weighs_how_a_declared_feature_is_built(exports: tuple[Path, RawData, str]) -> None:
    folder, native, _ = exports
    declared = {**_declared(), "churn_reason_code": {"attribute": "tier", "type": "category"}}
    fs = features_of(_ingest(folder, _document(native, declared)).manifest)
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.random(n) < 0.2
    honest = y * 1.1 + rng.normal(0, 0.75, n)  # single-feature AUC ~0.85: above 0.80, as honest usage can be
    frame = pd.DataFrame({"churned": y.astype(int), "minutes_sum_3m": honest, "tenure_months": honest,
                          "churn_reason_code": np.where(rng.random(n) < 0.5, "gold", "silver"),
                          "minutes_max_3m": y + rng.normal(0, 0.1, n)})  # fmt: skip
    train, valid = frame.iloc[: n // 2], frame.iloc[n // 2 :]
    report = leakage_gate(train, valid, list(frame.columns[1:]), 0.80, [], fs)
    auc = report.single_feature_auc
    assert 0.80 < auc["minutes_sum_3m"] < 0.90
    assert set(report.violations) == {"tenure_months", "churn_reason_code", "minutes_max_3m"}
    # the declared aggregate passes on its own bound; the same AUC on a platform feature does not
    assert "minutes_sum_3m" not in report.violations
    message = report.message()
    assert "churn_reason_code" in message and "says 'churn'" in message  # refused by name, whatever its AUC
    assert "above the bound 0.90 for a declared feature; max of usage.minutes over the 3 month(s)" in message
    assert "above the bound 0.80 for a platform feature" in message
    allowed = leakage_gate(train, valid, list(frame.columns[1:]), 0.80, ["churn_reason_code"], fs)
    assert "churn_reason_code" not in allowed.violations


def test_the_documented_declaration_parses(small_raw: RawData) -> None:
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "byod.md").read_text()
    example = text.split("## Declared features", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    document = {**acme_mapping(seconds_only(small_raw)), **yaml.safe_load(example)}
    mapping = parse_mapping(document)
    assert mapping.features is not None and "day_minutes_3m" in mapping.features.declared


def test_a_metered_table_is_an_event_type_whose_readings_reach_the_next_snapshots(
    exports: tuple[Path, RawData, str], tmp_path: Path
) -> None:
    """`POST /events` and `churn events push` take a declared metered table's readings: every metric, as a number;
    recorded with known_at = arrival, they join the table at load and reach the snapshots after their arrival."""
    folder, native, hand = exports
    raw = _ingest(folder, _document(native))
    metered = metered_of(raw.manifest)
    assert metered == {"usage": ("minutes",)}
    arrived = datetime(2023, 4, 20, tzinfo=UTC)
    reading = {"event_id": "u-1", "customer_id": hand, "type": "usage", "at": "2023-04-12T09:00:00+02:00",
               "minutes": "40"}  # fmt: skip
    event = parse_event(reading, arrived, metered=metered)
    assert event.fields == {"minutes": 40.0} and event.at == datetime(2023, 4, 12, 7, tzinfo=UTC)
    bad = [({**reading, "minutes": "lots"}, "u.minutes: 'lots' is not a number"),
           ({**reading, "minutes": "inf"}, "u.minutes: 'inf' is not a finite number"),
           ({k: v for k, v in reading.items() if k != "minutes"}, "u.minutes: missing (a usage reading gives every "
            "metric: ['minutes'])"),
           ({**reading, "data_mb": 3}, "u.data_mb: not a field of usage (its fields: ['minutes'])")]  # fmt: skip
    for row, problem in bad:
        with pytest.raises(EventError) as caught:
            parse_event(row, arrived, where="u", metered=metered)
        assert str(caught.value) == problem
    with pytest.raises(EventError, match=r"'usage' is not an event type; types are \['payment_late', "):
        parse_event(reading, arrived)  # a deployment that declares no such table
    # recorded in the raw folder's log, merged at load: the May snapshot sees it, April's (before arrival) does not
    save_raw(raw, tmp_path / "raw")
    before = build_snapshots(load_raw(tmp_path / "raw")).features.set_index(["customer_id", "snapshot_month"])
    with EventLog(tmp_path / "raw").locked() as log:
        log.append([event], arrived)
    merged = load_raw(tmp_path / "raw")
    table = merged.tables["metered_usage"]
    assert len(table) == len(raw.tables["metered_usage"]) + 1
    assert table.iloc[-1][["customer_id", "minutes"]].tolist() == [hand, 40.0]
    after = build_snapshots(merged).features.set_index(["customer_id", "snapshot_month"])
    assert after.loc[(hand, "2023-04"), "minutes_sum_3m"] == before.loc[(hand, "2023-04"), "minutes_sum_3m"]
    assert after.loc[(hand, "2023-05"), "minutes_sum_3m"] == before.loc[(hand, "2023-05"), "minutes_sum_3m"] + 40.0
    # the reading of April reaches the 3-month windows of May, June and July; nothing else moves
    keys = pd.Series(list(after.index), index=after.index)
    unmoved = ~keys.isin([(hand, m) for m in ("2023-05", "2023-06", "2023-07")]).to_numpy()
    pd.testing.assert_frame_equal(after.loc[unmoved], before.loc[unmoved])


def test_a_metered_table_cannot_take_a_platform_event_name(exports: tuple[Path, RawData, str]) -> None:
    folder, native, _ = exports
    document = _document(native, declared={})
    clash = copy.deepcopy(document)
    document["metered"]["ticket_opened"] = document["metered"].pop("usage")
    assert "metered.ticket_opened: 'ticket_opened' is the name of a platform event type" in _one_line(document, folder)
    clash["metered"]["usage"]["columns"]["type"] = "minutes"
    assert "metered.usage.columns: type is a field every event has" in _one_line(clash, folder)
