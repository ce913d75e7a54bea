"""Bring your own data: the simulator's raw tables re-exported as another company's files (harness/acme.py),
ingested by a mapping, build exactly the snapshots the native tables build; malformed mappings and bad rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from churn.errors import InputError
from churn.mapped_ingest import ingest_mapped
from churn.mapping import SCHEMA_PATH, load_mapping, parse_mapping, schema_text
from churn.raw import RawData
from churn.temporal import build_snapshots
from harness.acme import ADDONS, acme_mapping, export_acme, seconds_only
from harness.settings import clean_env
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory, small_raw: RawData) -> tuple[Path, RawData]:
    folder = tmp_path_factory.mktemp("acme")
    native = seconds_only(small_raw)
    export_acme(native, folder / "exports")
    (folder / "acme.yaml").write_text(yaml.safe_dump(acme_mapping(native), sort_keys=False))
    return folder, native


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str)
    return out.sort_values(keys, ignore_index=True)


def test_acme_exports_build_the_native_snapshots(acme: tuple[Path, RawData]) -> None:
    folder, native = acme
    mapping = load_mapping(folder / "acme.yaml")
    # the mapping's paths are relative to the mapping file; the exports live in a subfolder
    mapping = parse_mapping(
        {
            **mapping.model_dump(mode="json", exclude_none=True),
            "tables": {
                name: {**spec, "files": [f"exports/{f}" for f in spec["files"]]}
                for name, spec in mapping.model_dump(mode="json", exclude_none=True)["tables"].items()
            },
        }
    )
    result = ingest_mapped(mapping, folder)
    assert result.rejected == 0 and result.rows == sum(len(t) for t in native.tables.values())
    assert result.raw.first_snapshot_month == native.first_snapshot_month
    assert result.raw.last_snapshot_month == native.last_snapshot_month
    assert result.raw.behaviour_tables == ["payments", "tickets"]
    assert result.tables["customers"]["columns_ignored"] == ["crm_note"]
    assert result.tables["service_changes"]["files"] == ["contracts_2016-2020.csv", "contracts_2021-.csv"]
    assert any("billing rows were known 1 day(s) after billed_at" in a for a in result.summary()["assumptions"])
    ours, theirs = build_snapshots(native), build_snapshots(result.raw)
    keys = ["customer_id", "snapshot_month"]
    pd.testing.assert_frame_equal(_sorted(theirs.features, keys), _sorted(ours.features, keys), check_dtype=False)
    pd.testing.assert_frame_equal(
        _sorted(theirs.labels, ["customer_id", "event_timestamp"]),
        _sorted(ours.labels, ["customer_id", "event_timestamp"]),
        check_dtype=False,
    )


def _mapping_at(folder: Path) -> dict[str, Any]:
    document = yaml.safe_load((folder / "acme.yaml").read_text())
    for spec in document["tables"].values():
        files = spec["files"] if isinstance(spec["files"], list) else [spec["files"]]
        spec["files"] = [str(folder / "exports" / f) for f in files]
    return document


def _error(document: dict[str, Any]) -> str:
    with pytest.raises(InputError) as caught:
        mapping = parse_mapping(document)
        ingest_mapped(mapping, Path("."))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_every_malformed_mapping_is_one_line_naming_the_key(acme: tuple[Path, RawData]) -> None:
    folder, _ = acme
    doc = _mapping_at(folder)
    typo = json.loads(json.dumps(doc))
    typo["tables"]["billing"]["colums"] = typo["tables"]["billing"].pop("columns")
    assert _error(typo) == "mapping tables.billing.colums: unknown key (and 1 more)"
    wrong_column = json.loads(json.dumps(doc))
    wrong_column["tables"]["customers"]["columns"]["gender"] = "gender_code"
    message = _error(wrong_column)
    assert message.startswith("tables.customers.columns: column(s) gender_code not in clients.csv (its columns: ")
    gap = json.loads(json.dumps(doc))
    del gap["tables"]["service_changes"]["categories"]["contract"]["annual-24"]
    message = _error(gap)
    assert message.startswith("tables.service_changes.categories.contract: value(s) the mapping does not place: ")
    assert "'annual-24' (" in message and "contracts_2016-2020.csv:" in message
    no_known = json.loads(json.dumps(doc))
    del no_known["tables"]["billing"]["known_at"]
    message = _error(no_known)
    assert message.startswith("mapping tables.billing.known_at: the export has no known-at column")
    assert "known_at: {after: period_month" not in message and "after: billed_at" in message
    constant = json.loads(json.dumps(doc))
    constant["tables"]["customers"]["columns"]["senior_citizen"] = {"value": False}
    assert "needs an `assumption`" in _error(constant)
    unknown_raw = json.loads(json.dumps(doc))
    unknown_raw["tables"]["customers"]["columns"]["age"] = "age"
    assert _error(unknown_raw).startswith("mapping tables.customers.columns.age: not a column of customers")
    missing_table = json.loads(json.dumps(doc))
    del missing_table["tables"]["billing"]
    assert _error(missing_table) == "mapping (top level): required table(s) missing: billing"
    bad_unit = json.loads(json.dumps(doc))  # a key that starts like pydantic's branch names is still named whole
    bad_unit["tables"]["service_changes"]["columns"]["streaming_tv"] = {"column": "opt_streaming_tv", "unit": "feet"}
    assert _error(bad_unit).startswith("mapping tables.service_changes.columns.streaming_tv.unit: Input should be")
    bad_zone = json.loads(json.dumps(doc))
    bad_zone["timezone"] = "Mars/Olympus"
    assert "unknown time zone 'Mars/Olympus'" in _error(bad_zone)


def test_bad_rows_are_quarantined_with_table_file_line_and_reason(acme: tuple[Path, RawData], tmp_path: Path) -> None:
    folder, _ = acme
    doc = _mapping_at(folder)
    clients = pd.read_csv(folder / "exports" / "clients.csv", dtype=str)
    clients.loc[3, "joined"] = "31/02/2020 10:00:00"
    clients.loc[5, "senior"] = "maybe"
    broken = tmp_path / "clients.csv"
    clients.to_csv(broken, index=False)
    doc["tables"]["customers"]["files"] = [str(broken)]
    result = ingest_mapped(parse_mapping(doc), tmp_path)
    rejects = result.raw.rejects
    assert rejects is not None
    by_field = rejects.set_index("field")  # the export's own column names: what the user can look up
    assert by_field.loc["joined", "line"] == 5 and by_field.loc["joined", "file"] == "clients.csv"
    assert by_field.loc["joined", "table"] == "customers"
    assert "not a date in the format %d/%m/%Y %H:%M:%S" in by_field.loc["joined", "reason"]
    assert by_field.loc["senior", "value"] == "maybe" and by_field.loc["senior", "line"] == 7
    # the two customers' other records cannot stand alone: rejected too, each with its reason
    orphans = rejects[rejects["reason"].str.startswith("no such customer")]
    assert set(orphans["value"]) == {clients.loc[3, "client_ref"], clients.loc[5, "client_ref"]}
    assert set(orphans["table"]) >= {"service_changes", "billing"} and (orphans["line"] > 0).all()
    assert (orphans[orphans["table"] == "billing"]["file"] == "invoices.parquet").all()
    assert result.accepted + result.rejected == result.rows


def test_the_published_json_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), "regenerate: python -m churn.mapping > docs/mapping.schema.json"


@pytest.mark.slow
def test_cli_dry_run_writes_nothing_and_ingest_replaces_raw(acme: tuple[Path, RawData], tmp_path: Path) -> None:
    folder, _ = acme
    mapping = tmp_path / "acme.yaml"
    mapping.write_text(yaml.safe_dump(_mapping_at(folder)))
    home = tmp_path / "home"

    def churn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            capture_output=True,
            text=True,
            env=clean_env(CHURN_HOME=str(home)),
            cwd=ROOT,
            timeout=300,
        )

    dry = churn("ingest", "--mapping", str(mapping), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    shown = json.loads(dry.stdout)
    assert shown["dry_run"] is True and shown["rejected"] == 0 and shown["source"] == "acme"
    assert shown["tables"]["customers"]["columns_ignored"] == ["crm_note"]
    assert shown["tables"]["billing"]["columns_mapped"]["amount"] == "amount_cents"
    assert not (home / "data" / "raw").exists()
    done = churn("ingest", "--mapping", str(mapping), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["lineage"]["source"] == "acme"
    assert (home / "data" / "raw" / "billing.parquet").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsource: acme\ntables: {customers: {files: x.csv, colums: {}}}\n")
    refused = churn("ingest", "--mapping", str(bad))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "tables.customers.colums: unknown key" in refused.stderr


def test_the_documented_example_is_the_tested_mapping(small_raw: RawData) -> None:
    """docs/byod.md's complete example is this module's mapping (only its months and folder differ)."""
    text = (ROOT / "docs" / "byod.md").read_text()
    example = text.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    documented = parse_mapping(yaml.safe_load(example)).model_dump(mode="json")
    tested = acme_mapping(seconds_only(small_raw))
    for spec in tested["tables"].values():
        files = spec["files"] if isinstance(spec["files"], list) else [spec["files"]]
        spec["files"] = [f"exports/{f}" for f in files]
    tested = parse_mapping({**tested, "as_of": "2024-06", "first_snapshot_month": "2023-07"}).model_dump(mode="json")
    assert documented == tested


def _saved(raw: RawData, folder: Path) -> dict[str, bytes]:
    from churn.raw import save_raw

    save_raw(raw, folder)
    return {p.name: p.read_bytes() for p in sorted(folder.resolve().glob("*"))}


def test_the_telco_shortcut_and_its_mapping_write_the_same_bytes(telco_csv: Path, tmp_path: Path) -> None:
    from churn.cross_section import ingest_cross_section
    from churn.telco import TELCO_MAPPING, ingest_telco

    copy = tmp_path / "mine.yaml"
    document = yaml.safe_load(TELCO_MAPPING.read_text())
    document["cross_section"]["files"] = str(telco_csv)  # a user's copy, pointing at their file
    copy.write_text(yaml.safe_dump(document))
    shortcut = _saved(ingest_telco(telco_csv, "2024-12").raw, tmp_path / "a")
    mapped = _saved(ingest_cross_section(load_mapping(copy), tmp_path, "2024-12").raw, tmp_path / "b")
    assert shortcut == mapped and set(shortcut) >= {"customers.parquet", "billing.parquet", "manifest.json"}


def test_a_cross_section_of_another_layout_ingests_and_builds(tmp_path: Path) -> None:
    """One row per customer: account length in days, plans as yes/no, 'True.'/'False.' churn, usage columns the
    platform has no feature for yet (listed as ignored, never silently dropped), no demographics (stated constants)."""
    import numpy as np

    from churn.cross_section import ingest_cross_section

    rng = np.random.default_rng(5)
    n = 400
    days = rng.integers(1, 240, n)
    frame = pd.DataFrame(
        {
            "State": rng.choice(["KS", "OH", "NJ"], n),
            "Phone": [f"{382 + i // 1000}-{i % 1000:04d}" for i in range(n)],
            "Account length": days,
            "Area code": rng.choice([408, 415, 510], n),
            "International plan": rng.choice(["yes", "no"], n),
            "Voice mail plan": rng.choice(["yes", "no"], n),
            "Total day minutes": rng.normal(180, 50, n).round(1),
            "Total day charge": rng.normal(30, 8, n).clip(1).round(2),
            "Customer service calls": rng.poisson(1.5, n),
            "Churn": rng.choice(["True.", "False."], n, p=[0.15, 0.85]),
        }
    )
    frame.loc[7, "Churn"] = "maybe"
    frame.to_csv(tmp_path / "cell2cell.csv", index=False)
    no = {"value": False, "assumption": "the file has no such service"}
    document = {
        "version": 1,
        "source": "mobile-cs",
        "as_of": "2024-06",
        "cross_section": {
            "files": "cell2cell.csv",
            "unplaced_labels": "error",
            "columns": {
                "customer_id": "Phone",
                "churned": {"column": "Churn", "true_values": ["True."], "false_values": ["False."]},
                "tenure_months": {"column": "Account length", "unit": "days"},
                "monthly_charges": "Total day charge",
                "gender": {"value": "Female", "assumption": "not recorded; a constant carries no information"},
                "senior_citizen": {"value": False, "assumption": "not recorded"},
                "partner": {"value": False, "assumption": "not recorded"},
                "dependents": {"value": False, "assumption": "not recorded"},
                "contract": {"value": "Month-to-month", "assumption": "prepaid mobile: no contract term"},
                "phone_service": {"value": True, "assumption": "every customer has a mobile line"},
                "multiple_lines": {"column": "International plan"},
                "internet_service": {"value": "No", "assumption": "mobile voice only"},
                **{a: no for a in ADDONS},
                "payment_method": {"value": "Credit card (automatic)", "assumption": "not recorded"},
                "paperless_billing": {"column": "Voice mail plan"},
            },
        },
    }
    (tmp_path / "mobile.yaml").write_text(yaml.safe_dump(document))
    result = ingest_cross_section(load_mapping(tmp_path / "mobile.yaml"), tmp_path)
    assert (result.rows, result.accepted, result.rejected) == (400, 399, 1)
    reject = result.raw.rejects.iloc[0]  # type: ignore[union-attr]
    assert (reject["line"], reject["field"], reject["value"]) == (9, "Churn", "maybe")
    assert set(result.ignored_columns) == {"State", "Area code", "Total day minutes", "Customer service calls"}
    assumptions = result.raw.manifest["assumptions"]
    assert "no total-charges column: invoices are flat at the monthly charge" in assumptions
    assert "cross_section.contract = 'Month-to-month' for every row: prepaid mobile: no contract term" in assumptions
    snaps = build_snapshots(result.raw)
    last = snaps.features[snaps.features.snapshot_month == "2024-07"].set_index("customer_id")
    kept = frame.drop(index=7).set_index("Phone")
    stayed = kept[kept["Churn"] == "False."]
    assert set(last.index) == set(stayed.index)
    expected = np.floor(stayed["Account length"] / (365.25 / 12)).astype(int)
    np.testing.assert_array_equal(last.loc[stayed.index, "tenure_months"], expected)
    assert snaps.labels["churned"].sum() == ((kept["Churn"] == "True.") & (kept["Account length"] >= 365.25 / 12)).sum()


def test_the_documented_cross_section_parses_and_unquoted_yes_is_named() -> None:
    text = (ROOT / "docs" / "byod.md").read_text()
    example = text.split("## A cross-section file", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    parsed = parse_mapping(yaml.safe_load(example))
    assert parsed.cross_section is not None and parsed.cross_section.spec("tenure_months").unit == "days"  # type: ignore[union-attr]
    unquoted = yaml.safe_load(example.replace('true_values: ["True."]', "true_values: [Yes]"))
    with pytest.raises(InputError, match=r"cross_section.columns.churned.true_values: YAML read an unquoted"):
        parse_mapping(unquoted)


def test_a_crm_consent_export_maps_onto_the_consents_table(acme: tuple[Path, RawData], tmp_path: Path) -> None:
    """Objections come through a mapping like any raw table; a record of an unknown customer is an orphan."""
    from churn.consent import objected
    from churn.raw import save_raw

    folder, native = acme
    known = sorted(native.tables["customers"]["customer_id"].astype(str))[:2]
    (tmp_path / "optouts.csv").write_text(
        "client,when,flag\n"
        f"{known[0]},2023-03-01 10:00:00,Y\n"
        f"{known[1]},2023-03-02 10:00:00,N\n"
        "C9999999,2023-03-02 10:00:00,Y\n"
    )
    document = _mapping_at(folder)
    document["tables"]["consents"] = {
        "files": str(tmp_path / "optouts.csv"),
        "columns": {
            "customer_id": "client",
            "recorded_at": {"column": "when", "format": "%Y-%m-%d %H:%M:%S", "timezone": "UTC"},
            "objected": {"column": "flag", "true_values": ["Y"], "false_values": ["N"]},
        },
        "known_at": {"after": "recorded_at", "lag_days": 1},
    }
    result = ingest_mapped(parse_mapping(document), folder)
    assert result.tables["consents"]["accepted"] == 2 and result.tables["consents"]["rejected"] == 1
    orphan = result.raw.rejects[result.raw.rejects["table"] == "consents"]
    assert orphan["value"].tolist() == ["C9999999"]
    save_raw(result.raw, tmp_path / "data" / "raw")
    assert objected(tmp_path / "data" / "raw") == {known[0]}


def test_labels_of_your_own_flow_from_the_mapping_to_the_model_the_api_and_events(
    acme: tuple[Path, RawData], tmp_path: Path
) -> None:
    """Acme's direct debit is its own payment method, and its two-year plan really runs 18 months: declared under
    `labels`, they reach the snapshots (an 18-month term counts down from 18), the snapshot contract, the model's
    one-hot columns, the API's what-if check and the events a service change may carry."""
    from churn.events import EventError, parse_event
    from churn.feature_values import FeatureValueError, check_feature_values
    from churn.labels import PLATFORM, labels_of
    from churn.offline import offline_labels, write_offline_manifest
    from churn.validate import validate_temporal_consistency
    from training.encoding import FeatureEncoder

    folder, native = acme
    doc = _mapping_at(folder)
    doc["labels"] = {"payment_method": ["Direct debit"], "contract": {"Eighteen months": 18}}
    cats = doc["tables"]["service_changes"]["categories"]
    cats["payment_method"]["direct debit"] = "Direct debit"
    cats["contract"]["annual-24"] = "Eighteen months"
    result = ingest_mapped(parse_mapping(doc), Path("."))
    assert result.rejected == 0
    manifest = result.raw.manifest
    assert manifest["category_labels"] == {"contract": {"Eighteen months": 18}, "payment_method": ["Direct debit"]}
    labels = labels_of(manifest)
    assert labels.of_feature("payment_method")[-1] == "Direct debit"  # type: ignore[index]
    assert labels.contract_terms["Eighteen months"] == 18

    ours, theirs = build_snapshots(native).features, build_snapshots(result.raw).features
    keys = ["customer_id", "snapshot_month"]
    joined = _sorted(ours, keys).merge(_sorted(theirs, keys), on=keys, suffixes=("_native", ""))
    assert (joined.loc[joined.payment_method_native == "Bank transfer (automatic)", "payment_method"]
            == "Direct debit").all()  # fmt: skip
    moved = joined.contract_type_native == "Two year"
    assert moved.sum() > 0 and (joined.loc[moved, "contract_type"] == "Eighteen months").all()
    remaining = joined.loc[moved, "contract_remaining_months"]
    assert remaining.between(1, 18).all() and (remaining != joined.loc[moved, "contract_remaining_months_native"]).any()
    rest = ~moved
    assert (joined.loc[rest, "contract_remaining_months"] == joined.loc[rest, "contract_remaining_months_native"]).all()
    # the snapshot contract takes the source's labels, and the reference builder (its own term lookup, row by row)
    # agrees with the fast one on a sample: the 18-month term is point-in-time correct
    built = build_snapshots(result.raw)
    report = validate_temporal_consistency(built.features, built.labels, result.raw, sample_customers=20)
    assert report.ok, [c for c in report.checks if not c.passed]
    assert not validate_temporal_consistency(built.features, built.labels, native, sample_customers=0).ok

    write_offline_manifest(tmp_path, manifest, {"labels": 12})  # the label rows' count beside the category labels
    assert offline_labels(tmp_path) == labels and offline_labels(tmp_path / "none") == PLATFORM
    encoder = FeatureEncoder.for_features(["payment_method", "contract_type"], labels)
    assert "payment_method=Direct debit" in encoder.columns and "contract_type=Eighteen months" in encoder.columns
    row = {"payment_method": "Direct debit", "contract_type": "Eighteen months"}
    X = encoder.transform_rows([row])
    assert X[0, encoder.columns.index("payment_method=Direct debit")] == 1.0 and X.sum() == 2.0
    assert check_feature_values(row, labels=labels) == row
    with pytest.raises(FeatureValueError, match=r"payment_method: must be one of \[.*\], got 'Direct debit'"):
        check_feature_values(row)  # the platform's labels alone
    change = {"event_id": "e1", "customer_id": "C0000001", "type": "service_change",
              "at": "2024-01-02T00:00:00Z", "contract": "Eighteen months"}  # fmt: skip
    now = pd.Timestamp("2024-02-01", tz="UTC").to_pydatetime()
    assert parse_event(change, now, labels=labels).fields["contract"] == "Eighteen months"
    with pytest.raises(EventError):
        parse_event(change, now)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"contract": ["Eighteen months"]}, "mapping labels.contract: give each contract kind with its term in months"),
        ({"contract": {"Forever": 999}}, "mapping labels.contract.Forever: the term must be a whole number of months"),
        ({"payment_method": ["Mailed check"]}, "mapping labels.payment_method: 'Mailed check' is already one of the"),
        ({"colour": ["red"]}, "mapping labels.colour: not a category column (gender, contract, internet_service"),
        ({"payment_method": "Direct debit"}, "mapping labels.payment_method: a list of labels"),
    ],
)
def test_a_bad_label_declaration_is_one_line_naming_the_key(
    acme: tuple[Path, RawData], labels: dict, message: str
) -> None:
    doc = _mapping_at(acme[0])
    doc["labels"] = labels
    assert _error(doc).startswith(message)


