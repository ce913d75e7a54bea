"""Campaigns: a plan launched as treatments, and read back against its control group (worked, backfired, neither)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn.campaigns import (
    campaign_id,
    churned_within,
    detectable_effect,
    launch,
    newcombe,
    page_folder,
    read_treatments,
    readout,
    treatments_path,
    wilson,
)
from churn.errors import InputError
from churn.raw import RawData, save_raw
from churn.timeutil import parse_month
from harness.settings import clean_env, make_settings
from tests.conftest import ROOT

AT = pd.Timestamp("2024-03-01", tz="UTC")


def test_the_intervals_are_the_published_ones() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion" and "Interval estimation for the
    # difference between independent proportions", Statistics in Medicine 17: the worked examples
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert newcombe(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    assert wilson(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)  # not 0: no churner in 10 is not a rate of zero
    # 2 × 1,000 customers at a 10% churn rate: (1.96 + 0.84) × sqrt(0.09 × 2 / 1000) = 3.76 points
    assert detectable_effect(1000, 1000, 0.10) == pytest.approx(0.03757, abs=1e-4)
    # nobody churned: the pooled variance is 0, which must not read as "any effect would be seen"
    assert detectable_effect(1, 1, 0.0) is None and detectable_effect(0, 10, 0.2) is None


def _plan(n: int, control_every: int = 10, actions: tuple[str, ...] = ("discount", "loyalty_call")) -> pd.DataFrame:
    ids = [f"C{i:07d}" for i in range(n)]
    control = np.arange(n) % control_every == 0
    return pd.DataFrame(
        {
            "customer_id": ids,
            "status": "x",
            "targeted": ~control,
            "control": control,
            "best_action": [actions[i % len(actions)] for i in range(n)],
            "cost": 20.0,
            "clv": 500.0,
        }
    )


def _campaign(tmp_path: Path, treated_rate: float, control_rate: float, n: int = 4000) -> tuple[pd.DataFrame, str]:
    """A launched campaign whose customers churn at the given rates in the window (seeded), and its churn events."""
    plan = _plan(n, control_every=2)
    out = launch(tmp_path, plan, AT, 0.5)
    rng = np.random.default_rng(5)
    rows = read_treatments(tmp_path)
    rate = np.where(rows.arm == "treated", treated_rate, control_rate)
    churned = rng.random(len(rows)) < rate
    when = AT + pd.to_timedelta(rng.integers(0, 85, len(rows)), unit="D")
    events = pd.DataFrame({"customer_id": rows.customer_id[churned], "churned_at": when[churned]})
    return events, out["campaign"]


def test_a_campaign_that_works_one_that_backfires_and_one_that_does_nothing(tmp_path: Path) -> None:
    clock = parse_month("2024-06")
    # the Ascarza et al. experiment the other way round: contact cut churn from 10.0% to 6.4%
    events, name = _campaign(tmp_path / "a", 0.064, 0.10)
    worked = readout(read_treatments(tmp_path / "a"), events, clock, name)["overall"]
    assert worked["verdict"] == "worked" and worked["effect_ci95"][0] > 0
    assert worked["treated"] == worked["control"] == 2000
    assert worked["saved"] == pytest.approx(worked["effect"] * 2000)
    assert worked["net_value"] == pytest.approx(worked["saved"] * 500.0 - 2000 * 20.0)
    low, high = worked["effect_ci95"]
    assert low < 0.036 < high  # the true effect lies inside
    # ...and as they found it: contacted customers cancelled more (10.0%) than the control group (6.4%)
    events, name = _campaign(tmp_path / "b", 0.10, 0.064)
    backfired = readout(read_treatments(tmp_path / "b"), events, clock, name)["overall"]
    assert backfired["verdict"] == "backfired" and backfired["saved"] < 0 and backfired["net_value"] < -40_000
    assert backfired["paid"] == "lost money"
    # the campaign that cut churn did not clearly pay: ~72 customers saved × 500 is about the 40,000 it spent
    assert worked["paid"] == "unclear" and worked["net_value_ci95"][0] < 0 < worked["net_value_ci95"][1]
    events, name = _campaign(tmp_path / "c", 0.08, 0.08)
    nothing = readout(read_treatments(tmp_path / "c"), events, clock, name)
    assert nothing["overall"]["verdict"] == "no evidence"
    assert f"{nothing['overall']['detectable_effect']:.1%}" in nothing["overall"]["why"]
    assert set(nothing["actions"]) == {"discount", "loyalty_call"}
    per_action = nothing["actions"]
    assert sum(a["treated"] for a in per_action.values()) == 2000
    assert sum(a["churned_control"] for a in per_action.values()) == nothing["overall"]["churned_control"]


def test_only_churn_inside_the_window_counts() -> None:
    rows = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"], "assigned_at": [AT] * 5})
    churn = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "churned_at": pd.to_datetime(
                ["2024-02-28T00:00", "2024-03-01T00:00", "2024-05-31T23:00", "2024-06-01T00:00"], utc=True
            ),
        }
    )
    assert churned_within(rows, churn, 3).tolist() == [False, True, True, False, False]


def test_launching_records_arms_probabilities_and_refuses_a_second_launch(tmp_path: Path) -> None:
    plan = _plan(100)
    out = launch(tmp_path, plan, AT, 0.10)
    assert out["campaign"] == campaign_id(plan, AT) == campaign_id(plan.sample(frac=1, random_state=1), AT)
    assert campaign_id(plan.assign(best_action="discount"), AT) != out["campaign"]
    assert out["campaign"].startswith("2024-03-01-") and out["treated"] == 90 and out["control"] == 10
    # every tenth customer is a control, and those all hold even rows (discount)
    assert out["spend"] == 90 * 20.0 and out["actions"] == {"discount": 40, "loyalty_call": 50}
    rows = read_treatments(tmp_path)
    assert set(rows.arm) == {"treated", "control"}
    assert (rows.loc[rows.arm == "control", "assignment_probability"] == 0.10).all()
    assert (rows.loc[rows.arm == "treated", "assignment_probability"] == 0.90).all()
    assert (pd.to_datetime(rows.known_at, utc=True) == AT).all()
    with pytest.raises(InputError, match=r"--campaign: .* was launched already"):
        launch(tmp_path, plan, AT, 0.10)
    launch(tmp_path, plan, AT, 0.10, campaign="spring")  # another id: a second campaign in the same log
    assert sorted(read_treatments(tmp_path).campaign.unique()) == sorted([out["campaign"], "spring"])
    with pytest.raises(InputError, match=r"--plan: missing column\(s\) control"):
        launch(tmp_path, plan.drop(columns=["control"]), AT, 0.10, campaign="x")
    both = plan.assign(control=True)
    with pytest.raises(InputError, match=r"both targeted and a control"):
        launch(tmp_path, both, AT, 0.10, campaign="y")
    with pytest.raises(InputError, match=r"nobody is targeted"):
        launch(tmp_path, plan.assign(targeted=False, control=False), AT, 0.10, campaign="z")
    with pytest.raises(InputError, match=r"--campaign: '../escape' is not an id"):
        launch(tmp_path, plan, AT, 0.10, campaign="../escape")


def test_a_crm_campaign_name_never_leaves_the_reports_folder() -> None:
    assert page_folder("spring-2023") == "spring-2023"
    for name in ("..", "../../etc", "spring/2023", ".hidden"):
        folder = page_folder(name)
        assert "/" not in folder and folder not in (".", "..") and not folder.startswith(".")
    assert page_folder("spring/2023") != page_folder("spring_2023")  # two names, two pages


def test_an_unknown_or_unmatured_campaign_says_what_to_do(tmp_path: Path) -> None:
    launch(tmp_path, _plan(50), AT, 0.10, campaign="spring")
    rows = read_treatments(tmp_path)
    none = pd.DataFrame({"customer_id": [], "churned_at": pd.to_datetime([], utc=True)})
    wave = rows.assign(assigned_at=[AT + pd.Timedelta(days=40 * (i % 2)) for i in range(len(rows))])  # to April
    with pytest.raises(InputError, match=r"from 2024-04-10 ends with 2024-06; .* report from 2024-07"):
        readout(wave, none, parse_month("2024-06"), "spring")  # its last customer's window is still open
    with pytest.raises(InputError, match=r"no campaign 'autumn'; launched: spring"):
        readout(rows, none, parse_month("2024-09"), "autumn")
    with pytest.raises(
        InputError, match=r"window from 2024-03-01 ends with 2024-05; .* at 2024-05 — report from 2024-06"
    ):
        readout(rows, none, parse_month("2024-05"), "spring")


def test_cli_launches_a_plan_and_reports_it_with_its_page(tmp_path: Path, small_raw: RawData) -> None:
    """On a simulation's real churn: the counts equal churn events in the window known by the clock, counted here."""
    home = tmp_path / "home"
    save_raw(small_raw, home / "data" / "raw")
    customers = small_raw.tables["customers"]
    churn = small_raw.tables["churn_events"]
    gone = set(churn.loc[pd.to_datetime(churn.churned_at, utc=True) < pd.Timestamp("2023-03-01", tz="UTC"),
                         "customer_id"].astype(str))  # fmt: skip
    active = [c for c in customers.customer_id.astype(str) if c not in gone][:200]
    plan = _plan(len(active)).assign(customer_id=active)
    (home / "outputs").mkdir(parents=True)
    plan.to_csv(home / "outputs" / "action_plan_2023-03-01.csv", index=False)
    env = clean_env(CHURN_HOME=str(home), CHURN_AS_OF="2023-07")

    def churn_cmd(*args: str) -> dict:
        proc = subprocess.run([sys.executable, "-m", "cli.main", "campaign", *args, "--json"], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=300)  # fmt: skip
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        return dict(json.loads(proc.stdout))

    launched = churn_cmd("launch", "--plan", str(home / "outputs" / "action_plan_2023-03-01.csv"))
    assert launched["assigned_at"].startswith("2023-03-01") and launched["treated"] + launched["control"] == 200
    report = churn_cmd("report", "--campaign", launched["campaign"])
    when = pd.to_datetime(churn.churned_at, utc=True)
    known = pd.to_datetime(churn.known_at, utc=True) < pd.Timestamp("2023-07-01", tz="UTC")
    inside = churn[(when >= pd.Timestamp("2023-03-01", tz="UTC")) & (when < pd.Timestamp("2023-06-01", tz="UTC"))
                   & known]  # fmt: skip
    expected = len(set(inside.customer_id.astype(str)) & set(active))
    overall = report["overall"]
    assert overall["churned_treated"] + overall["churned_control"] == expected
    assert overall["verdict"] in ("worked", "backfired", "no evidence") and report["clock"] == "2023-07"
    page = Path(report["report"]).read_text()
    assert launched["campaign"] in page and "Treated against control, per action" in page
    early = subprocess.run([sys.executable, "-m", "cli.main", "campaign", "report", "--campaign", launched["campaign"]],
                           capture_output=True, text=True, env={**env, "CHURN_AS_OF": "2023-05"}, cwd=ROOT,
                           timeout=300)  # fmt: skip
    assert early.returncode == 2 and "report from 2023-06 on" in early.stderr and "Traceback" not in early.stderr
    # the scheduled readout: the reported campaign is left alone, a new one waits for its window, and once the
    # clock passes it, it is read back and gets its page
    from operations.campaigns import report_matured

    settings = make_settings(home, "campaigns", as_of="2023-07")
    launch(home / "data", plan, pd.Timestamp("2023-06-01", tz="UTC"), 0.10, campaign="june")
    assert report_matured(settings) == {"reported": [], "already_reported": [launched["campaign"]],
                                        "maturing": {"june": "2023-09"}}  # fmt: skip
    later = report_matured(settings.model_copy(update={"as_of": "2023-09"}))
    assert [r["campaign"] for r in later["reported"]] == ["june"] and Path(later["reported"][0]["report"]).exists()


