"""Feature views, grouped by meaning. Names, types and descriptions come from churn.schema."""

from datetime import timedelta
from typing import Any

from feast import Entity, FeatureView, Field
from feast.types import Bool, Float64, Int64, String

from churn.schema import FEATURES

# A snapshot may be joined to entity times up to one month after it, never to a later month's rows.
SNAPSHOT_TTL = timedelta(days=31)
_TYPES = {"int": Int64, "float": Float64, "bool": Bool, "string": String}
VIEWS = (
    ("customer_profile", "profile", "Contract, services, payment and demographics."),
    ("customer_billing", "billing", "Invoices: latest, 3-month mean, 6-month trend, total."),
    ("customer_behaviour", "behaviour", "Support tickets and late payments known in time."),
)


def _fields(group: str) -> list[Field]:
    return [Field(name=f.name, dtype=_TYPES[f.dtype], description=f.description) for f in FEATURES if f.group == group]


def feature_views(source: Any, entity: Entity) -> list[FeatureView]:
    return [
        FeatureView(
            name=name,
            entities=[entity],
            ttl=SNAPSHOT_TTL,
            schema=_fields(group),
            source=source,
            online=True,
            description=description,
            tags={"owner": "churn-platform", "group": group, "cadence": "monthly"},
            owner="churn-platform",
        )
        for name, group, description in VIEWS
    ]
