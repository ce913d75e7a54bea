"""The at-risk list: the newest batch scores, valued and decided once, then filtered, sorted and paged in memory.

A million customers must page in well under 300 ms whatever the filter, so the
work that does not depend on the request happens once per scores file: the
decision engine's valuation and best action (:func:`churn.decisions.prepare`,
which the plan page then finishes at any budget), integer codes for every filterable column, and one
descending order per sort key. A request is then a few vectorised comparisons
and a slice. The file is reloaded when a newer one appears or it changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batch.plan import learned_response
from churn.actions import Catalogue
from churn.consent import objected, record_files
from churn.decisions import Prepared, prepare
from churn.errors import InputError
from churn.schema import ENTITY
from churn.settings import Settings
from training.cache import file_stamps

SORTS = {"probability": "probability", "expected_value": "expected value", "clv": "CLV"}
PAGE_SIZE = 50
MAX_CATEGORIES = 50  # a column with more distinct values is not offered as a filter
NOT_ATTRIBUTES = {ENTITY, "risk_band", "model_version", "clv_source", "factors_method", "snapshot_date"}


@dataclass(frozen=True)
class Query:
    band: str = ""
    action: str = ""
    attribute: str = ""
    value: str = ""
    sort: str = "probability"
    page: int = 1


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    query: Query


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    cat = pd.Categorical(values.astype("string").fillna("(missing)"))
    return cat.codes.astype(np.int16), [str(c) for c in cat.categories]


class ScoreBoard:
    """One scores file, valued, decided and indexed for filtering and sorting."""

    def __init__(self, path: Path, prepared: Prepared) -> None:
        self.path = path
        self.prepared = prepared  # the plan page re-decides from it at any budget
        self.scores = prepared.scores
        self.catalogue = prepared.catalogue
        assessed, excluded = prepared.assessed, prepared.refused
        self.ids = self.scores[ENTITY].astype(str).to_numpy()
        self.index = pd.Index(self.ids)
        self.columns: dict[str, np.ndarray] = {
            "probability": prepared.probability,
            "expected_value": np.round(assessed.decisions.expected_value, 2),
            "clv": np.round(assessed.clv, 2),
            "action": np.where(excluded, "excluded (objected)", assessed.decisions.action.astype(object)),
            "target": assessed.decisions.targeted & ~excluded,
            "risk_band": assessed.bands.astype(object),
        }
        self.clv_source = assessed.clv_source
        self.filters: dict[str, tuple[np.ndarray, list[str]]] = {
            "risk_band": _codes(pd.Series(self.columns["risk_band"])),
            "action": _codes(pd.Series(self.columns["action"])),
        }
        for column in self.scores.columns:
            if column in NOT_ATTRIBUTES or column.startswith("factor") or column in self.filters:
                continue
            series = self.scores[column]
            if (series.dtype == object or isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == bool) and (
                series.nunique(dropna=False) <= MAX_CATEGORIES
            ):
                self.filters[column] = _codes(series)
        rows = np.arange(len(self.ids))
        self.orders = {key: np.lexsort((rows, -self.columns[key])).astype(np.int32) for key in SORTS}

    @classmethod
    def load(cls, settings: Settings, path: Path, catalogue: Catalogue) -> ScoreBoard:
        """Valued and decided by :func:`churn.decisions.prepare` — the same work `churn decide` starts with, the
        learned uplift included (:func:`batch.plan.learned_response`)."""
        scores = pd.read_parquet(path).reset_index(drop=True)
        refused = objected(settings.raw_dir, scores[ENTITY].astype(str))
        prevented, _ = learned_response(settings, scores, catalogue)
        return cls(path, prepare(scores, catalogue, settings.seed, refused, prevented))

    @property
    def attributes(self) -> dict[str, list[str]]:
        """The declared attributes one can filter on, with their values (bands and actions have their own)."""
        return {k: v[1] for k, v in self.filters.items() if k not in ("risk_band", "action")}

    def check(self, query: Query) -> Query:
        """The query with its values checked against what the file holds; InputError names the field."""
        if query.sort not in SORTS:
            raise InputError(f"sort: must be one of {', '.join(SORTS)}, got {query.sort!r}")
        for field, column, value in (("band", "risk_band", query.band), ("action", "action", query.action)):
            if value and value not in self.filters[column][1]:
                raise InputError(f"{field}: no customer has {value!r}; choose one of {self.filters[column][1]}")
        if query.attribute:
            if query.attribute not in self.attributes:
                raise InputError(f"attribute: {query.attribute!r} is not a filterable column of these scores")
            if query.value and query.value not in self.attributes[query.attribute]:
                raise InputError(f"value: {query.attribute} has no value {query.value!r}")
        if query.page < 1:
            raise InputError(f"page: must be 1 or more, got {query.page}")
        return query

    def _mask(self, query: Query) -> np.ndarray | None:
        mask: np.ndarray | None = None
        wanted = [("risk_band", query.band), ("action", query.action)]
        if query.attribute and query.value:
            wanted.append((query.attribute, query.value))
        for column, value in wanted:
            if not value:
                continue
            codes, categories = self.filters[column]
            hit = codes == categories.index(value)
            mask = hit if mask is None else mask & hit
        return mask

    def page(self, query: Query, size: int = PAGE_SIZE) -> Page:
        query = self.check(query)
        order = self.orders[query.sort]
        mask = self._mask(query)
        chosen = order if mask is None else order[mask[order]]
        total = len(chosen)
        pages = max(1, -(-total // size))
        if query.page > pages:
            raise InputError(f"page: there are {pages} page(s) for this filter, asked for page {query.page}")
        picked = chosen[(query.page - 1) * size : query.page * size]
        shown = [query.attribute] if query.attribute else []
        rows = [self.row(int(i), shown) for i in picked]
        return Page(rows, total, query.page, pages, query)

    def row(self, i: int, extra: list[str] | None = None) -> dict[str, Any]:
        out = {ENTITY: self.ids[i], **{k: v[i] for k, v in self.columns.items()}}
        for column in extra or []:
            out[column] = self.scores[column].iat[i]
        return out

    def find(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's latest score and decision, or None when this file does not hold them."""
        try:
            i = self.index.get_loc(customer_id)
        except KeyError:
            return None
        if not isinstance(i, int | np.integer):
            return None
        return {**self.row(int(i)), "snapshot_date": self.scores["snapshot_date"].iat[int(i)],
                "model_version": self.scores["model_version"].iat[int(i)]}  # fmt: skip


class ScoreCache:
    """The newest scores file's board, rebuilt when the file or the objections on record change (an objection
    takes a customer out of the list's targets and the plan at once, as it does `churn decide`'s); one build at
    a time."""

    def __init__(self, settings: Settings, catalogue: Catalogue) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self._board: ScoreBoard | None = None
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._lock = threading.Lock()

    def newest(self) -> Path | None:
        found = sorted(self.settings.outputs_dir.glob("batch_scores_*.parquet"))
        return found[-1] if found else None

    def board(self) -> ScoreBoard | None:
        path = self.newest()
        if path is None:
            return None
        stamp = tuple(file_stamps([path, *record_files(self.settings.raw_dir)]))
        with self._lock:
            if self._stamp != stamp:
                self._board = ScoreBoard.load(self.settings, path, self.catalogue)
                self._stamp = stamp
            return self._board
