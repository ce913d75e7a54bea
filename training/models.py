"""The candidate models, their calibration, and the shipped model artifact.

Every candidate exposes ``fit`` and a raw ``score``; calibration maps scores to
probabilities the decision engine can multiply by money. The shipped model is
plain files — XGBoost's JSON, the encoder and the calibrator as JSON — so it
loads without pickle and with one thread per serving worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from training.encoding import FeatureEncoder

XGB_START = {  # the original design's parameters: a starting point for tuning, not the answer
    "max_depth": 6,
    "learning_rate": 0.05,
    "n_estimators": 200,
    "scale_pos_weight": 3.0,
}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


# --- Calibration ----------------------------------------------------------------------------------------------------


@dataclass
class Calibrator:
    """Score -> probability. ``sigmoid``: 1/(1+exp(-(a·logit(s)+b))); ``isotonic``: a monotone step map."""

    method: str
    a: float = 1.0
    b: float = 0.0
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    def __call__(self, score: np.ndarray) -> np.ndarray:
        if self.method == "identity":
            return np.asarray(score, dtype=np.float64)
        if self.method == "sigmoid":
            return 1.0 / (1.0 + np.exp(-(self.a * _logit(score) + self.b)))
        return np.interp(np.asarray(score, dtype=np.float64), self.x, self.y)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "a": self.a, "b": self.b, "x": self.x, "y": self.y}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibrator:
        return cls(**data)


def fit_calibrator(method: str, score: np.ndarray, y: np.ndarray) -> Calibrator:
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000)
        lr.fit(_logit(score)[:, None], y)
        return Calibrator("sigmoid", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
    iso.fit(np.asarray(score, dtype=np.float64), y)
    return Calibrator("isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())


def choose_calibrator(
    score: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int
) -> tuple[Calibrator, dict[str, float]]:
    """Sigmoid or isotonic, whichever has the lower Brier score under 2-fold cross-fitting on the holdout.

    Cross-fitting by customer keeps isotonic's flexibility from grading its own
    homework; the winner is then refitted on the whole holdout.
    """
    from churn.metrics import brier

    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    half = set(rng.permutation(uniq)[: len(uniq) // 2].tolist())
    in_a = np.array([g in half for g in groups])
    scores: dict[str, float] = {}
    for method in ("sigmoid", "isotonic"):
        pred = np.empty(len(y))
        for train_mask in (in_a, ~in_a):
            cal = fit_calibrator(method, score[train_mask], y[train_mask])
            pred[~train_mask] = cal(score[~train_mask])
        scores[method] = brier(y, pred)
    best = min(scores, key=lambda m: scores[m])
    return fit_calibrator(best, score, y), scores


# --- Candidates -----------------------------------------------------------------------------------------------------


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
        import xgboost as xgb

        dtrain = xgb.DMatrix(X, label=y)
        kwargs: dict[str, Any] = {}
        if valid is not None:
            kwargs = {"evals": [(xgb.DMatrix(valid[0], label=valid[1]), "valid")], "early_stopping_rounds": 30}
        self.booster = xgb.train(
            self._train_params(), dtrain, num_boost_round=self.n_estimators, verbose_eval=False, **kwargs
        )
        self.best_iteration = int(self.booster.best_iteration) if valid is not None else self.n_estimators - 1
        self.booster = self.booster[: self.best_iteration + 1]

    def score(self, X: np.ndarray, frame: pd.DataFrame | None = None) -> np.ndarray:
        return np.asarray(self.booster.inplace_predict(X), dtype=np.float64)


class LogisticCandidate:
    name = "logistic_regression"

    def __init__(self, seed: int) -> None:
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

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
        from sklearn.ensemble import HistGradientBoostingClassifier

        # no early stopping: its validation split is random rows, which would mix months
        self.model = HistGradientBoostingClassifier(
            max_iter=200,
            learning_rate=0.05,
            max_leaf_nodes=15,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )

    def fit(self, X: np.ndarray, y: np.ndarray, frame: pd.DataFrame | None = None) -> None:
        self.model.fit(X, y)

    def score(self, X: np.ndarray, frame: pd.DataFrame | None = None) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X)[:, 1], dtype=np.float64)


class RuleBaseline:
    """The design's rule: month-to-month customers with tenure under 12 months or monthly charges in the top
    quartile, ranked by monthly charges; everyone else after them, also by monthly charges."""

    name = "rule_based"

    def fit(self, X: np.ndarray, y: np.ndarray, frame: pd.DataFrame) -> None:
        charges = pd.to_numeric(frame["monthly_charges"], errors="coerce")
        self.top_quartile = float(np.nanquantile(charges, 0.75))

    def score(self, X: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        charges = pd.to_numeric(frame["monthly_charges"], errors="coerce").fillna(0.0).to_numpy()
        mtm = (frame["contract_type"] == "Month-to-month").to_numpy()
        tenure = pd.to_numeric(frame["tenure_months"], errors="coerce").fillna(0.0).to_numpy()
        target = mtm & ((tenure < 12) | (charges >= self.top_quartile))
        # a score in (0, 1) that ranks every targeted customer above every other one
        return (target + charges / (charges.max() + 1.0)) / 2.0


# --- The shipped model ----------------------------------------------------------------------------------------------


FAST_ROWS = 16  # up to this many rows, predict with the numpy tree walker (training/treeeval.py)


@dataclass
class ChurnModel:
    """Encoder + XGBoost booster + calibrator: what serving and batch scoring load."""

    encoder: FeatureEncoder
    booster: Any
    calibrator: Calibrator
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return list(self.encoder.features)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_matrix(self.encoder.transform(frame))

    def predict_rows(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """Calibrated probabilities for a few feature dicts (the API's path; same numbers as predict_proba)."""
        return self.predict_matrix(self.encoder.transform_rows(rows))

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        if len(X) <= FAST_ROWS and self._trees is not None:
            raw = self._trees.predict(X)  # ~10× cheaper than inplace_predict for a handful of rows
        else:
            raw = self.booster.inplace_predict(X)
        return self.calibrator(np.asarray(raw, dtype=np.float64))

    def __post_init__(self) -> None:
        from training.treeeval import TreeEnsemble, UnsupportedModel

        try:
            self._trees: TreeEnsemble | None = TreeEnsemble(self.booster)
        except UnsupportedModel:
            self._trees = None

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "booster.json"))
        (folder / "encoder.json").write_text(json.dumps(self.encoder.to_json(), indent=1))
        (folder / "calibrator.json").write_text(json.dumps(self.calibrator.to_json()))

    @classmethod
    def load(cls, folder: Path, metadata: dict[str, Any] | None = None, nthread: int = 1) -> ChurnModel:
        import xgboost as xgb

        missing = [n for n in ("booster.json", "encoder.json", "calibrator.json") if not (folder / n).exists()]
        if missing:
            raise FileNotFoundError(f"model artifact at {folder} is missing {', '.join(missing)}")
        booster = xgb.Booster()
        booster.load_model(str(folder / "booster.json"))
        booster.set_param({"nthread": nthread})
        return cls(
            encoder=FeatureEncoder.from_json(json.loads((folder / "encoder.json").read_text())),
            booster=booster,
            calibrator=Calibrator.from_json(json.loads((folder / "calibrator.json").read_text())),
            metadata=metadata or {},
        )
