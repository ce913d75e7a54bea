"""The retention action catalogue and the per-customer best action, shared by the API and the decision engine.

For every customer and every action the platform may take, EV = p(churn) × CLV
× success rate − cost (:func:`churn.economics.expected_value`); the best action
is the eligible one with the highest EV, and a customer is targeted only when
that EV is positive: doing nothing (EV 0) beats any action that loses money.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import yaml

from churn.economics import expected_value
from churn.errors import InputError

NO_ACTION = "none"


@dataclass(frozen=True)
class Segment:
    """Cost and success rate for customers whose columns match ``when`` (column -> allowed values)."""

    when: dict[str, tuple[Any, ...]]
    cost: float
    success_rate: float


@dataclass(frozen=True)
class Action:
    name: str
    cost: float
    success_rate: float
    eligible: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    segments: tuple[Segment, ...] = ()

    @property
    def columns(self) -> set[str]:
        cols = set(self.eligible)
        for seg in self.segments:
            cols |= set(seg.when)
        return cols


@dataclass(frozen=True)
class Catalogue:
    actions: tuple[Action, ...]
    source: str = "default"

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.actions]

    @property
    def columns(self) -> set[str]:
        """Customer columns the catalogue needs (for eligibility and segments)."""
        out: set[str] = set()
        for a in self.actions:
            out |= a.columns
        return out


@dataclass
class Decisions:
    """One row per customer: the best action and its economics."""

    action: np.ndarray  # object: action names
    cost: np.ndarray
    success_rate: np.ndarray
    expected_value: np.ndarray
    targeted: np.ndarray  # bool

    def row(self, i: int) -> dict[str, Any]:
        return {
            "action": str(self.action[i]),
            "cost": float(self.cost[i]),
            "success_rate": float(self.success_rate[i]),
            "expected_value": float(self.expected_value[i]),
            "target": bool(self.targeted[i]),
        }


# --- Loading ----------------------------------------------------------------------------------------------------------


def _number(value: Any, where: str, low: float, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise InputError(f"{where}: must be a number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InputError(f"{where}: must be {bound}, got {value}")
    return float(value)


def _matcher(raw: Any, where: str) -> dict[str, tuple[Any, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{where}: must be a mapping of column -> list of allowed values")
    out: dict[str, tuple[Any, ...]] = {}
    for col, values in raw.items():
        vals = values if isinstance(values, list) else [values]
        if not vals:
            raise InputError(f"{where}.{col}: needs at least one allowed value")
        out[str(col)] = tuple(vals)
    return out


def parse_catalogue(data: Any, source: str) -> Catalogue:
    """Validate a catalogue document; every problem names its place (``actions[2].cost``)."""
    if not isinstance(data, dict) or not isinstance(data.get("actions"), list) or not data["actions"]:
        raise InputError(f"{source}: expected a mapping with a non-empty `actions` list")
    unknown_top = set(data) - {"actions"}
    if unknown_top:
        raise InputError(f"{source}: unknown key(s) {sorted(unknown_top)}; expected only `actions`")
    actions: list[Action] = []
    for i, raw in enumerate(data["actions"]):
        where = f"{source}: actions[{i}]"
        if not isinstance(raw, dict):
            raise InputError(f"{where}: must be a mapping with name, cost and success_rate")
        unknown = set(raw) - {"name", "cost", "success_rate", "eligible", "segments"}
        if unknown:
            raise InputError(f"{where}: unknown key(s) {sorted(unknown)}")
        for key in ("name", "cost", "success_rate"):
            if key not in raw:
                raise InputError(f"{where}.{key}: missing")
        name = raw["name"]
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}.name: must be a non-empty string")
        segments = []
        for j, seg in enumerate(raw.get("segments") or []):
            sw = f"{where}.segments[{j}]"
            if not isinstance(seg, dict) or "when" not in seg:
                raise InputError(f"{sw}: must be a mapping with `when` and cost and/or success_rate")
            segments.append(
                Segment(
                    when=_matcher(seg["when"], f"{sw}.when"),
                    cost=_number(seg.get("cost", raw["cost"]), f"{sw}.cost", 0.0, None),
                    success_rate=_number(seg.get("success_rate", raw["success_rate"]), f"{sw}.success_rate", 0.0, 1.0),
                )
            )
        actions.append(
            Action(
                name=name,
                cost=_number(raw["cost"], f"{where}.cost", 0.0, None),
                success_rate=_number(raw["success_rate"], f"{where}.success_rate", 0.0, 1.0),
                eligible=_matcher(raw.get("eligible"), f"{where}.eligible"),
                segments=tuple(segments),
            )
        )
    names = [a.name for a in actions]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{source}: action name(s) {dupes} appear more than once")
    if NO_ACTION not in names:
        actions.insert(0, Action(NO_ACTION, 0.0, 0.0))
    return Catalogue(actions=tuple(actions), source=source)


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """The catalogue at ``path``, or the one shipped with the platform (churn/actions.yaml)."""
    if path is None:
        text = resources.files("churn").joinpath("actions.yaml").read_text()
        return parse_catalogue(yaml.safe_load(text), "default catalogue")
    p = Path(path)
    if not p.is_file():
        raise InputError(f"--actions: no such file {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"{p}: not valid YAML ({err})") from None
    return parse_catalogue(data, str(p))


# --- Deciding ---------------------------------------------------------------------------------------------------------


Columns: TypeAlias = pd.DataFrame | Mapping[str, Any]


def _matches(customers: Columns | None, when: dict[str, tuple[Any, ...]], n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    for col, allowed in when.items():
        if customers is None or col not in customers:
            raise InputError(f"action catalogue: needs column {col!r}, which the customers do not have")
        values = np.asarray(customers[col], dtype=object)
        mask &= np.fromiter((v in allowed for v in values), dtype=bool, count=n)
    return mask


def action_economics(
    catalogue: Catalogue, customers: Columns | None, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n × actions) cost, success rate and eligibility of every action for every customer."""
    cost = np.empty((n, len(catalogue.actions)))
    rate = np.empty((n, len(catalogue.actions)))
    eligible = np.ones((n, len(catalogue.actions)), dtype=bool)
    for k, action in enumerate(catalogue.actions):
        cost[:, k] = action.cost
        rate[:, k] = action.success_rate
        if action.eligible:
            eligible[:, k] = _matches(customers, action.eligible, n)
        done = np.zeros(n, dtype=bool)
        for seg in action.segments:
            hit = _matches(customers, seg.when, n) & ~done
            cost[hit, k] = seg.cost
            rate[hit, k] = seg.success_rate
            done |= hit
    return cost, rate, eligible


