"""Batch scoring and the action plan end to end on the embedded profile: `churn score`, then `churn decide`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batch.scoring import score
from churn.offline import read_snapshots, snapshot_months
from harness.homes import prepare_home, settings_env
from harness.process import ROOT
from tests.conftest import make_settings, unique_project
from training import registry

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    settings = make_settings(tmp_path_factory.mktemp("batch-home"), unique_project("batch"))
    prepare_home(settings)
    return settings


def _churn(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=settings_env(settings), capture_output=True, text=True
    )


def test_scores_are_point_in_time_and_match_the_model(home) -> None:
    month = snapshot_months(home.snapshots_dir)[-2]
    day = f"{month}-15"
    result = score(home, day)
    out = pd.read_parquet(result.path)
    snaps = read_snapshots(home.snapshots_dir, [month]).set_index("customer_id")
    assert sorted(out.customer_id) == sorted(snaps.index)  # everyone active at that date, nobody else
    model = registry.load_champion(home)
    expected = model.predict_proba(snaps.loc[out.customer_id])
    np.testing.assert_allclose(out.probability.to_numpy(), expected, atol=1e-9)
    assert (out.snapshot_date.astype(str) == day).all()
    assert set(out.risk_band) <= {"low", "medium", "high", "critical"}
    assert (out.model_version == registry.read_pointer(home)["champion"]).all()
    assert set(out.factors_method) <= {"exact", "approximate"}
    assert result.exact_factors == int((out.factors_method == "exact").sum())
    assert out.factor_1_contribution.abs().ge(out.factor_2_contribution.abs()).all()
    again = pd.read_parquet(score(home, day).path)
    pd.testing.assert_frame_equal(out, again)  # a rerun replaces the file with the same content


def test_bad_dates_fail_cleanly_and_leave_files_alone(home) -> None:
    month = snapshot_months(home.snapshots_dir)[-1]
    done = _churn(home, "score", "--date", f"{month}-01", "--json")
    assert done.returncode == 0, done.stderr
    path = json.loads(done.stdout)["path"]
    before = Path(path).read_bytes()
    for bad, message in (("2031-01-01", "no snapshot for 2031-01"), ("yesterday", "YYYY-MM-DD")):
        done = _churn(home, "score", "--date", bad)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert Path(path).read_bytes() == before


def test_decide_writes_the_plan_with_a_control_group(home) -> None:
    month = snapshot_months(home.snapshots_dir)[-1]
    scores = json.loads(_churn(home, "score", "--date", f"{month}-01", "--json").stdout)["path"]
    done = _churn(home, "decide", "--scores", scores, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    plan = pd.read_csv(summary["latest"], dtype={"customer_id": str})
    assert list(plan.columns) == [
        "customer_id", "probability", "clv", "action", "cost", "success_rate", "expected_value", "rank", "targeted",
        "control",
    ]  # fmt: skip
    assert summary["targeted"] == int(plan.targeted.sum()) and summary["control"] == int(plan.control.sum())
    assert (plan.loc[plan.targeted, "expected_value"] > 0).all()
    assert summary["spend"] == pytest.approx(plan.loc[plan.targeted, "cost"].sum(), abs=0.01)
    again = json.loads(_churn(home, "decide", "--scores", scores, "--json").stdout)
    assert pd.read_csv(again["plan"], dtype={"customer_id": str}).equals(plan)  # seeded: the same plan
    budget = _churn(home, "decide", "--scores", scores, "--budget", "100", "--json")
    assert json.loads(budget.stdout)["spend"] <= 100


def test_evaluate_policy_compares_every_policy_on_the_same_customers(home) -> None:
    done = _churn(home, "evaluate-policy", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    policies = {p["policy"]: p for p in result["policies"]}
    assert set(policies) == {"rule_based", "top10_probability", "ev_positive", "ev_budget", "oracle_top10"}
    k = -(-result["customers"] // 10)
    assert policies["rule_based"]["targeted"] == policies["top10_probability"]["targeted"] == k
    assert policies["ev_budget"]["spend"] <= policies["top10_probability"]["spend"] + 1e-6
    for p in policies.values():
        assert p["saved"] <= p["churners_targeted"] <= p["targeted"]
        assert p["net_value"] == pytest.approx(p["saved_value"] - p["spend"], abs=0.02)
    assert set(result["met"]) == set(result["targets"])
    assert Path(result["report"]).exists() and (Path(result["report"]).parent / "net_value.png").exists()
