"""The customer entity."""

from feast import Entity, ValueType

from churn.schema import ENTITY


def customer() -> Entity:
    return Entity(
        name="customer",
        join_keys=[ENTITY],
        value_type=ValueType.STRING,
        description="A subscriber, by the id of the source system.",
        tags={"owner": "churn-platform"},
    )
