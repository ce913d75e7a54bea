"""Who responds to which action: per-action uplift learned from randomised campaigns.

A churn model says who will leave; the decision needs whom an action changes.
Randomised campaigns show it: within a campaign, treated and control customers
differ only by the treatment. The learner here is a T-learner on XGBoost: for
the control group and for each action's treated customers, a churn model of the
outcome window on the features at assignment; an action's uplift for a customer
is the control model's churn probability less the action's (positive: churn the
action prevents; negative: churn it causes). Why this meta-learner: it needs no
library beyond the XGBoost the risk model already uses, it keeps each arm's own
response surface (a discount and a call act on different customers), and with
a shared control group every action is compared with the same baseline. Shallow,
strongly regularised trees with early stopping on each arm's held-out fifth keep
the difference of two noisy models from being mostly noise.

An action with fewer than ``MIN_TREATED`` treated customers, a control group
under ``MIN_CONTROL`` or fewer than ``MIN_CHURNERS`` churners in either is not
learned: the decision falls back to the catalogue's rate for it and says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from churn.actions import NO_ACTION, action_economics, load_catalogue
from churn.campaigns import DEFAULT_WINDOW_MONTHS, churned_within, known_churn, matures_at, read_treatments
from churn.clock import platform_clock
from churn.errors import InputError
from churn.hashing import stable_hash
from churn.io import replace_dir, write_json
from churn.labels import labels_of
from churn.off_policy import policy_value
from churn.offline import read_snapshots, snapshot_months
from churn.raw import UPLIFT_FILE, load_effect, load_manifest
from churn.schema import ENTITY, MODEL_FEATURES, PARTITION
from churn.settings import Settings
from churn.timeutil import month_index_of_ns, month_label, utc_ns
from churn.uplift_metrics import qini
from training import registry
from training.candidates import XGBoostCandidate
from training.encoding import FeatureEncoder

MIN_TREATED = 400
MIN_CONTROL = 400
MIN_CHURNERS = 25
TREE_PARAMS: dict[str, Any] = {
    "max_depth": 3,
    "eta": 0.05,
    "min_child_weight": 20,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambda": 5.0,
    "eval_metric": "logloss",
}
MAX_TREES = 400
TREATED_ARMS = ("treated", "exploration")


@dataclass
class UpliftModel:
    encoder: FeatureEncoder
    control: XGBoostCandidate
    arms: dict[str, XGBoostCandidate]
    skipped: dict[str, str] = field(default_factory=dict)  # action -> why it was not learned

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(self.arms)

    def uplift(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``uplift_<action>`` for each learned action: the drop in window churn the action brings."""
        X = self.encoder.transform(frame)
        base = self.control.score(X)
        return pd.DataFrame({f"uplift_{a}": base - model.score(X) for a, model in self.arms.items()},
                            index=frame.index)  # fmt: skip


def _fit_arm(X: np.ndarray, y: np.ndarray, seed: int) -> XGBoostCandidate:
    """One arm's churn model, early-stopped on a seeded fifth of the arm's rows."""
    rng = np.random.default_rng(seed)
    valid = rng.random(len(y)) < 0.2
    model = XGBoostCandidate(TREE_PARAMS, seed=seed, n_estimators=MAX_TREES)
    model.fit(X[~valid], y[~valid], valid=(X[valid], y[valid]))
    return model


def fit_uplift(frame: pd.DataFrame, encoder: FeatureEncoder, seed: int) -> UpliftModel:
    """Learn from ``frame``: one row per assignment with the encoder's features at assignment, ``arm`` (treated,
    exploration or control), ``action`` and ``churned`` (within the outcome window)."""
    missing = [c for c in ("arm", "action", "churned") if c not in frame]
    if missing:
        raise InputError(f"uplift: missing column(s) {', '.join(missing)}")
    arm = frame["arm"].astype(str).to_numpy()
    y = frame["churned"].astype(bool).to_numpy()
    control = arm == "control"
    if control.sum() < MIN_CONTROL or y[control].sum() < MIN_CHURNERS:
        raise InputError(f"uplift: the control group has {int(control.sum())} customers and {int(y[control].sum())} "
                         f"churners; learning needs at least {MIN_CONTROL} and {MIN_CHURNERS}")  # fmt: skip
    X = encoder.transform(frame)
    arms: dict[str, XGBoostCandidate] = {}
    skipped: dict[str, str] = {}
    action = frame["action"].astype(str).to_numpy()
    for k, name in enumerate(sorted(set(action[np.isin(arm, TREATED_ARMS)]))):
        rows = np.isin(arm, TREATED_ARMS) & (action == name)
        if rows.sum() < MIN_TREATED or y[rows].sum() < MIN_CHURNERS:
            skipped[name] = (f"{int(rows.sum())} treated customers and {int(y[rows].sum())} churners; learning needs "
                             f"at least {MIN_TREATED} and {MIN_CHURNERS}")  # fmt: skip
            continue
        arms[name] = _fit_arm(X[rows], y[rows].astype(np.float64), seed + 1 + k)
    return UpliftModel(encoder, _fit_arm(X[control], y[control].astype(np.float64), seed), arms, skipped)


