"""`churn drift` end to end: quiet on a stable simulation, loud on a price shock, with the Evidently report."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.homes import SHOCK_SIM, prepare_home, settings_env
from harness.process import ROOT
from harness.settings import make_settings, unique_project

pytestmark = [pytest.mark.slow]


def _drift(settings, reference: str, current: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "drift", "--reference-date", reference, "--current-date", current, "--json"],
        cwd=ROOT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def shocked(tmp_path_factory: pytest.TempPathFactory):
    settings = make_settings(tmp_path_factory.mktemp("shock-home"), unique_project("shock"))
    prepare_home(settings, SHOCK_SIM)
    return settings


@pytest.fixture(scope="module")
def stable(tmp_path_factory: pytest.TempPathFactory):
    settings = make_settings(tmp_path_factory.mktemp("stable-home"), unique_project("stable"))
    prepare_home(settings)
    return settings


@pytest.fixture(scope="module")
def shock_check(shocked) -> dict:
    """`churn drift --json` over the shock, once for the tests that read its verdict and its reports."""
    return _drift(shocked, "2023-08-15", "2023-12-01")


def test_a_price_shock_is_flagged_on_charges(shock_check) -> None:
    result = shock_check
    assert result["drift_detected"] is True
    assert "monthly_charges" in result["drifted_features"]
    psi = {f["feature"]: f["psi"] for f in result["features"]}
    assert psi["monthly_charges"] > 0.2 and psi["gender"] < 0.1
    page = Path(result["report"]).read_text(encoding="utf-8")
    assert "DRIFT DETECTED" in page and 'href="evidently.html"' in page
    assert Path(result["evidently_report"]).stat().st_size > 100_000
    assert Path(result["evidently_quality_report"]).exists()  # labels of 2023-11 have matured by 2023-12
    assert result["label_months"] == ["2023-11"]


def _rendered_text(path: Path) -> str:
    """The page as a person sees it: headless Chromium runs its scripts, we read the text of the DOM."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]  # fmt: skip
    done = subprocess.run(
        [browser, *flags, "--virtual-time-budget=20000", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", done.stdout, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_the_reports_show_the_drifted_columns_in_a_browser(shock_check) -> None:
    result = shock_check
    ours = _rendered_text(Path(result["report"]))
    assert "Drift check: DRIFT DETECTED" in ours
    assert f"Drifted features {', '.join(result['drifted_features'])}" in ours
    evidently = _rendered_text(Path(result["evidently_report"]))
    # Evidently's table, rendered by its scripts: one row per column with its verdict and PSI
    # one truth: Evidently runs our PSI at our threshold, so its verdict and figures are ours
    assert "Dataset Drift is detected" in evidently and "NOT detected" not in evidently, evidently[:2000]
    psi = {f["feature"]: f["psi"] for f in result["features"]}
    for feature in result["drifted_features"]:
        found = re.search(rf"{feature} num Detected PSI \(churn\) ([\d.]+)", evidently)
        assert found, evidently[:2000]
        assert float(found.group(1)) > result["thresholds"]["psi_significant"]
        # Evidently drops missing values before a stat test (ours count them as a bin; new customers have no
        # charges yet), so the figures agree closely rather than to the digit (tests/unit/test_drift.py: exactly,
        # on columns without missing values)
        assert float(found.group(1)) == pytest.approx(psi[feature], rel=0.15)
    assert f"{len(result['features']) + 1} Columns" in evidently  # every feature and the score were compared
    quality = _rendered_text(Path(result["evidently_quality_report"]))
    # the quality page, on the matured labels, leads with the ROC-AUC our verdict used, then precision and recall
    # at the top decile; no accuracy (high by flagging nobody at a low base rate), no confusion-matrix heat map
    assert f"RocAuc metric {result['concept']['roc_auc_current']:.3f}" in quality, quality[:2000]
    assert quality.index("RocAuc metric") < quality.index("Precision metric") < quality.index("Recall metric")
    assert "Accuracy" not in quality and "Confusion" not in quality


def test_a_stable_simulation_raises_no_alarm(stable) -> None:
    result = _drift(stable, "2023-03-01", "2023-11-01")
    assert result["drift_detected"] is False, result["drifted_features"]
    assert not result["scores"]["flagged"]
    assert result["concept"]["flagged"] is False and result["concept"]["labelled_rows"] > 0


def test_windows_that_the_store_lacks_are_named(stable) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "drift", "--reference-date", "2019-01-01", "--current-date", "2023-11-01"],
        cwd=ROOT,
        env=settings_env(stable),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "2019-01" in done.stderr and "Traceback" not in done.stderr


def test_drift_retrains_and_the_gate_decides(shocked) -> None:
    from harness.homes import SERVE_TRAIN
    from monitoring.respond import check_and_respond
    from training import registry

    before = {m["version"] for m in registry.list_models(shocked)}
    result = check_and_respond(shocked, "2023-08-15", "2023-12-01", train_config=SERVE_TRAIN, report=False)
    response = result["response"]
    assert result["drift_detected"] and response["action"] == "retrained"
    assert response["version"] not in before and response["version"] in {
        m["version"] for m in registry.list_models(shocked)
    }
    champion = registry.read_pointer(shocked)["champion"]
    assert (champion == response["version"]) == response["promoted"]
    # the gate says why: compared with the champion on the same window, with each criterion's verdict
    assert response["decision"][0].startswith("compared with champion")
    verdicts = [r for r in response["decision"] if r.startswith(("PR-AUC", "Brier"))]
    assert len(verdicts) == 2
    assert response["promoted"] == all(r.endswith(": ok") for r in verdicts)


def test_no_drift_trains_nothing(stable) -> None:
    from training import registry

    before = registry.list_models(stable)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "drift", "--reference-date", "2023-03-01", "--current-date", "2023-11-01",
         "--retrain", "--no-report", "--json"],
        cwd=ROOT, env=settings_env(stable), capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["response"] == {"action": "none", "reason": "no drift"}
    assert registry.list_models(stable) == before


