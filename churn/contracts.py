"""Dataframe contracts (pandera) derived from ``churn.schema``, never written by hand."""

from __future__ import annotations

from functools import lru_cache

import pandera.pandas as pa

from churn.declared import PLATFORM_FEATURES, FeatureSet
from churn.labels import PLATFORM, Labels
from churn.schema import (
    CREATED_TIMESTAMP,
    ENTITY,
    EVENT_TIMESTAMP,
    LABEL,
    Feature,
)

_DTYPES = {"int": "int64", "float": "float64", "bool": "bool", "string": "object"}


def _column(feature: Feature, labels: Labels) -> pa.Column:
    checks = []
    categories = labels.of_feature(feature.name) or feature.categories
    if categories:
        checks.append(pa.Check.isin(list(categories)))
    if feature.min is not None:
        checks.append(pa.Check.ge(feature.min))
    if feature.max is not None:
        checks.append(pa.Check.le(feature.max))
    dtype = "Int64" if (feature.dtype == "int" and feature.nullable) else _DTYPES[feature.dtype]
    return pa.Column(dtype, checks=checks, nullable=feature.nullable, coerce=False)


@lru_cache(maxsize=4)
def snapshot_schema(labels: Labels = PLATFORM, features: FeatureSet = PLATFORM_FEATURES) -> pa.DataFrameSchema:
    """The snapshot contract; categorical features take the source's labels (the platform's and its own), and the
    deployment's declared features are checked beside the platform's."""
    timestamp = pa.Column("datetime64[ns, UTC]", nullable=False)
    return pa.DataFrameSchema(
        {
            ENTITY: pa.Column(str, pa.Check.str_length(1, 64), nullable=False),
            EVENT_TIMESTAMP: timestamp,
            CREATED_TIMESTAMP: timestamp,
            **{f.name: _column(f, labels) for f in features.features},
        },
        unique=[ENTITY, EVENT_TIMESTAMP],
        strict=False,
    )


@lru_cache(maxsize=1)
def label_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            ENTITY: pa.Column(str, nullable=False),
            EVENT_TIMESTAMP: pa.Column("datetime64[ns, UTC]", nullable=False),
            LABEL: pa.Column("int8", pa.Check.isin([0, 1]), nullable=False),
        },
        unique=[ENTITY, EVENT_TIMESTAMP],
        strict=True,
    )
