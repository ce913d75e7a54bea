"""Campaigns: a launched action plan recorded as treatments, and read back against its control group.

An action plan holds out a random share of its would-be targets as a control
group (:mod:`churn.decisions`). Launching the plan records who was treated and
who was held out — each with the action, the assignment probability and the
time — in the platform's own treatment log, ``data/campaigns/treatments.parquet``
(the same shape as a ``treatments`` export a CRM would send). Once the outcome
window has passed on the platform clock, the readout compares churn in the
window between treated and control customers, per action and overall:

- each group's churn rate with a Wilson 95% interval;
- the effect (control rate − treated rate: churn prevented per treated
  customer) with Newcombe's hybrid-score interval, which behaves where the
  normal approximation does not (small groups, rates near 0);
- the incremental customers saved (effect × treated) and the realised net value
  (saved × the treated customers' mean CLV at launch − the spend), both with
  the effect's interval carried through;
- the smallest effect the sample could detect (two-sided 5%, 80% power);
- a verdict: *worked* (the interval is above 0), *backfired* (below 0 —
  contacting can raise churn), or *no evidence*; and whether it *paid*, *lost
  money* or is *unclear* by the net value's interval (a campaign can cut churn
  and still cost more than it saved).

Nothing here assumes an offer can only help.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.actions import NO_ACTION
from churn.errors import InputError
from churn.hashing import stable_hash
from churn.io import atomic_path
from churn.schema import ENTITY
from churn.timeutil import month_index_of, month_index_of_ns, month_label, month_starts_ns, utc_ns

COLUMNS = ("campaign", ENTITY, "action", "arm", "assignment_probability", "assigned_at", "known_at", "cost", "clv")
PLAN_NEEDS = (ENTITY, "targeted", "control", "best_action", "cost", "clv")
DEFAULT_WINDOW_MONTHS = 3
CAMPAIGN_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"  # also a folder name under reports/campaigns/
Z95 = 1.959963984540054
Z80 = 0.8416212335729143


def treatments_path(data_dir: Path) -> Path:
    """The platform's treatment log: ``CHURN_HOME/data/campaigns/treatments.parquet``."""
    return Path(data_dir) / "campaigns" / "treatments.parquet"


def _platform_log(data_dir: Path) -> pd.DataFrame:
    path = treatments_path(data_dir)
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return pd.read_parquet(path)


def page_folder(campaign: str) -> str:
    """A folder name for the campaign's page: a CRM's campaign names are free text (``spring/2023``, ``..``)."""
    slug = re.sub(r"[^A-Za-z0-9_.\-]", "_", campaign).strip(".") or "_"
    return slug if slug == campaign else f"{slug}-{stable_hash(campaign) & 0xFFFF:04x}"


def read_treatments(data_dir: Path) -> pd.DataFrame:
    """Every campaign's treatments: the platform's log, and a CRM's ``treatments`` raw table (through a mapping;
    it carries no cost or CLV, so its campaigns' spend and value are unknown)."""
    own = _platform_log(data_dir)
    crm_path = Path(data_dir) / "raw" / "treatments.parquet"
    if not crm_path.exists():
        return own
    crm = pd.read_parquet(crm_path).assign(cost=np.nan, clv=np.nan)[list(COLUMNS)]
    crm[ENTITY] = crm[ENTITY].astype(str)
    return pd.concat([own, crm], ignore_index=True) if len(own) else crm


def plan_flag(plan: pd.DataFrame, column: str) -> np.ndarray:
    values = plan[column]
    if values.dtype == bool:
        return values.to_numpy()
    text = values.astype(str).str.strip().str.lower()
    ok = text.isin(["true", "false", "1", "0"])
    if not ok.all():
        raise InputError(f"--plan: column {column}: {values[~ok].iloc[0]!r} is not true or false")
    return text.isin(["true", "1"]).to_numpy()


def plan_rows(values: pd.Series, rows: pd.Series) -> str:
    """The first few offending values with their plan rows (1-based, as a spreadsheet counts data rows)."""
    shown = [f"{v!r} (row {int(r) + 1})" for v, r in zip(values[:3], rows[:3], strict=True)]
    more = f" and {len(values) - 3} more" if len(values) > 3 else ""
    return ", ".join(shown) + more


