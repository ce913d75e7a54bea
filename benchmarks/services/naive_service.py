"""The serving benchmark's baseline: the straightforward endpoint (Feast's online read + the model, per request)."""

import bentoml

from churn.settings import get_settings
from store.feast_store import feature_service, get_store
from training import registry


@bentoml.service(name="naive", workers=2)
class Naive:
    def __init__(self):
        settings = get_settings()
        self.store = get_store(settings)
        self.model = registry.load_champion(settings)

    @bentoml.api(route="/predict_churn")
    def predict_churn(self, customer_id: str) -> dict:
        service = feature_service(self.store)
        frame = self.store.get_online_features(features=service, entity_rows=[{"customer_id": customer_id}]).to_df()
        p = float(self.model.predict_proba(frame)[0])
        return {"customer_id": customer_id, "probability": p}
