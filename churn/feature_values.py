"""Checks one customer's feature values against the schema: for "what if" requests and anything typed by hand.

The offline store is checked by the pandera contracts; a person typing a vector
gets the same rules (type, category, range, nullability) with every problem
named by its feature, all at once, rather than a model that silently scores
nonsense.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from churn.declared import PLATFORM_FEATURES, FeatureSet
from churn.errors import InputError
from churn.labels import PLATFORM, Labels
from churn.schema import Feature


class FeatureValueError(InputError):
    """Feature values that break the schema; ``problems`` holds (feature, what is wrong) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in problems))


def _check(feature: Feature, value: Any, categories: tuple[str, ...]) -> tuple[Any, str | None]:
    if value is None:
        return None, None if feature.nullable else "must not be null"
    if feature.dtype == "bool":
        return (value, None) if isinstance(value, bool) else (None, f"must be true or false, got {value!r}")
    if feature.dtype == "string":
        if not isinstance(value, str):
            return None, f"must be a string, got {value!r}"
        if categories and value not in categories:
            return None, f"must be one of {list(categories)}, got {value!r}"
        return value, None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, f"must be a number, got {value!r}"
    if not math.isfinite(value):
        return None, f"must be finite, got {value!r}"
    if feature.dtype == "int":
        if float(value) != int(value):
            return None, f"must be a whole number, got {value!r}"
        value = int(value)
    else:
        value = float(value)
    if feature.min is not None and value < feature.min:
        return None, f"must be at least {feature.min:g}, got {value}"
    if feature.max is not None and value > feature.max:
        return None, f"must be at most {feature.max:g}, got {value}"
    return value, None


def check_feature_values(
    values: Mapping[str, Any],
    required: Sequence[str] = (),
    allowed: Sequence[str] | None = None,
    labels: Labels = PLATFORM,
    features: FeatureSet = PLATFORM_FEATURES,
) -> dict[str, Any]:
    """Validated, normalised values (ints as int, floats as float); raises FeatureValueError naming each problem.

    ``required`` lists features that must be present (a whole vector for a
    customer the store does not know); ``allowed`` limits the names to a
    model's features; ``labels`` are the source's category labels (the
    platform's and its own); ``features`` the deployment's (its declared ones typed like the platform's).
    """
    problems: list[tuple[str, str]] = []
    out: dict[str, Any] = {}
    by_name = features.by_name
    names = set(allowed) if allowed is not None else set(by_name)
    for name, value in values.items():
        feature = by_name.get(name)
        if feature is None or name not in names:
            problems.append((name, f"unknown feature; expected one of {sorted(names)}"))
            continue
        clean, problem = _check(feature, value, labels.of_feature(name) or feature.categories)
        if problem:
            problems.append((name, problem))
        else:
            out[name] = clean
    problems += [(name, "missing") for name in required if name not in values]
    if problems:
        raise FeatureValueError(problems)
    return out
