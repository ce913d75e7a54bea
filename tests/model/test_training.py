"""Training end to end on a small simulation: windows, gate, calibration, explanations, registry, report."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn.errors import InputError
from churn.metrics import all_metrics
from harness.settings import clean_env
from store.feast_store import get_store
from store.training_sets import build_training_set
from tests.model.conftest import CONFIG
from training import registry
from training.explain import contributions, top_factors
from training.leakage import leakage_gate
from training.train import LeakageError, train

pytestmark = [pytest.mark.slow]
QUICK = replace(CONFIG, report=False, bootstrap=0, grid=CONFIG.grid[:1])  # extra runs whose figures are not the point


def test_windows_never_look_ahead(trained) -> None:
    _, result = trained
    w = result.windows
    for fold in w.folds:
        assert max(fold.train) < min(fold.valid)
    assert max(w.development) < min(w.calibration) < min(w.test)
    assert len(w.test) == 3 and len(w.calibration) == 2


def test_result_has_every_metric_for_model_baselines_and_oracle(trained) -> None:
    _, result = trained
    out = json.loads(json.dumps(result.to_dict(), default=str))
    keys = {"roc_auc", "pr_auc", "brier", "log_loss", "ece", "precision_at_10", "lift_at_10", "emp"}
    assert keys <= set(out["test"])
    assert {"logistic_regression", "hist_gradient_boosting", "rule_based", "xgboost_design_params"} == set(
        out["baselines"]
    )
    assert keys <= set(out["oracle"])
    lo, hi = out["test_ci95"]["roc_auc"]
    assert lo <= out["test"]["roc_auc"] <= hi
    # a learned model beats the rule and is bounded by the oracle (with slack for a small test window)
    assert out["test"]["roc_auc"] > out["baselines"]["rule_based"]["roc_auc"]
    assert out["test"]["roc_auc"] <= out["oracle"]["roc_auc"] + 0.03
    assert out["promoted"] is True and out["decision"] == ["no champion yet"]


def test_shipped_model_is_calibrated_and_loads(trained) -> None:
    settings, result = trained
    model = registry.load_champion(settings)
    assert registry.read_pointer(settings)["champion"] == result.version
    store = get_store(settings)
    labels = pd.read_parquet(settings.labels_path)
    test_rows = labels[labels.event_timestamp.dt.strftime("%Y-%m").isin(result.windows.test)]
    frame = build_training_set(store, test_rows)
    p = model.predict_proba(frame)
    assert ((p > 0) & (p < 1)).all()
    assert abs(p.mean() - frame.churned.mean()) < 0.01  # calibrated in the large
    m = all_metrics(frame.churned.to_numpy(), p)
    assert m["roc_auc"] == pytest.approx(result.test["roc_auc"], abs=1e-9)
    # the calibrator kept is the one with the lower cross-fitted Brier score on the holdout
    cross_fitted = result.calibration["brier_cross_fitted"]
    assert set(cross_fitted) == {"sigmoid", "isotonic"}
    assert result.calibration["method"] == min(cross_fitted, key=cross_fitted.__getitem__)


def test_explanations_are_exact_treeshap(trained) -> None:
    settings, _ = trained
    model = registry.load_champion(settings)
    frame = pd.concat([pd.read_parquet(p) for p in sorted(settings.snapshots_dir.rglob("*.parquet"))[-1:]])
    frame = frame.head(50)
    import xgboost as xgb

    contrib = contributions(model, frame)
    X = model.encoder.transform(frame)
    margin = model.booster.predict(xgb.DMatrix(X), output_margin=True)
    bias = model.booster.predict(xgb.DMatrix(X), pred_contribs=True)[:, -1]
    np.testing.assert_allclose(contrib.sum(axis=1) + bias, margin, rtol=1e-4, atol=1e-4)
    factors = top_factors(model, frame, top_k=3)
    first = factors[0]
    assert [f["feature"] for f in first] == [model.features[j] for j in np.argsort(-np.abs(contrib[0]))[:3]]
    # signs and sizes agree with the shap package's own TreeExplainer (one-hot columns folded back by feature)
    import shap

    independent = shap.TreeExplainer(model.booster).shap_values(X[:1])[0]
    by_feature = {f: 0.0 for f in model.features}
    for column, source in zip(model.encoder.columns, model.encoder.source_of_column, strict=True):
        by_feature[source] += float(independent[model.encoder.columns.index(column)])
    for factor in first:
        assert factor["contribution"] == pytest.approx(by_feature[factor["feature"]], abs=1e-3)
        assert (factor["direction"] == "raises risk") == (by_feature[factor["feature"]] > 0)


def test_report_is_written(trained) -> None:
    _, result = trained
    page = Path(result.report).read_text()
    for section in ("Test window", "ROC", "Calibration", "Gains", "SHAP", "Data windows", "Leakage gate", "oracle"):
        assert section.lower() in page.lower(), section
    # a plain-language summary first, with the shipped model's own figures; the measures it is judged by lead;
    # no raw JSON dumps; owner-only like every output
    t = result.test
    assert f"reaches {t['recall_at_10']:.0%} of the customers who churned" in page
    assert (
        page.index("PR-AUC") < page.index("ROC-AUC")
        and "accuracy" not in page.split("<table>")[1].split("</table>")[0].lower()
    )
    assert "<pre>" not in page and Path(result.report).stat().st_mode & 0o777 == 0o600
    # the lifetime model's quality: concordance, Brier, Kaplan–Meier by group, sBG, and the truth beside the formula
    clv = result.clv
    assert clv is not None
    assert f"concordance <b>{clv['test']['concordance']:.3f}</b>" in page
    assert "Kaplan–Meier" in page and "shifted-beta-geometric" in page
    assert f"{clv['truth']['model']['median_abs_error_vs_true']:.1%}" in page


def test_leakage_gate_stops_a_leaky_feature(trained) -> None:
    settings, _ = trained
    with pytest.raises(LeakageError, match="tenure_months"):
        train(settings, replace(CONFIG, leakage_bound=0.55, report=False, promote="never"))
    frame = pd.DataFrame({"churned": [0, 1] * 50, "leak": [0.1, 0.9] * 50, "ok": np.arange(100) % 7})
    report = leakage_gate(frame, frame, ["leak", "ok"], bound=0.8)
    assert list(report.violations) == ["leak"]
    assert leakage_gate(frame, frame, ["leak", "ok"], bound=0.8, allowed=["leak"]).passed


def test_second_run_is_judged_against_the_champion_then_rolled_back(trained) -> None:
    settings, first = trained
    second = train(settings, replace(CONFIG, report=False, promote="force"))
    assert registry.read_pointer(settings)["champion"] == second.version
    third = train(settings, replace(CONFIG, report=False, promote="auto", margin=0.5))
    assert not third.promoted
    assert third.decision[0].startswith(f"compared with champion {second.version}")
    assert any("not enough" in r for r in third.decision)
    came_from, went_to = registry.rollback(settings)
    assert (came_from, went_to) == (second.version, first.version)
    history = registry.read_pointer(settings)["history"]
    assert [h["action"] for h in history][-2:] == ["keep", "rollback"]


def test_a_corrupt_artifact_never_replaces_the_champion(trained) -> None:
    settings, _ = trained
    victim = train(settings, replace(CONFIG, report=False, promote="never"))
    champion = registry.read_pointer(settings)["champion"]
    folder = registry.model_store(settings).get(victim.version).path
    (Path(folder) / "booster.json").unlink()
    with pytest.raises(registry.RegistryError, match="unreadable"):
        registry.promote(settings, victim.version, ["by hand"])
    assert registry.read_pointer(settings)["champion"] == champion
    with pytest.raises(registry.RegistryError, match="not in the model store"):
        registry.promote(settings, "churn_model:nosuchversion", ["by hand"])


def test_cli_models_commands(trained) -> None:
    """The `churn models` commands, in this process (each in its own would pay BentoML's import, ~8 s, again)."""
    from typer.testing import CliRunner

    from churn.settings import get_settings
    from cli.main import app

    settings, _ = trained
    env = {"CHURN_HOME": str(settings.home_dir), "CHURN_FEAST_PROJECT": settings.feast_project}

    def invoke(*args: str) -> tuple[int, str, str]:
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, list(args), env=env)
        finally:
            get_settings.cache_clear()
        return result.exit_code, result.stdout, result.stderr

    def run(*args: str) -> dict:
        code, out, err = invoke(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    listed = run("models", "list")
    assert listed["champion"] in {m["version"] for m in listed["models"]}
    shown = run("models", "show")
    assert shown["champion"] == listed["champion"] and shown["history"]
    assert shown["metadata"]["feature_service"] == "churn_model_v2"
    assert shown["metadata"]["evaluation"]["mode"] == "time" and shown["metadata"]["windows"]["test"]
    code, _, err = invoke("models", "promote", "churn_model:nope")
    assert code == 2 and "not in the model store" in err and "Traceback" not in err
    # the lifetime model has its own versions, champion and rollback
    lifetimes = run("models", "list", "--kind", "clv")
    assert lifetimes["champion"].startswith("clv_model:")
    assert {m["version"] for m in lifetimes["models"]} >= {lifetimes["champion"]}
    assert all(m["version"].startswith("clv_model:") for m in lifetimes["models"])
    assert run("models", "show", lifetimes["champion"])["is_champion"] is True
    code, _, err = invoke("models", "list", "--kind", "ltv")
    assert code == 2 and "--kind: must be one of churn, clv, got 'ltv'" in err


# One process imports the registry once, then forks twenty promoters that wait on one pipe and start together:
# real processes contending for the pointer's lock, without twenty 4-second imports on a two-core machine.
PROMOTE = """
import os, sys, traceback
from churn.settings import get_settings
from training import registry

settings, version, n = get_settings(), sys.argv[1], int(sys.argv[2])
start_r, start_w = os.pipe()
children = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        os.close(start_w)
        os.read(start_r, 1)
        try:
            registry.promote(settings, version, [f"concurrent {i}"])
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    children.append(pid)
os.close(start_r)
os.write(start_w, b"go" * n)
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
print(codes)
sys.exit(1 if any(codes) else 0)
"""


def test_twenty_concurrent_promotions_lose_no_update(trained) -> None:
    """Ten concurrent `promote` calls used to leave nine history entries: the pointer is now written under a lock.

    Twenty processes (forked from a fresh interpreter that imported only the registry, never from this one, whose
    XGBoost and DuckDB threads a fork could inherit mid-lock), released together.
    """
    settings, result = trained
    env = clean_env(CHURN_HOME=str(settings.home_dir), CHURN_FEAST_PROJECT=settings.feast_project)
    before = len(registry.read_pointer(settings)["history"])
    proc = subprocess.run(
        [sys.executable, "-c", PROMOTE, result.version, "20"], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    history = registry.read_pointer(settings)["history"]
    assert len(history) == before + 20
    assert sorted(h["reasons"][0] for h in history[before:]) == sorted(f"concurrent {i}" for i in range(20))


def test_a_manual_promotion_that_fails_the_gate_needs_force(trained) -> None:
    settings, first = trained
    env = clean_env(CHURN_HOME=str(settings.home_dir), CHURN_FEAST_PROJECT=settings.feast_project)
    worse = train(settings, replace(CONFIG, report=False, promote="never", bootstrap=0))
    champion = registry.read_pointer(settings)["champion"]

    def promote(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = ["models", "promote", worse.version, *extra, "--margin", "0.5", "--json"]
        return subprocess.run([sys.executable, "-m", "cli.main", *argv], capture_output=True, text=True, env=env,
                              timeout=300)  # fmt: skip

    refused = promote()
    assert refused.returncode == 2 and "fails the promotion gate" in refused.stderr and "--force" in refused.stderr
    assert registry.read_pointer(settings)["champion"] == champion
    forced = promote("--force")
    assert forced.returncode == 0, forced.stderr
    out = json.loads(forced.stdout)
    assert out["forced"] is True and out["previous"] == champion
    last = registry.read_pointer(settings)["history"][-1]
    assert last["reasons"][0] == "promoted by hand with --force" and any("PR-AUC" in r for r in last["reasons"])
    registry.rollback(settings)
    assert first.version in {h["version"] for h in registry.read_pointer(settings)["history"]}


def test_training_reports_progress_with_a_fraction_that_ends_at_its_total(trained) -> None:
    from tests.model.conftest import PROGRESS

    assert PROGRESS[0] == ("reading the training set through the feature service", 1, None)
    done = [d for _, d, _ in PROGRESS]
    assert done == sorted(done)  # never backwards
    total = PROGRESS[-1][2]
    # read, gate, 2 configurations × 2 folds, final fit, 4 baselines, evaluation, lifetime model, promotion, report
    assert total == 1 + 1 + 4 + 1 + 4 + 1 + 1 + 1 + 1 and PROGRESS[-1][1] == total
    assert ("lifetime (CLV) model", total - 2, total) in PROGRESS and (
        "promotion decision",
        total - 1,
        total,
    ) in PROGRESS
    assert ("tuning: fit 4 of 4", 6, total) in PROGRESS


def test_a_lifetime_model_is_registered_judged_and_beats_the_formula_on_the_truth(trained) -> None:
    settings, first = trained
    clv = first.clv
    assert clv is not None and clv["registered"] and clv["clv_source"] == "model"
    assert clv["version"].startswith("clv_model:") and clv["promoted"]
    assert clv["decision"] == ["no lifetime champion yet"]
    assert registry.read_pointer(settings, "clv")["history"][0]["version"] == clv["version"]
    assert 0.5 < clv["test"]["concordance"] <= 1.0
    assert 0.0 < clv["test"]["integrated_brier"] < 0.25
    # S(t) against Kaplan–Meier by contract and tenure band, each within its sampling noise on the test month
    groups = {row["group"]: row for row in clv["calibration_by_group"]}
    assert "contract=Month-to-month" in groups
    assert all(abs(row["gap"]) <= 3 * row["standard_error"] + 0.01 for row in groups.values()), groups
    assert {row["contract"] for row in clv["sbg"]} <= {"Month-to-month", "One year", "Two year"}
    # the simulator's truth: the model ranks and sizes customers' value better than the formula does
    truth = clv["truth"]
    assert truth["customers"] > 0
    assert clv["spearman_vs_true"] > clv["formula"]["spearman_vs_true"]
    assert clv["median_abs_error_vs_true"] < clv["formula"]["median_abs_error_vs_true"]
    assert json.loads(json.dumps(first.to_dict()))["clv"]["version"] == clv["version"]


def test_the_lifetime_gate_compares_with_its_champion_and_too_few_events_keep_the_formula(trained, monkeypatch) -> None:
    settings, _ = trained
    before = registry.read_pointer(settings, "clv")["champion"]
    again = train(settings, replace(QUICK, promote="never"))
    assert again.clv is not None and not again.clv["promoted"] and again.clv["decision"] == ["--promote never"]
    assert registry.read_pointer(settings, "clv")["champion"] == before
    from training import lifetime_fit

    decision = lifetime_fit.judge_registered_lifetime(settings, again.clv["version"])
    test = again.clv["test"]
    assert [r.split(" vs ")[0] for r in decision.reasons] == [
        f"concordance {test['concordance']:.4f}",
        f"integrated Brier {test['integrated_brier']:.5f}",
    ]
    monkeypatch.setattr(lifetime_fit, "MIN_EVENTS_PER_FEATURE", 10**6)
    thin = train(settings, replace(QUICK, promote="never"))
    assert thin.clv is not None and thin.clv["registered"] is False and thin.clv["clv_source"] == "formula"
    assert "too few churn events to fit survival" in thin.clv["reason"]


def test_package_packs_both_champions_and_a_bento_without_a_registry_loads_them(trained, tmp_path: Path) -> None:
    """`bentoml build` packs code only; `churn package` declares the champions as the Bento's models."""
    import tarfile

    import yaml
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models.model import ModelStore

    from harness.settings import make_settings
    from operations.package import package
    from training.lifetime import load_champion_lifetime

    settings, _ = trained
    champion = registry.read_pointer(settings)["champion"]
    lifetime = registry.read_pointer(settings, "clv")["champion"]
    result = package(settings)
    assert result["models"] == [champion, lifetime]
    bento = Path(result["path"])
    spec = yaml.safe_load((bento / "bento.yaml").read_text())
    assert {m["tag"] for m in spec["models"]} == {champion, lifetime}
    envs = {e["name"]: e["value"] for e in spec["envs"]}
    assert envs["CHURN_PACKED_CHAMPION"] == champion and envs["CHURN_PACKED_LIFETIME"] == lifetime
    # the exported archive carries the models, files and digests as the registry saved them
    unpacked = tmp_path / "unpacked"
    with tarfile.open(result["archive"]) as archive:
        archive.extractall(unpacked, filter="data")
    for version in (champion, lifetime):
        name, tag = version.split(":")
        packed_file = unpacked / "models" / name / tag / "booster.json"
        saved = Path(registry.artifact_folder(settings, version)) / "booster.json"
        assert packed_file.read_bytes() == saved.read_bytes()

    # what BentoML does when it serves a Bento: its own model store becomes the active one; a CHURN_HOME with no
    # registry then serves the packed versions, checked against their recorded digests
    bare = make_settings(tmp_path / "bare", settings.feast_project, packed_champion=champion, packed_lifetime=lifetime)
    active = BentoMLContainer.model_store.get()
    BentoMLContainer.model_store.set(ModelStore(str(unpacked / "models")))
    try:
        model = registry.load_champion(bare)
        packed_lifetime = load_champion_lifetime(bare)
    finally:
        BentoMLContainer.model_store.set(active)
    original = registry.load_champion(settings)
    assert model.features == original.features
    assert packed_lifetime is not None and packed_lifetime.version == lifetime
    assert not registry.packed(settings)  # a home with a registry never uses packed models


def test_the_fairness_audit_is_in_the_result_and_the_report_and_can_block_promotion(trained, monkeypatch) -> None:
    from training import train as train_module

    settings, first = trained
    fairness = first.fairness
    assert fairness is not None and set(fairness["attributes"]) == {"gender", "senior_citizen"}
    for entry in fairness["attributes"].values():
        for row in entry["groups"].values():
            assert 0.0 <= row["selection_rate"] <= 1.0 and row["ece"] is not None
            assert row["calibration_gap_ci95"][0] <= row["calibration_gap"] <= row["calibration_gap_ci95"][1]
    assert "Fairness audit" in Path(first.report).read_text()
    # with the gate on, an audit that warns refuses an automatic promotion and says why (the audit's own rules
    # are tested on constructed groups in tests/unit/test_fairness.py)
    real = train_module.fairness_of_model

    def warned(*args):
        out = real(*args)
        out["warnings"].append("gender: selection rate ratio 0.50 is under the four-fifths rule (0.8)")
        return out

    monkeypatch.setattr(train_module, "fairness_of_model", warned)
    before = registry.read_pointer(settings)["champion"]
    gated = settings.model_copy(update={"fairness_gate": True})
    blocked = train(gated, replace(QUICK, promote="auto", margin=-1.0))
    assert not blocked.promoted and "blocked: gender: selection rate ratio 0.50" in " ".join(blocked.decision)
    assert registry.read_pointer(settings)["champion"] == before
    with pytest.raises(InputError, match=r"\['favourite_colour'\] are not declared features"):
        train(settings.model_copy(update={"protected_attributes": "gender,favourite_colour"}),
              replace(CONFIG, report=False, promote="never"))  # fmt: skip


def test_exclude_protected_trains_without_them_and_reports_the_cost(trained) -> None:
    settings, _ = trained
    result = train(settings, replace(QUICK, promote="never", exclude_features=("senior_citizen",)))
    assert result.dropped_features["senior_citizen"] == "protected attribute, left out by --exclude-protected"
    cost = result.protected_cost
    assert cost is not None and cost["left_out"] == ["senior_citizen"] and cost["without"] == result.test
    assert cost["cost"]["roc_auc"] == pytest.approx(cost["with"]["roc_auc"] - result.test["roc_auc"])
    # on a simulation, also the realised value of EV targeting with each model on the last test month
    value = cost["policy_net_value"]
    assert value["month"] == result.windows.test[-1]
    assert cost["cost"]["ev_policy_net_value"] == pytest.approx(value["with"] - value["without"])
    model = registry.load_model(settings, result.version)
    assert "senior_citizen" not in model.features
