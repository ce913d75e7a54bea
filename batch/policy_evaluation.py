"""`churn evaluate-policy`: the policy comparison on the simulation in CHURN_HOME, as a table, a chart and JSON.

The month compared is the latest labelled one (or ``--month``): customers
active at its start, the champion's probabilities on their point-in-time
snapshot, what really happened that month, and each customer's simulated
response to each offer. The comparison itself is :func:`churn.policy.compare_policies`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churn.actions import load_catalogue
from churn.closed_loop import world_of
from churn.errors import InputError
from churn.io import write_json
from churn.offline import read_labels, read_snapshots, snapshot_months
from churn.pages import write_page
from churn.policy import compare_policies, compare_valuations
from churn.raw import load_extras, load_manifest
from churn.schema import ENTITY, LABEL
from churn.settings import Settings
from churn.timeutil import month_index_of, month_label, parse_month
from churn.true_value import true_value
from training import registry
from training.lifetime import load_champion_lifetime

TARGETS = {"ev_over_top10_net_value": 1.2, "model_over_rule_precision_at_10": 1.86}


def policy_frame(settings: Settings, month: str | None = None) -> tuple[str, pd.DataFrame]:
    oracle_hazard, offers = load_extras(settings.raw_dir)
    if offers is None:
        raise InputError("evaluate-policy: needs a simulation (offer responses); the data in CHURN_HOME has none")
    labels = read_labels(settings.labels_path)
    months = snapshot_months(settings.snapshots_dir)
    if month is None:
        month = month_label(month_index_of(labels["event_timestamp"].max()))
    parse_month(month, field="--month")
    if month not in months:
        raise InputError(f"--month: no snapshot for {month}; the offline store covers {months[0]}..{months[-1]}")
    snaps = read_snapshots(settings.snapshots_dir, [month])
    stamp = snaps["event_timestamp"].iloc[0]
    y = labels[labels["event_timestamp"] == stamp][[ENTITY, LABEL]]
    if y.empty:
        raise InputError(f"--month: {month} has no labels yet (its outcome is not known)")
    model = registry.load_champion(settings)
    frame = snaps.merge(y, on=ENTITY, how="inner")
    frame["probability"] = model.predict_proba(frame)
    frame["churned"] = frame[LABEL].astype(bool)
    frame = frame.merge(offers, on=ENTITY, how="left")
    if oracle_hazard is not None:
        oracle = oracle_hazard[oracle_hazard["snapshot_month"] == month][[ENTITY, "hazard"]]
        frame = frame.merge(oracle, on=ENTITY, how="left")
    return month, _with_lifetime_values(settings, month, frame)


def _with_lifetime_values(settings: Settings, month: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The lifetime champion's CLV (``clv_model``) and, on a simulation, the true CLV (``true_clv``) of each
    customer, so the replay can say which valuation targets better; unchanged without a lifetime model."""
    lifetime = load_champion_lifetime(settings)
    manifest = load_manifest(settings.raw_dir)
    if lifetime is None or "simulation" not in manifest:
        return frame
    charges = pd.to_numeric(frame["monthly_charges"], errors="coerce").to_numpy(np.float64)
    frame["clv_model"] = lifetime.margin * charges * lifetime.annuity(lifetime.curves(frame))
    config, treatments = world_of(settings.raw_dir)
    truth = true_value(config, month, lifetime.horizon, lifetime.margin, lifetime.monthly_discount,
                       treatments=treatments)  # fmt: skip
    return frame.merge(truth[[ENTITY, "true_clv"]], on=ENTITY, how="left")


def evaluate(settings: Settings, month: str | None = None, actions: Path | None = None) -> dict[str, Any]:
    month, frame = policy_frame(settings, month)
    catalogue = load_catalogue(actions)
    table = compare_policies(frame, catalogue)
    ev, top10, rule = table.loc["ev_positive"], table.loc["top10_probability"], table.loc["rule_based"]
    ratios = {
        "ev_over_top10_net_value": round(ev.net_value / top10.net_value, 3) if top10.net_value > 0 else None,
        "model_over_rule_precision_at_10": (
            round(top10.precision_at_10 / rule.precision_at_10, 3) if rule.precision_at_10 > 0 else None
        ),
    }
    # EV "beats 1.2× top-10%" trivially when top-10% loses money and EV does not
    ev_target, precision_target = TARGETS["ev_over_top10_net_value"], TARGETS["model_over_rule_precision_at_10"]
    met = {
        "ev_over_top10_net_value": bool(
            ev.net_value >= ev_target * top10.net_value
            if top10.net_value > 0
            else ev.net_value > max(top10.net_value, 0)
        ),
        "model_over_rule_precision_at_10": bool(top10.precision_at_10 >= precision_target * rule.precision_at_10),
    }
    folder = settings.reports_dir / "policy" / month
    folder.mkdir(parents=True, exist_ok=True)
    chart = _chart(table, folder / "net_value.png")
    result = {
        "month": month,
        "customers": len(frame),
        "churn_rate": round(float(frame["churned"].mean()), 4),
        "model_version": registry.read_pointer(settings).get("champion"),
        "policies": table.reset_index().to_dict("records"),
        "ratios": ratios,
        "targets": TARGETS,
        "met": met,
        "report": str(folder / "index.html"),
    }
    if "true_clv" in frame and frame["true_clv"].notna().all():
        valuations = compare_valuations(frame, catalogue).reset_index()
        result["valuations"] = valuations.astype(object).where(valuations.notna(), None).to_dict("records")
        net = valuations.set_index("policy")["net_value"]
        formula, model = (float(net[f"ev_budget, {k} CLV"]) for k in ("formula", "model"))
        result["model_clv_over_formula_net_value"] = round(model / formula, 3) if formula > 0 else None
    write_json(result, folder / "policies.json")
    _page(result, table, chart.name, folder / "index.html")
    return result


def _chart(table: pd.DataFrame, path: Path) -> Path:
    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2)
    table["net_value"].plot.barh(ax=axes[0], color="#4c72b0")
    axes[0].set_title("realised net value")
    table["precision_at_10"].plot.barh(ax=axes[1], color="#55a868")
    axes[1].set_title("precision at the top 10%")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    tmp.chmod(0o600)  # owner-only like every other output
    tmp.replace(path)
    return path


RATIO_NOTES = {
    "ev_over_top10_net_value": "n/a (the baseline's net value is not positive)",
    "model_over_rule_precision_at_10": "n/a (the rule's precision is 0)",
}


def _page(result: dict[str, Any], table: pd.DataFrame, chart: str, path: Path) -> Path:
    ratios = [
        {
            "name": name,
            "text": RATIO_NOTES[name] if value is None else f"{value:.3f}×",
            "target": result["targets"][name],
            "met": result["met"][name],
        }
        for name, value in result["ratios"].items()
    ]
    best = table["net_value"].idxmax()
    headline = (
        f"The best net value comes from {best} ({table.loc[best, 'net_value']:,.0f}); "
        f"EV targeting's is {table.loc['ev_positive', 'net_value']:,.0f}."
        if "ev_positive" in table.index
        else ""
    )
    rows = [(str(name), [v.item() if hasattr(v, "item") else v for v in row]) for name, row in table.iterrows()]
    context = {k: v for k, v in result.items() if k != "ratios"}
    return write_page(
        "policy.html", path, **context, columns=list(table.columns), rows=rows, ratios=ratios, chart=chart,
        headline=headline,
    )  # fmt: skip