def uplift_dir(settings: Settings) -> Path:
    """``CHURN_HOME/models/uplift``: one folder per learned model, ``current`` the one decisions use."""
    return settings.home_dir / "models" / "uplift"


def campaign_frame(settings: Settings, clock: int | None = None, months: int = DEFAULT_WINDOW_MONTHS) -> pd.DataFrame:
    """Every assignment of the campaigns whose window has passed on the clock (the platform's log and a CRM's),
    with its churn in the window (events known by the clock) and its point-in-time snapshot at assignment."""
    clock = platform_clock(settings) if clock is None else clock
    log = read_treatments(settings.data_dir)
    if log.empty:
        return log
    matured = [rows for _, rows in log.groupby("campaign", sort=True) if matures_at(rows, months) <= clock]
    if not matured:
        return log.iloc[:0]
    rows = pd.concat(matured, ignore_index=True)
    rows["churned"] = churned_within(rows, known_churn(settings.raw_dir, clock), months)
    rows["month"] = month_index_of_ns(utc_ns(rows["assigned_at"]))
    rows[PARTITION] = [month_label(m) for m in rows["month"]]
    available = set(snapshot_months(settings.snapshots_dir))
    wanted = sorted(set(rows[PARTITION]) & available)
    snaps = read_snapshots(settings.snapshots_dir, wanted) if wanted else pd.DataFrame(columns=[ENTITY, PARTITION])
    snaps = snaps.astype({ENTITY: str, PARTITION: str})
    return rows.astype({ENTITY: str}).merge(snaps, on=[ENTITY, PARTITION], how="inner")


def held_out_qini(frame: pd.DataFrame, encoder: FeatureEncoder, seed: int, oracle: pd.DataFrame | None = None
                  ) -> dict[str, Any]:  # fmt: skip
    """Learn from every campaign month but the last, and rank the last: each action's Qini coefficient (and, on a
    simulation, the uplift oracle's on the same customers and outcomes)."""
    months = sorted(frame["month"].unique())
    if len(months) < 2:
        return {"held_out_month": None, "why": "one campaign month only: nothing to hold out"}
    last = months[-1]
    train, test = frame[frame["month"] < last], frame[frame["month"] == last].reset_index(drop=True)
    try:
        model = fit_uplift(train, encoder, seed)
    except InputError as exc:
        return {"held_out_month": month_label(int(last)), "why": str(exc)}
    if oracle is not None:
        test = test.merge(oracle.astype({ENTITY: str, PARTITION: str}), on=[ENTITY, PARTITION], how="left")
    learned = model.uplift(test)
    control = (test["arm"] == "control").to_numpy()
    y = test["churned"].to_numpy(bool)
    actions: dict[str, Any] = {}
    for action in model.actions:
        rows = control | (np.isin(test["arm"], TREATED_ARMS) & (test["action"] == action).to_numpy())
        entry: dict[str, Any] = {"treated": int((rows & ~control).sum()), "control": int(control.sum()),
                 "qini": qini(learned[f"uplift_{action}"].to_numpy()[rows], ~control[rows], y[rows])}  # fmt: skip
        truth = f"uplift_{action}"
        if truth in test and test.loc[rows, truth].notna().all():
            entry["qini_oracle"] = qini(test[truth].to_numpy()[rows], ~control[rows], y[rows])
            entry["ratio_to_oracle"] = entry["qini"] / entry["qini_oracle"] if entry["qini_oracle"] > 0 else None
        actions[action] = entry
    return {"held_out_month": month_label(int(last)), "train_rows": len(train), "test_rows": len(test),
            "actions": actions, "skipped": model.skipped, "policies": policy_values(test, learned)}  # fmt: skip


