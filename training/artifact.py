"""The shipped model: encoder + XGBoost booster + calibrator, saved as plain files, loaded by serving and scoring.

Plain files — XGBoost's JSON, the encoder and the calibrator as JSON — so it
loads without pickle and with one thread per serving worker. Fitting lives in
:mod:`training.candidates` and :mod:`training.calibration`; nothing here
imports scikit-learn, so a serving worker never loads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from churn.lineage import file_sha256
from training.encoding import FeatureEncoder
from training.treeeval import TreeEnsemble, UnsupportedModel


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


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
            return 1.0 / (1.0 + np.exp(-(self.a * logit(score) + self.b)))
        return np.interp(np.asarray(score, dtype=np.float64), self.x, self.y)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "a": self.a, "b": self.b, "x": self.x, "y": self.y}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibrator:
        return cls(**data)


ARTIFACT_FILES = ("booster.json", "encoder.json", "calibrator.json")


def artifact_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of each artifact file."""
    return {name: file_sha256(folder / name) for name in ARTIFACT_FILES if (folder / name).exists()}


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
        try:
            self._trees: TreeEnsemble | None = TreeEnsemble(self.booster)
        except UnsupportedModel:
            self._trees = None

    def save(self, folder: Path) -> dict[str, str]:
        """Write the artifact's files; returns their SHA-256 digests, which the registry records."""
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "booster.json"))
        (folder / "encoder.json").write_text(json.dumps(self.encoder.to_json(), indent=1))
        (folder / "calibrator.json").write_text(json.dumps(self.calibrator.to_json()))
        return artifact_digests(folder)

    @classmethod
    def load(
        cls,
        folder: Path,
        metadata: dict[str, Any] | None = None,
        nthread: int = 1,
        digests: dict[str, str] | None = None,
    ) -> ChurnModel:
        """Load the artifact; with ``digests``, refuse files whose SHA-256 differs from the recorded one."""
        missing = [n for n in ARTIFACT_FILES if not (folder / n).exists()]
        if missing:
            raise FileNotFoundError(f"model artifact at {folder} is missing {', '.join(missing)}")
        if digests:
            changed = [name for name, found in artifact_digests(folder).items() if digests.get(name) != found]
            if changed:
                raise ValueError(f"{', '.join(changed)} differ from the SHA-256 recorded at save (corrupt or altered)")
        booster = xgb.Booster()
        booster.load_model(str(folder / "booster.json"))
        booster.set_param({"nthread": nthread})
        return cls(
            encoder=FeatureEncoder.from_json(json.loads((folder / "encoder.json").read_text())),
            booster=booster,
            calibrator=Calibrator.from_json(json.loads((folder / "calibrator.json").read_text())),
            metadata=metadata or {},
        )
