"""The candidate models: every one exposes ``fit`` and a raw ``score``, fitted on the same months as the others."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from churn.policy import charges_quartile, rule_score
from training.config import HGB_PARAMS


class Candidate(Protocol):
    name: str

    def fit(self, X: np.ndarray, y: np.ndarray, frame: pd.DataFrame) -> None: ...

    def score(self, X: np.ndarray, frame: pd.DataFrame) -> np.ndarray: ...


class XGBoostCandidate:
    name = "xgboost"

    def __init__(self, params: dict[str, Any], seed: int, n_estimators: int | None = None) -> None:
        self.params = params
        self.seed = seed
        self.n_estimators = n_estimators or int(params.get("n_estimators", 200))
        self.booster: Any = None
        self.best_iteration: int | None = None

    def _train_params(self) -> dict[str, Any]:
        p = {k: v for k, v in self.params.items() if k != "n_estimators"}
        return {
            "objective": "binary:logistic",
            "eval_metric": "aucpr",
            "tree_method": "hist",
            "seed": self.seed,
            "nthread": 2,
            **p,
        }

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        frame: pd.DataFrame | None = None,
        valid: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        dvalid = None if valid is None else xgb.DMatrix(valid[0], label=valid[1])
        self.fit_matrices(xgb.DMatrix(X, label=y), dvalid)

    def fit_matrices(self, dtrain: xgb.DMatrix, dvalid: xgb.DMatrix | None = None) -> None:
        """Fit on matrices built once: tuning fits every configuration on the same fold, and XGBoost keeps a
        matrix's histogram cuts with it, so its rows are copied and sketched once per fold, not per fit."""
        kwargs: dict[str, Any] = {}
        if dvalid is not None:
            kwargs = {"evals": [(dvalid, "valid")], "early_stopping_rounds": 30}
        self.booster = xgb.train(
            self._train_params(), dtrain, num_boost_round=self.n_estimators, verbose_eval=False, **kwargs
        )
        self.best_iteration = int(self.booster.best_iteration) if dvalid is not None else self.n_estimators - 1
        self.booster = self.booster[: self.best_iteration + 1]

    def score(self, X: np.ndarray, frame: pd.DataFrame | None = None) -> np.ndarray:
        return np.asarray(self.booster.inplace_predict(X), dtype=np.float64)


class LogisticCandidate:
    name = "logistic_regression"

    def __init__(self, seed: int) -> None:
        self.model = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True),
            StandardScaler(),
            LogisticRegression(C=1.0, max_iter=2000, random_state=seed),
        )

    def fit(self, X: np.ndarray, y: np.ndarray, frame: pd.DataFrame | None = None) -> None:
        self.model.fit(X, y)  # features without values in training were left out before (training.readiness)

    def score(self, X: np.ndarray, frame: pd.DataFrame | None = None) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X)[:, 1], dtype=np.float64)


class HistGBCandidate:
    name = "hist_gradient_boosting"

    def __init__(self, seed: int) -> None:
        self.model = HistGradientBoostingClassifier(**HGB_PARAMS, random_state=seed)

    def fit(self, X: np.ndarray, y: np.ndarray, frame: pd.DataFrame | None = None) -> None:
        self.model.fit(X, y)

    def score(self, X: np.ndarray, frame: pd.DataFrame | None = None) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X)[:, 1], dtype=np.float64)


class RuleBaseline:
    """The design's rule (:func:`churn.policy.rule_score`), its charges quartile fixed on the training months."""

    name = "rule_based"

    def fit(self, X: np.ndarray, y: np.ndarray, frame: pd.DataFrame) -> None:
        self.top_quartile = charges_quartile(frame)

    def score(self, X: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        return rule_score(frame, self.top_quartile)
