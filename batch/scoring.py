"""Batch scoring: every customer active at a date, features point-in-time through the model's feature service.

Writes ``outputs/batch_scores_YYYY-MM-DD.parquet`` whole or not at all (write,
then rename): customer id, snapshot date, calibrated probability, risk band,
model version, the model's features (so the decision engine can value and
segment customers without another read), and the top factors — exact TreeSHAP
for the customers the default catalogue would target, the Saabas approximation
(``factors_method = "approximate"``) for everyone else, because exact
contributions for a million rows take far longer than scoring them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.actions import Catalogue, load_catalogue
from churn.assessment import assess, valuation_of
from churn.clock import platform_clock
from churn.consent import objected
from churn.errors import InputError
from churn.io import write_parquet
from churn.lineage import source_warning
from churn.offline import offline_lineage, read_snapshots, snapshot_months
from churn.schema import ENTITY, EVENT_TIMESTAMP
from churn.settings import Settings
from churn.timeutil import month_index_of, month_label, month_start, parse_date
from store.feast_store import DEFAULT_SERVICE, get_store, service_features
from store.training_sets import build_training_set
from training import registry
from training.artifact import ChurnModel
from training.explain import factor_columns
from training.lifetime import LifetimeModel, load_champion_lifetime


@dataclass
class ScoreResult:
    path: Path
    date: str
    customers: int
    model_version: str
    exact_factors: int
    approximate_factors: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    objected_not_scored: int = 0  # customers who objected to direct marketing, left out (CHURN_SCORE_OBJECTED off)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


# rows per Parquet row group of a scores file: rows come in customer order, so a reader looking for one customer
# (the console's history) reads one group of 64k rows by the groups' statistics instead of the whole file
SCORES_ROW_GROUP = 65_536


def scores_path(settings: Settings, day: str) -> Path:
    return settings.outputs_dir / f"batch_scores_{day}.parquet"


def latest_scores(settings: Settings) -> Path:
    """The newest batch_scores file (names sort by date)."""
    found = sorted(settings.outputs_dir.glob("batch_scores_*.parquet"))
    if not found:
        raise InputError(f"--scores: no batch_scores_*.parquet under {settings.outputs_dir} — run `churn score` first")
    return found[-1]


def active_months_check(settings: Settings, month: str) -> None:
    """Refuse a date whose month the offline store has no snapshot for, naming what it has."""
    months = snapshot_months(settings.snapshots_dir)
    if month not in months:
        span = f"{months[0]}..{months[-1]}" if months else "nothing yet — run `churn build`"
        raise InputError(f"--date: no snapshot for {month}; the offline store covers {span}")


@dataclass(frozen=True)
class ScoringJob:
    """What both engines settle before they score: the date, its month, the champion and its feature service."""

    when: pd.Timestamp
    day: str
    month: str
    version: str
    model: ChurnModel
    service: str
    warnings: list[str]
    lifetime: LifetimeModel | None = None  # the lifetime champion, when one is registered: model CLV, not the formula


def scoring_job(settings: Settings, day: str | None, nthread: int) -> ScoringJob:
    """Parse (or default to the platform clock's month) and check the date, then load the champion.

    One function for the single-machine and the Spark path, so both score the same date with the same model and
    refuse the same bad input the same way; ``nthread`` is the model's XGBoost threads on the engine at hand.
    """
    when = parse_date(day, field="--date") if day else month_start(platform_clock(settings))
    month = month_label(month_index_of(when))
    active_months_check(settings, month)
    version = registry.champion_version(settings, "before scoring")
    model = registry.load_model(settings, version, nthread=nthread)
    service = str(model.metadata.get("feature_service") or DEFAULT_SERVICE)
    warning = source_warning(model.metadata.get("lineage"), offline_lineage(settings.offline_dir), "snapshots")
    lifetime = load_champion_lifetime(settings, nthread=nthread)
    return ScoringJob(when, when.strftime("%Y-%m-%d"), month, version, model, service, [warning] if warning else [],
                      lifetime)  # fmt: skip


def active_customers(settings: Settings, month: str) -> list[str]:
    """Customers with a snapshot at the start of ``month``: the ones active then."""
    return [str(c) for c in read_snapshots(settings.snapshots_dir, [month], columns=[ENTITY])[ENTITY]]


def not_profiled(settings: Settings, ids: list[str] | None = None) -> set[str]:
    """The customers batch scoring leaves out: those who objected to direct marketing, unless
    ``CHURN_SCORE_OBJECTED`` keeps them scored for other uses (they are never targeted either way)."""
    return set() if settings.score_objected else objected(settings.raw_dir, ids)


def score_frame(
    model: Any,
    frame: pd.DataFrame,
    catalogue: Catalogue,
    version: str,
    when: pd.Timestamp,
    features: list[str] | None = None,
    lifetime: LifetimeModel | None = None,
) -> pd.DataFrame:
    """The batch-score rows of point-in-time ``frame``: one function for the single-machine and the Spark path.

    Exact factors for the customers the catalogue would target, Saabas for the
    rest; the order of ``frame`` is kept. ``features`` (default: the model's) are
    copied into the rows: the service's whole vector, so the decision engine can
    segment on a feature the model left out. With a ``lifetime`` model, each row also carries its survival
    summary (``clv_annuity``, ``clv_margin``, ``clv_source``, expected lifetime, churn within 1/3/6/12 months),
    from which the decision engine values the customer.
    """
    frame = frame.reset_index(drop=True)
    p = model.predict_proba(frame)
    survival = lifetime_columns(lifetime, frame)
    assessed = assess(p, frame, catalogue, valuation_of(survival))
    targeted = assessed.decisions.targeted
    exact = factor_columns(model, frame.loc[targeted])
    approx = factor_columns(model, frame.loc[~targeted], approximate=True)
    factors = pd.concat([exact, approx]).loc[frame.index]
    out = pd.DataFrame(
        {
            ENTITY: frame[ENTITY].astype(str),
            "snapshot_date": when.date(),
            "probability": p,
            "risk_band": assessed.bands,
            "model_version": version,
        }
    )
    out = pd.concat([out, frame[list(features or model.features)], survival, factors], axis=1)
    out["factors_method"] = np.where(targeted, "exact", "approximate")
    return out


def lifetime_columns(lifetime: LifetimeModel | None, frame: pd.DataFrame) -> pd.DataFrame:
    """The lifetime model's columns for ``frame`` (none without a model)."""
    if lifetime is None:
        return pd.DataFrame(index=frame.index)
    out = pd.DataFrame(lifetime.summary(lifetime.curves(frame)), index=frame.index)
    out["clv_margin"] = lifetime.margin
    out["clv_source"] = lifetime.source
    return out


IN_PROCESS_STEPS = 4  # the progress messages score_in_process reports, in order (a bar shows step k of 4)


def score_in_process(
    settings: Settings,
    day: str | None = None,
    catalogue: Catalogue | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScoreResult:
    """The single-machine path: Feast's DuckDB point-in-time join, then :func:`score_frame` on the whole frame."""
    began = time.perf_counter()
    say = progress or (lambda _: None)
    job = scoring_job(settings, day, nthread=os.cpu_count() or 1)
    say("customers")
    ids = active_customers(settings, job.month)
    left_out = not_profiled(settings, ids)
    ids = [i for i in ids if i not in left_out]
    say(f"features for {len(ids):,} customers")
    entity = pd.DataFrame({ENTITY: ids, EVENT_TIMESTAMP: job.when})
    store = get_store(settings)
    frame = build_training_set(store, entity, job.service)
    say("scoring and explaining")
    features = service_features(store, job.service)
    out = score_frame(job.model, frame, catalogue or load_catalogue(), job.version, job.when, features, job.lifetime)
    say("writing")
    path = scores_path(settings, job.day)
    write_parquet(out, path, row_group_size=SCORES_ROW_GROUP)
    return ScoreResult(
        path=path,
        date=job.day,
        customers=len(out),
        model_version=job.version,
        exact_factors=int((out["factors_method"] == "exact").sum()),
        approximate_factors=int((out["factors_method"] == "approximate").sum()),
        seconds=round(time.perf_counter() - began, 2),
        warnings=job.warnings,
        objected_not_scored=len(left_out),
    )