def check_assignments(chosen: pd.DataFrame, customers: Collection[str] | None, actions: Collection[str] | None) -> None:
    """Refuse, by name, a plan that would record a treatment nobody could honour or read back: a customer assigned
    twice, one the raw data does not know, an action outside the catalogue, a treatment with no action."""
    ids = chosen[ENTITY].astype(str)
    rows = pd.Series(chosen.index, index=chosen.index)
    twice = ids.duplicated(keep=False)
    if twice.any():
        raise InputError(f"--plan: customer(s) {plan_rows(ids[twice], rows[twice])} assigned more than once; a "
                         "campaign assigns each customer once")  # fmt: skip
    if customers is not None:
        unknown = ~ids.isin(customers)
        if unknown.any():
            raise InputError(f"--plan: customer(s) {plan_rows(ids[unknown], rows[unknown])} are not in the raw data's "
                             "customers; nothing recorded")  # fmt: skip
    action = chosen["best_action"].astype(str)
    if actions is not None:
        unknown = ~action.isin(actions)
        if unknown.any():
            raise InputError(f"--plan: action(s) {plan_rows(action[unknown], rows[unknown])} are not in the action "
                             f"catalogue ({', '.join(actions)}); nothing recorded")  # fmt: skip
    idle = plan_flag(chosen, "targeted") & (action == NO_ACTION).to_numpy()
    if idle.any():
        raise InputError(f"--plan: customer(s) {plan_rows(ids[idle], rows[idle])} are targeted with {NO_ACTION!r}: a "
                         "treatment needs an action")  # fmt: skip


def campaign_rows(
    plan: pd.DataFrame,
    campaign: str,
    at: pd.Timestamp,
    control_fraction: float,
    customers: Collection[str] | None = None,
    actions: Collection[str] | None = None,
) -> pd.DataFrame:
    """The treatments of a plan: its targets treated with their best action, its controls held out from it.
    ``customers`` and ``actions``: the ids and action names a row must name (unchecked when None)."""
    missing = [c for c in PLAN_NEEDS if c not in plan.columns]
    if missing:
        raise InputError(f"--plan: missing column(s) {', '.join(missing)}; an action plan (`churn decide`) has them")
    if not 0.0 < control_fraction < 1.0:
        raise InputError(f"--control-fraction: must be in (0, 1), got {control_fraction}")
    treated, control = plan_flag(plan, "targeted"), plan_flag(plan, "control")
    if (treated & control).any():
        bad = plan.loc[treated & control, ENTITY].iloc[0]
        raise InputError(f"--plan: customer {bad!r} is both targeted and a control")
    chosen = plan[treated | control]
    if chosen.empty:
        raise InputError("--plan: nobody is targeted or held out as a control: there is no campaign to launch")
    check_assignments(chosen, customers, actions)
    explored = plan_flag(chosen, "explored") if "explored" in chosen else np.zeros(len(chosen), dtype=bool)
    arm = np.where(plan_flag(chosen, "targeted"), np.where(explored, "exploration", "treated"), "control")
    numbers = {c: pd.to_numeric(chosen[c], errors="coerce") for c in ("cost", "clv")}
    for name, values in numbers.items():
        if values.isna().any() or (values < 0).any():
            raise InputError(f"--plan: column {name} must be a non-negative number in every targeted or control row")
    return pd.DataFrame(
        {
            "campaign": campaign,
            ENTITY: chosen[ENTITY].astype(str).to_numpy(),
            "action": chosen["best_action"].astype(str).to_numpy(),
            "arm": arm,
            "assignment_probability": _assignment_probability(chosen, arm, control_fraction),
            "assigned_at": at,
            "known_at": at,
            "cost": numbers["cost"].to_numpy(np.float64),
            "clv": numbers["clv"].to_numpy(np.float64),
        }
    )


def _assignment_probability(chosen: pd.DataFrame, arm: np.ndarray, control_fraction: float) -> np.ndarray:
    """The plan's own column where it has one (an explored customer's chance of being drawn with its action),
    else the control share or its complement."""
    default = np.where(arm == "control", control_fraction, 1.0 - control_fraction)
    if "assignment_probability" not in chosen:
        return default
    given = pd.to_numeric(chosen["assignment_probability"], errors="coerce").to_numpy(np.float64)
    given = np.where(np.isnan(given), default, given)
    if ((given <= 0) | (given > 1)).any():
        raise InputError("--plan: assignment_probability must be in (0, 1] in every targeted or control row")
    return given


def campaign_id(plan: pd.DataFrame, at: pd.Timestamp) -> str:
    """``YYYY-MM-DD-<8 hex>``: the launch day and a stable digest of who gets what (never Python's hash())."""
    pairs = sorted(zip(plan[ENTITY].astype(str), plan["best_action"].astype(str), strict=True))  # any row order
    digest = stable_hash("|".join(f"{c}:{a}" for c, a in pairs))
    return f"{at:%Y-%m-%d}-{digest & 0xFFFFFFFF:08x}"