def test_a_plan_nobody_could_honour_is_refused_by_name_and_nothing_is_recorded(tmp_path: Path) -> None:
    plan = _plan(20)
    known = set(plan.customer_id)
    catalogue = ("none", "discount", "loyalty_call")
    twice = pd.concat([plan, plan.iloc[[3]]], ignore_index=True)
    stranger = plan.copy()
    stranger.loc[5, "customer_id"] = "C9999999"
    odd_action = plan.copy()
    odd_action.loc[7, "best_action"] = "free_phone"
    idle = plan.copy()
    idle.loc[1, "best_action"] = "none"  # row 1 is targeted (every tenth is a control)
    cases = [
        (twice, r"customer\(s\) 'C0000003' \(row 4\), 'C0000003' \(row 21\) assigned more than once"),
        (stranger, r"customer\(s\) 'C9999999' \(row 6\) are not in the raw data's customers"),
        (odd_action, r"action\(s\) 'free_phone' \(row 8\) are not in the action catalogue \(none, discount, "),
        (idle, r"customer\(s\) 'C0000001' \(row 2\) are targeted with 'none'"),
    ]
    for bad, message in cases:
        with pytest.raises(InputError, match=message):
            launch(tmp_path, bad, AT, 0.10, customers=known, actions=catalogue)
    assert not treatments_path(tmp_path).exists()  # nothing recorded
    out = launch(tmp_path, plan, AT, 0.10, customers=known, actions=catalogue)
    assert out["treated"] == 18 and out["control"] == 2