def with_learned_rates(
    rate: np.ndarray, catalogue: Catalogue, probability: np.ndarray, prevented: Mapping[str, np.ndarray] | None
) -> np.ndarray:
    """``rate`` (n × actions, from :func:`action_economics`) with each learned action's column replaced, in place,
    by prevented / p: the success rate that makes p × CLV × rate the learned uplift × CLV."""
    p = np.maximum(np.asarray(probability, dtype=np.float64), 1e-12)
    for name, values in (prevented or {}).items():
        if name in catalogue.names:
            rate[:, catalogue.names.index(name)] = np.asarray(values, dtype=np.float64) / p
    return rate


def best_actions(
    probability: np.ndarray,
    clv: np.ndarray,
    catalogue: Catalogue,
    customers: Columns | None = None,
    prevented: Mapping[str, np.ndarray] | None = None,
) -> Decisions:
    """The highest-EV eligible action per customer, and whether to take it (EV > 0).

    The action reported is the best real action even when it does not pay, with
    its (negative) EV, so a reader sees why nobody acts: p 0.8, CLV 100, rate
    0.4, cost 50 gives EV −18 and no target. Ties go to the earlier action in
    the catalogue. Only a catalogue with no eligible real action reports "none".

    ``prevented``: for the actions an uplift model has learned, the churn each customer's treatment prevents
    (negative where it causes churn); their EV is prevented × CLV − cost instead of p × CLV × rate − cost, so an
    action that would harm a customer is never chosen for them. Their reported success rate is prevented / p.
    """
    p = np.asarray(probability, dtype=np.float64)
    n = len(p)
    cost, rate, eligible = action_economics(catalogue, customers, n)
    with_learned_rates(rate, catalogue, p, prevented)
    ev = expected_value(p[:, None], np.asarray(clv, dtype=np.float64)[:, None], rate, cost)
    real = np.asarray([name != NO_ACTION for name in catalogue.names])
    ev = np.where(eligible & real[None, :], ev, -np.inf)
    best = np.argmax(ev, axis=1)
    rows = np.arange(n)
    best_ev = ev[rows, best]
    nothing = ~np.isfinite(best_ev)
    best = np.where(nothing, catalogue.names.index(NO_ACTION), best)
    names = np.asarray(catalogue.names, dtype=object)
    return Decisions(
        action=names[best],
        cost=np.where(nothing, 0.0, cost[rows, best]),
        success_rate=np.where(nothing, 0.0, rate[rows, best]),
        expected_value=np.where(nothing, 0.0, best_ev),
        targeted=~nothing & (best_ev > 0),
    )
