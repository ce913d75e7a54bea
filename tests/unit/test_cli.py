"""Every command, run as a user runs it: a real process, one JSON object on stdout, readable errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.settings import clean_env


def churn(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(CHURN_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env, timeout=300
    )


def one_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    home = tmp_path_factory.mktemp("cli-home")
    sim = one_json(churn(home, "simulate", "--customers", "400", "--months", "6", "--seed", "3", "--json"))
    built = one_json(churn(home, "build", "--json"))
    return home, sim, built


@pytest.fixture(scope="module")
def home(built_home: tuple[Path, dict[str, Any], dict[str, Any]]) -> Path:
    return built_home[0]


def test_simulate_build_validate_summary(built_home: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    home, sim, built = built_home
    assert sim["first_snapshot_month"] == "2023-01" and sim["last_snapshot_month"] == "2023-07"
    assert (home / "data" / "raw" / "billing.parquet").exists()
    assert built["snapshots"] == 400 * 7 and built["labelled"] == 400 * 6 and built["months"] == 7
    assert (home / "data" / "offline" / "snapshots" / "snapshot_month=2023-07" / "part-0.parquet").exists()
    report = one_json(churn(home, "validate", "--sample", "10", "--json"))
    assert report["ok"] is True and all(c["passed"] for c in report["checks"])
    summary = one_json(churn(home, "summary", "--json"))
    assert summary["snapshots"] == 2800 and summary["active_per_month"] == {"min": 400, "max": 400}
    assert 0.0 < summary["churn_rate"] < 0.1


def test_validate_exits_nonzero_with_a_report_on_violation(home: Path, tmp_path: Path) -> None:
    import pandas as pd

    part = home / "data" / "offline" / "snapshots" / "snapshot_month=2023-03" / "part-0.parquet"
    original = part.read_bytes()
    try:
        df = pd.read_parquet(part)
        df.loc[0, "tenure_months"] += 5
        df.to_parquet(part)
        proc = churn(home, "validate", "--sample", "5")
        assert proc.returncode == 1
        failed = [line for line in proc.stderr.splitlines() if line.startswith("FAIL")]
        assert len(failed) == 1 and "tenure = whole months since signup" in failed[0]
        assert "Traceback" not in proc.stderr
    finally:
        part.write_bytes(original)


def test_ingest_telco(home: Path, telco_csv: Path, tmp_path: Path) -> None:
    telco_home = tmp_path / "telco"
    out = one_json(churn(telco_home, "ingest", "telco", str(telco_csv), "--as-of", "2024-12", "--json"))
    assert out["accepted"] == 7043 and out["rejected"] == 0
    assert one_json(churn(telco_home, "build", "--json"))["source"] == "telco"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--customers", "0"], "customers: must be at least 1"),
        (["simulate", "--scenario", "meteor"], "scenario: must be one of"),
        (["ingest", "telco", "/no/such.csv", "--as-of", "2024-12"], "does not exist"),
        (["ingest", "telco", "x.csv", "--as-of", "2024-13"], "as_of: expected a month"),
    ],
)
def test_bad_input_is_one_readable_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = churn(tmp_path, *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert not (tmp_path / "data").exists()


def test_commands_before_data_exists_say_what_to_run(tmp_path: Path) -> None:
    proc = churn(tmp_path, "build")
    assert proc.returncode == 2 and "run `churn simulate`" in proc.stderr


def test_missing_telco_columns_write_nothing(tmp_path: Path, telco_csv: Path) -> None:
    short = tmp_path / "short.csv"
    short.write_text("customerID,gender\n1,Male\n")
    proc = churn(tmp_path / "h", "ingest", "telco", str(short), "--as-of", "2024-12")
    assert proc.returncode == 2 and "missing required column(s): SeniorCitizen" in proc.stderr
    assert not (tmp_path / "h" / "data").exists()
    assert "reads the IBM Telco layout only" in proc.stderr and "docs/byod.md" in proc.stderr


def test_a_refused_ingest_replaces_nothing(home: Path, telco_csv: Path, tmp_path: Path) -> None:
    """Every row bad: exit 2, rejects beside the raw folder, the good data already there untouched."""
    raw = home / "data" / "raw"
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    bad = tmp_path / "bad.csv"
    lines = telco_csv.read_text().splitlines()
    bad.write_text("\n".join([lines[0], *(line.replace(",Yes,", ",Maybe,", 1) for line in lines[1:50])]) + "\n")
    proc = churn(home, "ingest", "telco", str(bad), "--as-of", "2024-12")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no row of 49 was accepted" in proc.stderr and "nothing was replaced" in proc.stderr
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before
    rejects = pd.read_csv(home / "data" / "ingest_rejects.csv")
    assert rejects["line"].nunique() == 49 and set(rejects["value"]) == {"Maybe"}


def test_reject_share_above_the_bound_is_refused(tmp_path: Path, telco_csv: Path) -> None:
    lines = telco_csv.read_text().splitlines()
    some_bad = tmp_path / "some_bad.csv"
    body = [line.replace(",Yes,", ",Maybe,", 1) if i % 10 == 0 else line for i, line in enumerate(lines[1:201])]
    some_bad.write_text("\n".join([lines[0], *body]) + "\n")
    refused = churn(tmp_path / "h", "ingest", "telco", str(some_bad), "--as-of", "2024-12")
    assert refused.returncode == 2 and "above --max-reject-share 0.05" in refused.stderr
    assert not (tmp_path / "h" / "data" / "raw").exists()
    accepted = one_json(
        churn(tmp_path / "h", "ingest", "telco", str(some_bad), "--as-of", "2024-12", "--max-reject-share", "0.2",
              "--json")
    )  # fmt: skip
    assert accepted["rejected"] == accepted["rows"] - accepted["accepted"] > 0


def test_switching_sources_is_announced(tmp_path: Path, telco_csv: Path) -> None:
    h = tmp_path / "h"
    first = one_json(churn(h, "simulate", "--customers", "50", "--months", "3", "--json"))
    assert first["replaced"] is None and first["lineage"]["source"] == "simulator"
    again = one_json(churn(h, "ingest", "telco", str(telco_csv), "--as-of", "2024-12", "--json"))
    assert again["source_changed"] is True and again["replaced"] == first["lineage"]
    assert "replaced simulator" in again["note"]


def test_build_on_empty_raw_data_is_one_line(tmp_path: Path) -> None:
    from churn.raw import RawData, save_raw
    from churn.schema import RAW_TABLES

    empty = {name: pd.DataFrame(columns=list(t.columns)) for name, t in RAW_TABLES.items()}
    save_raw(
        RawData(empty, {"first_snapshot_month": "2024-01", "last_snapshot_month": "2024-06"}), tmp_path / "data" / "raw"
    )
    proc = churn(tmp_path, "build")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no customers to build snapshots from" in proc.stderr


def test_a_truncated_partition_is_one_line_not_a_traceback(home: Path) -> None:
    part = home / "data" / "offline" / "snapshots" / "snapshot_month=2023-05" / "part-0.parquet"
    original = part.read_bytes()
    try:
        part.write_bytes(original[: len(original) // 2])
        proc = churn(home, "summary")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) <= 2 and "unreadable" in proc.stderr, proc.stderr
    finally:
        part.write_bytes(original)


def test_keys_new_makes_a_key_the_service_accepts_with_its_scopes(tmp_path: Path) -> None:
    from serving.auth import KeyRing

    made = one_json(churn(tmp_path, "keys", "new", "--scopes", "predict+explain", "--json"))
    assert made["key"] not in made["entry"]  # the server's entry holds the hash only
    identity = KeyRing.parse(made["entry"]).identify(made["key"])
    assert identity is not None and identity.scopes == {"predict", "explain"}
    assert KeyRing.parse(made["entry"]).identify(made["key"] + "x") is None
    other = one_json(churn(tmp_path, "keys", "new", "--json"))
    assert other["key"] != made["key"] and other["entry"].startswith("predict:sha256:")
    refused = churn(tmp_path, "keys", "new", "--scopes", "predict+root")
    assert refused.returncode == 2 and "root" in refused.stderr and "Traceback" not in refused.stderr


def test_an_error_is_one_line_in_a_narrow_log(tmp_path: Path) -> None:
    """Piped to a log 40 columns wide, an error is still one line (rich used to break it at the width)."""
    env = clean_env(CHURN_HOME=str(tmp_path), COLUMNS="40")
    proc = subprocess.run([sys.executable, "-m", "cli.main", "ingest", "telco", "/no/such/file.csv", "--as-of",
                           "2024-12"], capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and errors == ["error: telco file: /no/such/file.csv does not exist"], proc.stderr