def launch(data_dir: Path, plan: pd.DataFrame, at: pd.Timestamp, control_fraction: float,
           campaign: str | None = None, customers: Collection[str] | None = None,
           actions: Collection[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Record the plan's treatments as campaign ``campaign`` (default: :func:`campaign_id`); refuses a second launch
    of the same id. The log is rewritten whole (temporary file, then rename)."""
    name = campaign or campaign_id(plan, at)
    if not re.fullmatch(CAMPAIGN_ID_PATTERN, name):
        raise InputError(f"--campaign: {name!r} is not an id (1-64 letters, digits and _ . -, starting with one of "
                         "the first two)")  # fmt: skip
    rows = campaign_rows(plan, name, at, control_fraction, customers, actions)
    if (read_treatments(data_dir)["campaign"] == name).any():
        raise InputError(f"--campaign: {name} was launched already; a campaign is recorded once")
    existing = _platform_log(data_dir)  # a CRM's campaigns stay in the raw data, where its ingest put them
    log = pd.concat([existing, rows], ignore_index=True) if len(existing) else rows
    path = treatments_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        log.astype({"assignment_probability": float, "cost": float, "clv": float}).to_parquet(tmp, index=False)
    arms = rows["arm"].value_counts()
    return {
        "campaign": name,
        "assigned_at": at.isoformat(),
        "treated": int(arms.get("treated", 0)),
        "control": int(arms.get("control", 0)),
        "control_fraction": control_fraction,
        "control_share_observed": round(float(arms.get("control", 0)) / len(rows), 4),
        "actions": {str(a): int(n) for a, n in rows.loc[rows.arm == "treated", "action"].value_counts().items()},
        "spend": round(float(rows.loc[rows.arm == "treated", "cost"].sum()), 2),
        "path": str(path),
    }


# --- reading a campaign back -----------------------------------------------------------------------------------


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's 95% score interval for k successes in n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """95% interval of p1 − p2 by Newcombe's hybrid score method (his method 10), from the two Wilson intervals."""
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson(k1, n1), wilson(k2, n2)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def detectable_effect(n_treated: int, n_control: int, rate: float) -> float | None:
    """The smallest difference in churn rates a two-sided 5% test detects with 80% power at this pooled rate; None
    where it cannot be said (an empty arm, or nobody — or everybody — churned: the variance would read as 0)."""
    if n_treated == 0 or n_control == 0 or not 0.0 < rate < 1.0:
        return None
    return (Z95 + Z80) * math.sqrt(rate * (1 - rate) * (1 / n_treated + 1 / n_control))


@dataclass(frozen=True)
class Outcome:
    treated: int
    control: int
    churned_treated: int
    churned_control: int
    spend: float  # NaN: unknown (a CRM's treatments carry no cost)
    mean_clv: float  # NaN: unknown
    exploration: int = 0  # explored customers: counted, not compared (their actions were drawn at random)

    def to_dict(self) -> dict[str, Any]:
        n_t, n_c, k_t, k_c = self.treated, self.control, self.churned_treated, self.churned_control
        out: dict[str, Any] = {"treated": n_t, "control": n_c, "churned_treated": k_t, "churned_control": k_c,
                               "exploration": self.exploration}  # fmt: skip
        if n_t == 0 or n_c == 0:
            return {**out, "verdict": "no evidence", "why": "a campaign needs both treated and control customers"}
        rate_t, rate_c = k_t / n_t, k_c / n_c
        low, high = newcombe(k_c, n_c, k_t, n_t)  # control − treated: churn prevented per treated customer
        effect = rate_c - rate_t
        value = self.mean_clv
        mde = detectable_effect(n_t, n_c, (k_t + k_c) / (n_t + n_c))
        if low > 0:
            verdict, why = "worked", "treated customers churned less than the control group, beyond chance"
        elif high < 0:
            verdict, why = "backfired", "treated customers churned more than the control group, beyond chance"
        else:
            verdict = "no evidence"
            reach = (
                f"this sample could detect an effect of {mde:.1%} or more (5% two-sided, 80% power)"
                if mde is not None
                else "with no churn (or only churn) in the window, the sample cannot say what effect it could detect"
            )
            why = f"the difference is within chance; {reach}"
        valued = math.isfinite(self.spend) and math.isfinite(value)
        net_low, net_high = low * n_t * value - self.spend, high * n_t * value - self.spend
        paid = "paid" if net_low > 0 else ("lost money" if net_high < 0 else "unclear")  # churn effect aside
        if not valued:
            paid = "unknown: these treatments carry no cost or CLV"
        return {
            **out,
            "churn_rate_treated": rate_t,
            "churn_rate_treated_ci95": wilson(k_t, n_t),
            "churn_rate_control": rate_c,
            "churn_rate_control_ci95": wilson(k_c, n_c),
            "effect": effect,
            "effect_ci95": (low, high),
            "saved": effect * n_t,
            "saved_ci95": (low * n_t, high * n_t),
            "spend": self.spend if valued else None,
            "net_value": effect * n_t * value - self.spend if valued else None,
            "net_value_ci95": (net_low, net_high) if valued else None,
            "paid": paid,
            "detectable_effect": mde,
            "verdict": verdict,
            "why": why,
        }


def treated_months(treatments: pd.DataFrame, months: int = DEFAULT_WINDOW_MONTHS) -> pd.DataFrame:
    """(customer_id, month index) of every customer-month a treatment may have moved: the assignment month of
    each treated or explored customer and the ``months - 1`` after it (controls were left alone)."""
    acted = treatments[treatments["arm"].astype(str) != "control"]
    if acted.empty:
        return pd.DataFrame({ENTITY: pd.Series(dtype=str), "month": pd.Series(dtype=np.int64)})
    start = month_index_of_ns(utc_ns(acted["assigned_at"]))
    ids = np.repeat(acted[ENTITY].astype(str).to_numpy(), months)
    month = (start[:, None] + np.arange(months)[None, :]).ravel()
    return pd.DataFrame({ENTITY: ids, "month": month}).drop_duplicates(ignore_index=True)


def known_churn(raw_dir: Path, clock: int) -> pd.DataFrame:
    """The raw churn events known before the clock's month start: the outcomes a readout (or an uplift model) may
    count."""
    path = Path(raw_dir) / "churn_events.parquet"
    if not path.exists():
        raise InputError(f"raw data: no churn events at {path} — ingest or simulate first")
    events = pd.read_parquet(path, columns=[ENTITY, "churned_at", "known_at"])
    return events[utc_ns(events["known_at"]) < month_starts_ns(np.array([clock]))[0]]


def churned_within(treatments: pd.DataFrame, churn_events: pd.DataFrame, months: int) -> np.ndarray:
    """Whether each treated or control customer churned in the ``months`` months from assignment (known by then)."""
    events = churn_events[[ENTITY, "churned_at"]].astype({ENTITY: str})
    first = events.groupby(ENTITY)["churned_at"].min()
    at = utc_ns(treatments["assigned_at"])
    end = month_starts_ns(month_index_of_ns(at) + months)
    when = utc_ns(treatments[ENTITY].astype(str).map(first))  # no churn: NaT, the smallest int64, before any `at`
    return (when >= at) & (when < end)


def last_assigned(rows: pd.DataFrame) -> pd.Timestamp:
    """A campaign's latest assignment: a CRM's wave may assign over days."""
    return pd.to_datetime(rows["assigned_at"], utc=True).max()


def matures_at(rows: pd.DataFrame, months: int) -> int:
    """The first clock month at which a campaign can be read: its last customer's window has passed."""
    return month_index_of(last_assigned(rows)) + months


def readout(
    treatments: pd.DataFrame, churn_events: pd.DataFrame, clock_month: int, campaign: str,
    months: int = DEFAULT_WINDOW_MONTHS,
) -> dict[str, Any]:  # fmt: skip
    """The campaign read back per action and overall; InputError for an unknown or an unmatured campaign."""
    rows = treatments[treatments["campaign"] == campaign].reset_index(drop=True)
    if rows.empty:
        known = sorted(treatments["campaign"].unique())
        raise InputError(f"--campaign: no campaign {campaign!r}; launched: {', '.join(known) or 'none'}")
    if months < 1:
        raise InputError(f"--window-months: must be at least 1, got {months}")
    assigned, matures = last_assigned(rows), matures_at(rows, months)
    if clock_month < matures:
        last = month_label(matures - 1)
        raise InputError(
            f"campaign {campaign}: its {months}-month window from {assigned:%Y-%m-%d} ends with {last}; the platform "
            f"clock is at {month_label(clock_month)} — report from {month_label(matures)} on"
        )
    churned = churned_within(rows, churn_events, months)
    rows = rows.assign(churned=churned)

    def outcome(group: pd.DataFrame) -> dict[str, Any]:
        t, c = group[group.arm == "treated"], group[group.arm == "control"]
        spend = math.nan if t.cost.isna().any() else float(t.cost.sum())  # pandas would sum unknowns as 0
        value = math.nan if t.clv.isna().any() or t.empty else float(t.clv.mean())
        return Outcome(len(t), len(c), int(t.churned.sum()), int(c.churned.sum()), spend, value,
                       int((group.arm == "exploration").sum())).to_dict()  # fmt: skip

    return {
        "campaign": campaign,
        "assigned_at": assigned.isoformat(),
        "window_months": months,
        "clock": month_label(clock_month),
        "overall": outcome(rows),
        "actions": {str(a): outcome(g) for a, g in rows.groupby("action", sort=True)},
    }