def test_a_label_placed_but_not_declared_says_where_to_declare_it(acme: tuple[Path, RawData]) -> None:
    doc = _mapping_at(acme[0])
    doc["tables"]["service_changes"]["categories"]["payment_method"]["direct debit"] = "Direct debit"
    message = _error(doc)
    assert message.startswith("tables.service_changes.categories.payment_method: 'Direct debit' is not one of the")
    assert message.endswith("declare a label of your own under labels.payment_method")


def test_a_crm_campaign_export_maps_onto_treatments_and_is_read_back(
    acme: tuple[Path, RawData], tmp_path: Path
) -> None:
    """A CRM's record of a campaign comes through a mapping like any raw table: its arm labels are placed onto
    treated / control / exploration, a probability outside (0, 1] is a quarantined row; the readout compares its
    arms and says its spend and value are unknown."""
    from churn.campaigns import read_treatments, readout
    from churn.raw import save_raw
    from churn.timeutil import parse_month

    folder, native = acme
    ids = sorted(native.tables["customers"]["customer_id"].astype(str))
    rows = ["ref,wave,offer,group,p,sent"]
    rows += [f"{c},spring,discount,{'hold-out' if i % 5 == 0 else 'mailed'},{0.2 if i % 5 == 0 else 0.8},"
             "2023-03-01" for i, c in enumerate(ids[:100])]  # fmt: skip
    rows += [f"{ids[100]},spring,discount,mailed,1.5,2023-03-01"]
    (tmp_path / "campaigns.csv").write_text("\n".join(rows) + "\n")
    document = _mapping_at(folder)
    document["tables"]["treatments"] = {
        "files": str(tmp_path / "campaigns.csv"),
        "columns": {"customer_id": "ref", "campaign": "wave", "action": "offer", "arm": "group",
                    "assignment_probability": "p", "assigned_at": {"column": "sent", "format": "%Y-%m-%d"}},
        "known_at": {"after": "assigned_at", "lag_days": 0},
    }  # fmt: skip
    message = _error(document)  # the CRM's words for the arms are not placed yet
    assert message.startswith("tables.treatments.categories.arm: value(s) the mapping does not place: 'mailed'")
    document["tables"]["treatments"]["categories"] = {"arm": {"mailed": "treated", "hold-out": "control"}}
    result = ingest_mapped(parse_mapping(document), folder)
    assert result.tables["treatments"]["accepted"] == 100 and result.tables["treatments"]["rejected"] == 1
    rejects = result.raw.rejects[result.raw.rejects["table"] == "treatments"]
    assert rejects["reason"].tolist() == ["outside [1e-06, 1]"] and rejects["field"].tolist() == ["p"]
    home = tmp_path / "home"
    save_raw(result.raw, home / "data" / "raw")
    treatments = read_treatments(home / "data")
    assert len(treatments) == 100 and treatments["cost"].isna().all()
    report = readout(treatments, native.tables["churn_events"], parse_month("2023-08"), "spring")
    overall = report["overall"]
    assert overall["treated"] == 80 and overall["control"] == 20
    assert overall["net_value"] is None and overall["paid"].startswith("unknown")
    bad = _mapping_at(folder)
    bad["labels"] = {"arm": ["maybe"]}
    assert _error(bad).startswith("mapping labels.arm: a campaign's arms are fixed (treated, control, exploration)")
