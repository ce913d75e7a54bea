"""Versioned feature services: the contract between a model and its features.

A model records the service it was trained on; serving and batch scoring read
exactly that one. Changing a model's inputs means a new version, not an edit.
"""

from typing import Any

from feast import FeatureService

from churn.schema import DEFAULT_SERVICE


def feature_services(views: list[Any]) -> list[FeatureService]:
    return [
        FeatureService(
            name=DEFAULT_SERVICE,
            features=views,
            description="Inputs of the churn model, version 1: every snapshot feature.",
            tags={"owner": "churn-platform", "model": "churn"},
            owner="churn-platform",
        )
    ]
