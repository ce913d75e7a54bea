"""Feature views, grouped by meaning. Names, types and descriptions come from churn.schema."""

from datetime import timedelta

from data_sources import snapshots_source
from entities import customer
from feast import FeatureView, Field
from feast.types import Bool, Float64, Int64, String

from churn.schema import FEATURES

# A snapshot may be joined to entity times up to one month after it, never to a later month's rows.
SNAPSHOT_TTL = timedelta(days=31)
_TYPES = {"int": Int64, "float": Float64, "bool": Bool, "string": String}


def _fields(group: str) -> list[Field]:
    return [Field(name=f.name, dtype=_TYPES[f.dtype], description=f.description) for f in FEATURES if f.group == group]


def _view(name: str, group: str, description: str) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[customer],
        ttl=SNAPSHOT_TTL,
        schema=_fields(group),
        source=snapshots_source,
        online=True,
        description=description,
        tags={"owner": "churn-platform", "group": group, "cadence": "monthly"},
        owner="churn-platform",
    )


customer_profile = _view("customer_profile", "profile", "Contract, services, payment and demographics.")
customer_billing = _view("customer_billing", "billing", "Invoices: latest, 3-month mean, 6-month trend, total.")
customer_behaviour = _view("customer_behaviour", "behaviour", "Support tickets and late payments known in time.")
