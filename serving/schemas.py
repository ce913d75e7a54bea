"""Request and response models of the HTTP API (they are its OpenAPI schema at /docs.json).

Requests are strict: unknown fields, wrong JSON types ("true" for true) and
empty or over-long ids are refused with the field named, before any work.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model, field_validator

from churn.schema import CUSTOMER_ID_PATTERN, FEATURES, Feature

MAX_BATCH = 1000
Horizon = Annotated[int, Field(ge=1, le=60)]
CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=CUSTOMER_ID_PATTERN)]
_PYTHON_TYPES: dict[str, Any] = {"int": int, "float": float, "bool": bool, "string": str}


def _feature_field(feature: Feature) -> tuple[Any, Any]:
    kind: Any = _PYTHON_TYPES[feature.dtype]
    if feature.nullable:
        kind = kind | None
    extra: dict[str, Any] = (
        {"minimum": feature.min, "maximum": feature.max} if feature.dtype in ("int", "float") else {}
    )
    description = feature.description
    if feature.categories:  # the source's labels: the platform's, plus any its mapping declares (checked per request)
        extra = {"examples": list(feature.categories)}
        description += (
            f" One of the source's labels: the platform's ({', '.join(feature.categories)}) and any its mapping "
            "declares."
        )
    return kind, Field(None, description=description, json_schema_extra=extra or None)


# One optional field per platform feature, typed as the schema says: the what-if object is documented feature by
# feature at /docs.json (bounds included). Types are checked here (400); values — ranges, which every numeric
# feature has, and the source's category labels — by the core (churn.feature_values), 422 naming the feature, so
# that a value the model's float32 cannot hold never reaches it. A deployment's declared features are not known at
# import (they come with its data), so other names pass through to the core, which types them by the deployment's
# declaration and refuses a name the model's feature service does not have (422 naming it): a typo is still
# refused, never ignored.
FeatureOverrides: Any = create_model(  # type: ignore[call-overload]
    "FeatureOverrides",
    __config__=ConfigDict(extra="allow", strict=True),
    **{f.name: _feature_field(f) for f in FEATURES},
)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customer_id: CustomerId = Field(description="The customer to score (letters, digits, `_ . : -`; 1–64 chars).")
    explain: bool = Field(False, description="Add the top factors behind the score (exact TreeSHAP; scope explain).")
    top_k: int = Field(3, ge=1, le=20, description="How many factors to return when explaining.")
    features: FeatureOverrides | None = Field(
        None,
        description=(
            "What-if: feature values overriding the stored vector, or the whole vector for an id the store "
            "does not know. Validated against the feature schema; the answer is marked what_if."
        ),
    )
    horizons: list[Horizon] | None = Field(
        None,
        min_length=1,
        max_length=12,
        description="Months (1–60) to give P(churn within) for; default 1, 3, 6 and 12 (needs a lifetime model).",
    )


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customer_ids: list[CustomerId] = Field(
        min_length=1, max_length=MAX_BATCH, description="Up to 1,000 distinct ids; each costs one rate-limit token."
    )
    explain: bool = Field(False, description="Add the top factors (at most 100 customers; needs the explain scope).")
    top_k: int = Field(3, ge=1, le=20)

    @field_validator("customer_ids")
    @classmethod
    def _distinct(cls, ids: list[str]) -> list[str]:
        repeated = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) < len(ids) else []
        if repeated:
            raise ValueError(f"ids appear more than once: {repeated[:5]}")
        return ids


class Decision(BaseModel):
    action: str
    clv: float | None = Field(description="The customer's value; null when they are not scored (an objection).")
    clv_source: str = Field(description="Where the CLV came from: the survival model's version, or the formula.")
    cost: float
    success_rate: float
    expected_value: float
    target: bool
    excluded: str | None = Field(
        None, description="Why the customer is never targeted whatever the EV: an objection to direct marketing."
    )


class Factor(BaseModel):
    feature: str
    value: Any
    contribution: float
    direction: str


class Prediction(BaseModel):
    customer_id: str
    probability: float | None = Field(
        description="Calibrated churn probability; null for a customer who objected and is not scored."
    )
    risk_band: str | None
    model_version: str
    feature_timestamp: str | None
    what_if: bool
    decision: Decision
    expected_lifetime_months: float | None = Field(
        None, description="Expected months as a customer after this one, within 60 (the lifetime model's)."
    )
    horizons: dict[str, float] | None = Field(
        None, description="P(churn within h months) by h, from the lifetime model's survival curve."
    )
    factors: list[Factor] | None = None
    warnings: list[str] | None = Field(
        None, description="Present when the answer deserves caution, e.g. a model trained on another data source."
    )


class NotFoundItem(BaseModel):
    customer_id: str
    error: str
    detail: str


class BatchResponse(BaseModel):
    model_version: str
    found: int
    not_found: int
    results: list[Prediction | NotFoundItem]


class EventIn(BaseModel):
    """One customer event; which fields a type takes, and their values, are checked by ``churn.events``.

    Other fields are a declared metered type's metrics (the deployment's own, so not listed here); a field no type
    of the event has is refused by name, as a misspelt built-in field is."""

    model_config = ConfigDict(extra="allow")

    event_id: str = Field(description="Unique per event: a resent id is recorded and applied once.")
    customer_id: str = Field(description="A customer the online store knows.")
    type: str = Field(
        description="ticket_opened, payment_late, service_change, or a metered table the deployment's mapping "
        "declares (its fields: every metric of the table, as numbers)."
    )
    at: str = Field(description="When it happened: ISO 8601 with its zone (Z or an offset).")
    ticket_id: str | None = Field(None, description="ticket_opened: the ticket's id (default: the event id).")
    period_month: str | None = Field(None, description="payment_late: the invoice's month YYYY-MM (default: at's).")
    contract: str | None = Field(None, description="service_change: the new contract.")
    payment_method: str | None = Field(None, description="service_change: the new payment method.")
    paperless_billing: bool | None = Field(None, description="service_change: paperless billing on or off.")


class EventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=1000, description="1–1,000 events, applied in order.")


class EventOutcome(BaseModel):
    event_id: str
    customer_id: str
    status: str = Field(
        description="applied (recorded, online values moved), recorded (online unchanged: outside "
        "every current window, or a profile change for the next snapshot), duplicate, or refused."
    )
    detail: str | None = None


class EventsResponse(BaseModel):
    applied: int
    recorded: int
    duplicate: int
    refused: int
    results: list[EventOutcome]
