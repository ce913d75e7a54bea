"""Feature views, grouped by meaning. Names, types and descriptions come from churn.schema."""

from datetime import timedelta
from typing import Any

from feast import Entity, FeatureView, Field, PushSource
from feast.types import Bool, Float64, Int64, String

from churn.declared import DECLARED_GROUP, PLATFORM_FEATURES, FeatureSet
from churn.schema import FEATURES, WINDOWED_FEATURES
from feature_repo.data_sources import DECLARED_AT

# A snapshot may be joined to entity times up to one month after it, never to a later month's rows.
SNAPSHOT_TTL = timedelta(days=31)
_TYPES = {"int": Int64, "float": Float64, "bool": Bool, "string": String}
VIEWS = (
    ("customer_profile", "profile", "Contract, services, payment and demographics."),
    ("customer_billing", "billing", "Invoices: latest, 3-month mean, 6-month trend, total."),
    ("customer_behaviour", "behaviour", "Support tickets and late payments known in time."),
    ("customer_fresh", "fresh", "Counts over event-time windows: built at each snapshot, moved online by events."),
)
FRESH_VIEW = "customer_fresh"
DECLARED_VIEW = "customer_declared"  # the deployment's own features (docs/byod.md), when it declares any
PUSH_SOURCE = "customer_events"  # `store.push` target: POST /events and `churn events push` write through it


def _fields(group: str) -> list[Field]:
    fields = [
        Field(name=f.name, dtype=_TYPES[f.dtype], description=f.description) for f in FEATURES if f.group == group
    ]
    fields += [
        Field(name=f.times_column, dtype=String, description=f"Event times (epoch ms) behind {f.name}; not an input.")
        for f in WINDOWED_FEATURES
        if f.group == group
    ]
    return fields


def push_source(source: Any) -> PushSource:
    """The fresh view's source: the snapshots offline (training, materialization), pushes online."""
    push = PushSource(name=PUSH_SOURCE, batch_source=source, description="Customer events pushed between snapshots.")
    push.created_timestamp = push.last_updated_timestamp = DECLARED_AT
    return push


def _declared_view(source: Any, entity: Entity, features: FeatureSet) -> FeatureView:
    return FeatureView(
        name=DECLARED_VIEW,
        entities=[entity],
        ttl=SNAPSHOT_TTL,
        schema=[Field(name=f.name, dtype=_TYPES[f.dtype], description=f.description,
                      tags={"declared": f.tags.get("declared", "")}) for f in (d.feature for d in features.declared)],
        source=source,
        online=True,
        description=f"The deployment's declared features (declaration {features.digest[:8]}).",
        tags={"owner": "churn-platform", "group": DECLARED_GROUP, "cadence": "monthly"},
        owner="churn-platform",
    )  # fmt: skip


def feature_views(source: Any, entity: Entity, features: FeatureSet = PLATFORM_FEATURES) -> list[FeatureView]:
    pushed = push_source(source)
    declared = [_declared_view(source, entity, features)] if features.declared else []
    return [
        FeatureView(
            name=name,
            entities=[entity],
            ttl=SNAPSHOT_TTL,
            schema=_fields(group),
            source=pushed if name == FRESH_VIEW else source,
            online=True,
            description=description,
            tags={"owner": "churn-platform", "group": group, "cadence": "events" if group == "fresh" else "monthly"},
            owner="churn-platform",
        )
        for name, group, description in VIEWS
    ] + declared
