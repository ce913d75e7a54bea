"""The serving benchmark's ceiling: a BentoML endpoint that returns a constant (framework cost only)."""

import bentoml


@bentoml.service(name="const", workers=2, logging={"access": {"enabled": False}})
class Const:
    @bentoml.api(route="/predict_churn")
    def predict_churn(self, customer_id: str) -> dict:
        return {"customer_id": customer_id, "probability": 0.5}
