"""Versioned feature services: the contract between a model and its features.

A model records the service it was trained on; serving and batch scoring read
exactly that one. Changing a model's inputs means a new version, not an edit.
"""

from typing import Any

from feast import FeatureService

from churn.declared import DECLARED_GROUP, PLATFORM_FEATURES, FeatureSet
from churn.schema import DEFAULT_SERVICE, MODEL_GROUPS, TIMES_COLUMNS

FIRST_SERVICE = "churn_model_v1"  # the monthly features alone: models trained before the event windows read it


def _inputs(view: Any) -> Any:
    """The view's model inputs: a windowed view's event-time support columns are not features."""
    names = [f.name for f in view.features if f.name not in TIMES_COLUMNS]
    return view if len(names) == len(view.features) else view[names]


def _kept(view: Any, names: tuple[str, ...]) -> Any | None:
    """The view projected on the model features it holds (None when it holds none)."""
    kept = [f.name for f in view.features if f.name in names]
    if not kept:
        return None
    return view if len(kept) == len(view.features) else view[kept]


def declared_service(views: list[Any], features: FeatureSet) -> FeatureService:
    """The deployment's service: the platform features it keeps and its declared ones, named for the declaration."""
    groups = (*MODEL_GROUPS, DECLARED_GROUP)
    ordered = sorted((v for v in views if v.tags.get("group") in groups), key=lambda v: groups.index(v.tags["group"]))
    projections = [p for v in ordered if (p := _kept(v, features.model_features)) is not None]
    return FeatureService(
        name=features.service_name,
        features=projections,
        description=f"Inputs of the churn model for this deployment's declaration {features.digest[:8]}: "
        f"{len(features.model_features)} features, {len(features.declared)} of them declared.",
        tags={"owner": "churn-platform", "model": "churn", "declaration": features.digest},
        owner="churn-platform",
    )


def feature_services(views: list[Any], features: FeatureSet = PLATFORM_FEATURES) -> list[FeatureService]:
    """v1: the monthly views. v2: the monthly behaviour counts give way to the same signal on event time (90 days of
    tickets, 180 of late payments), which events move between snapshots; the model keeps as many inputs."""
    monthly = [v for v in views if v.name != "customer_fresh" and v.tags.get("group") != DECLARED_GROUP]
    current = sorted(
        (v for v in views if v.tags.get("group") in MODEL_GROUPS), key=lambda v: MODEL_GROUPS.index(v.tags["group"])
    )
    return [
        FeatureService(
            name=FIRST_SERVICE,
            features=monthly,
            description="Inputs of the churn model, version 1: the monthly snapshot features.",
            tags={"owner": "churn-platform", "model": "churn"},
            owner="churn-platform",
        ),
        FeatureService(
            name=DEFAULT_SERVICE,
            features=[_inputs(v) for v in current],
            description="Inputs of the churn model, version 2: profile, billing and the event-time windows.",
            tags={"owner": "churn-platform", "model": "churn"},
            owner="churn-platform",
        ),
    ] + ([] if features.is_platform else [declared_service(views, features)])
