"""Versioned feature services: the contract between a model and its features.

A model records the service it was trained on; serving and batch scoring read
exactly that one. Changing a model's inputs means a new version, not an edit.
"""

from feast import FeatureService
from features import customer_behaviour, customer_billing, customer_profile

churn_model_v1 = FeatureService(
    name="churn_model_v1",
    features=[customer_profile, customer_billing, customer_behaviour],
    description="Inputs of the churn model, version 1: every snapshot feature.",
    tags={"owner": "churn-platform", "model": "churn"},
    owner="churn-platform",
)