def test_training_leaves_out_the_customer_months_a_treatment_moved(tmp_path: Path) -> None:
    from churn.campaigns import treated_months
    from training.train import without_treated

    settings = make_settings(tmp_path / "home", "treated")
    plan = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "targeted": [True, False, True],
            "control": [False, True, False],
            "best_action": ["discount", "discount", "loyalty_call"],
            "cost": 40.0,
            "clv": 900.0,
        }
    )
    launch(settings.home_dir / "data", plan, AT, 0.1, "spring")
    moved = treated_months(read_treatments(settings.home_dir / "data"))
    march = parse_month("2024-03")
    assert sorted(map(tuple, moved.values.tolist())) == [
        ("C1", march), ("C1", march + 1), ("C1", march + 2), ("C3", march), ("C3", march + 1), ("C3", march + 2),
    ]  # fmt: skip
    months = ["2024-02", "2024-03", "2024-05", "2024-06"]
    frame = pd.DataFrame({"customer_id": [c for c in ("C1", "C2", "C3") for _ in months], "month": months * 3})
    kept, left_out = without_treated(settings, frame)
    assert left_out == 4  # C1 and C3 in March and May; the control C2 and the months outside the window stay
    assert set(map(tuple, kept.values.tolist())) == {
        ("C1", "2024-02"), ("C1", "2024-06"), ("C2", "2024-02"), ("C2", "2024-03"), ("C2", "2024-05"),
        ("C2", "2024-06"), ("C3", "2024-02"), ("C3", "2024-06"),
    }  # fmt: skip
    # without any campaign, the frame is untouched
    untouched, none = without_treated(make_settings(tmp_path / "other", "treated"), frame)
    assert none == 0 and untouched is frame