def test_scores_come_from_batch_files_and_the_prediction_log_when_present(stable) -> None:
    import pandas as pd

    from churn.offline import read_snapshots
    from churn.prediction_log import day_dir, make_record
    from monitoring.drift_check import check
    from training import registry

    version = registry.read_pointer(stable)["champion"]
    current = read_snapshots(stable.snapshots_dir, ["2023-11"])
    batch = stable.outputs_dir / "batch_scores_2023-11-01.parquet"
    stale = stable.outputs_dir / "batch_scores_2023-11-02.parquet"  # newer, but another model wrote it
    batch.parent.mkdir(parents=True, exist_ok=True)
    ids = current.customer_id.astype(str)
    pd.DataFrame({"customer_id": ids[:-5], "probability": 0.5, "model_version": version}).to_parquet(batch)
    pd.DataFrame({"customer_id": ids, "probability": 0.9, "model_version": "churn_model:old"}).to_parquet(stale)
    log = day_dir(stable.home_dir, pd.Timestamp("2026-11-27").date()) / "test-1.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)

    def record(month: str, p: float, what_if: bool) -> str:
        values = dict.fromkeys(("request_id", "risk_band", "action", "clv", "cost", "success_rate",
                                "expected_value", "target", "features"))  # fmt: skip
        values.update(logged_at="2026-11-27T00:00:00+00:00", customer_id="x", model_version=version,
                      feature_timestamp=f"{month}-01T00:00:00+00:00", what_if=what_if, probability=p)  # fmt: skip
        return json.dumps(make_record(**values))

    lines = [record("2023-03", 0.02, False) for _ in range(250)] + [record("2023-11", 0.04, False) for _ in range(250)]
    lines += [record("2023-11", 0.99, True) for _ in range(100)]  # what-if answers are not the population's
    log.write_text("\n".join(lines) + "\n")
    try:
        result = check(stable, "2023-03-01", "2023-11-01", report=False)
    finally:
        for path in (batch, stale, log):
            path.unlink()
    source = result["current"]["scores"]
    assert source == {"batch_score_files": [batch.name], "rows_from_files": len(ids) - 5, "rows_scored": 5}
    assert result["reference"]["scores"]["batch_score_files"] == []
    assert result["scores"]["mean_current"] > 0.45 and result["scores"]["flagged"]  # 0.5 for nearly everyone
    served = result["served_scores"]
    assert served["reference_rows"] == 250 and served["current_rows"] == 250
    assert served["mean_current"] == pytest.approx(0.04) and served["relative_change"] == pytest.approx(1.0)
    assert served["flagged"]