def policy_values(test: pd.DataFrame, learned: pd.DataFrame) -> dict[str, Any]:
    """Off-policy value per customer, on the held-out month's logs, of targeting by the learned uplift (each
    customer's best action by uplift × CLV − cost, none where no action pays), of the campaign as it was run and
    of doing nothing — on the customers where the logs support the learned policy's choice."""
    if test["clv"].isna().any() or test["cost"].isna().any():
        return {"why": "these campaigns carry no cost or CLV (a CRM's): their value cannot be estimated"}
    actions = [c.removeprefix("uplift_") for c in learned.columns]
    clv, cost = test["clv"].to_numpy(np.float64), test["cost"].to_numpy(np.float64)
    catalogue = load_catalogue()
    costs, _, eligible = action_economics(catalogue, test, len(test))
    ev = np.full((len(test), len(actions)), -np.inf)
    for k, action in enumerate(actions):
        if action in catalogue.names:
            j = catalogue.names.index(action)
            ev[:, k] = np.where(eligible[:, j], learned[f"uplift_{action}"].to_numpy() * clv - costs[:, j], -np.inf)
    best = np.argmax(ev, axis=1)
    target = np.where(ev[np.arange(len(test)), best] > 0, np.asarray(actions, dtype=object)[best], NO_ACTION)
    arm = test["arm"].astype(str).to_numpy()
    action = test["action"].astype(str).to_numpy()
    logged = np.where(arm == "control", NO_ACTION, action)
    reward = clv * ~test["churned"].to_numpy(bool) - np.where(arm == "control", 0.0, cost)
    probability = test["assignment_probability"].to_numpy(np.float64)
    supported = (target == action) | (target == NO_ACTION)
    out: dict[str, Any] = {"support": float(supported.mean()), "reward": "CLV kept less the action's cost"}
    for name, chosen in (("learned_uplift", target), ("as_run", action), ("no_action", np.full(len(test), NO_ACTION))):
        out[name] = policy_value(logged, probability, reward, chosen, supported)
    out["targeted_by_learned"] = int((target != NO_ACTION).sum())
    return out


def train_uplift(settings: Settings, months: int = DEFAULT_WINDOW_MONTHS) -> dict[str, Any]:
    """Learn each action's uplift from the matured randomised campaigns and make it the one decisions use; the
    report holds the held-out Qini. The features are the champion churn model's (a scores file carries them)."""
    frame = campaign_frame(settings, months=months)
    if frame.empty:
        raise InputError("uplift: no campaign has matured yet (launch one with `churn campaign launch`, then wait "
                         f"{months} months of outcomes)")  # fmt: skip
    encoder = _encoder(settings, frame)
    oracle = load_effect(settings.raw_dir, UPLIFT_FILE)
    report = held_out_qini(frame, encoder, settings.seed, oracle)
    model = fit_uplift(frame, encoder, settings.seed)
    campaigns = sorted(frame["campaign"].astype(str).unique())
    version = f"uplift-{datetime.now(UTC):%Y%m%d%H%M%S}-{stable_hash('|'.join(campaigns)) & 0xFFFF:04x}"
    metadata = {"version": version, "campaigns": campaigns, "rows": len(frame), "window_months": months,
                "actions": list(model.actions), "skipped": model.skipped, "held_out": report,
                "features": list(encoder.features)}  # fmt: skip
    save_uplift(model, uplift_dir(settings) / version, metadata)
    write_json({"current": version}, uplift_dir(settings) / "current.json")
    return metadata


def _encoder(settings: Settings, frame: pd.DataFrame) -> FeatureEncoder:
    """The champion churn model's features and categories (a scores file carries them); before a champion exists,
    the platform's model features the snapshots hold."""
    if registry.read_pointer(settings).get("champion"):
        return registry.load_champion(settings).encoder
    return FeatureEncoder.for_features(
        [f for f in MODEL_FEATURES if f in frame], labels_of(load_manifest(settings.raw_dir))
    )


def save_uplift(model: UpliftModel, folder: Path, metadata: dict[str, Any]) -> None:
    """The boosters, the encoder and the metadata, written into a new folder whole (a crash leaves none)."""

    def fill(tmp: Path) -> None:
        model.control.booster.save_model(str(tmp / "control.json"))
        for action, arm in model.arms.items():
            arm.booster.save_model(str(tmp / f"arm-{action}.json"))
        (tmp / "encoder.json").write_text(json.dumps(model.encoder.to_json()))
        write_json(metadata, tmp / "metadata.json")

    replace_dir(folder, fill)


def load_uplift(settings: Settings) -> tuple[UpliftModel, dict[str, Any]] | None:
    """The uplift model decisions use, with its metadata; None before one is learned."""
    pointer = uplift_dir(settings) / "current.json"
    if not pointer.exists():
        return None
    folder = uplift_dir(settings) / json.loads(pointer.read_text())["current"]
    metadata = json.loads((folder / "metadata.json").read_text())

    def arm(name: str) -> XGBoostCandidate:
        candidate = XGBoostCandidate(TREE_PARAMS, seed=0)
        candidate.booster = xgb.Booster(model_file=str(folder / name))
        return candidate

    encoder = FeatureEncoder.from_json(json.loads((folder / "encoder.json").read_text()))
    model = UpliftModel(encoder, arm("control.json"), {a: arm(f"arm-{a}.json") for a in metadata["actions"]},
                        dict(metadata.get("skipped", {})))  # fmt: skip
    return model, metadata
