"""Feature vectors -> model matrix, from the schema's categories; saved with the model as JSON.

One encoder serves every model, training and serving alike: categories are
one-hot encoded in the schema's fixed order (an unseen category is all zeros),
booleans become 0/1, numbers stay numbers with NaN for missing (XGBoost and
HistGradientBoosting route missing values; the logistic pipeline imputes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churn.declared import PLATFORM_FEATURES, FeatureSet
from churn.labels import PLATFORM, Labels


@dataclass(frozen=True)
class FeatureEncoder:
    features: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]

    @classmethod
    def for_features(
        cls, names: list[str] | tuple[str, ...], labels: Labels = PLATFORM, features: FeatureSet = PLATFORM_FEATURES
    ) -> FeatureEncoder:
        """One-hot columns in the labels' order: the platform's, then the source's own; a declared category in the
        order its labels were read (saved with the model, so serving encodes exactly as training did)."""
        by_name = features.by_name
        cats = {n: labels.of_feature(n) or by_name[n].categories for n in names if by_name[n].dtype == "string"}
        return cls(features=tuple(names), categories=cats)

    @property
    def columns(self) -> list[str]:
        out: list[str] = []
        for name in self.features:
            if name in self.categories:
                out += [f"{name}={c}" for c in self.categories[name]]
            else:
                out.append(name)
        return out

    @property
    def source_of_column(self) -> list[str]:
        """For each matrix column, the feature it came from (to fold one-hot contributions back)."""
        return [c.split("=", 1)[0] for c in self.columns]

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        blocks: list[np.ndarray] = []
        for name in self.features:
            values = df[name]
            if name in self.categories:
                codes = pd.Categorical(values.astype(object), categories=list(self.categories[name])).codes
                onehot = np.zeros((len(df), len(self.categories[name])), dtype=np.float32)
                known = codes >= 0
                onehot[np.flatnonzero(known), codes[known]] = 1.0
                blocks.append(onehot)
            else:
                blocks.append(pd.to_numeric(values, errors="coerce").astype("float64").to_numpy(np.float32)[:, None])
        return np.hstack(blocks) if blocks else np.zeros((len(df), 0), dtype=np.float32)

    def transform_rows(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """:meth:`transform` for a few rows as dicts, without building a DataFrame (the API's per-request path).

        Same matrix as :meth:`transform` (a test checks it); ~20× cheaper for one row.
        """
        X = np.zeros((len(rows), len(self.columns)), dtype=np.float32)
        for i, row in enumerate(rows):
            col = 0
            for name in self.features:
                value = row.get(name)
                cats = self.categories.get(name)
                if cats is not None:
                    if value in cats:
                        X[i, col + cats.index(value)] = 1.0
                    col += len(cats)
                else:
                    X[i, col] = np.nan if value is None else float(value)
                    col += 1
        return X

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "categories": {k: list(v) for k, v in self.categories.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureEncoder:
        return cls(features=tuple(data["features"]), categories={k: tuple(v) for k, v in data["categories"].items()})
