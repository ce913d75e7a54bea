"""The customer entity."""

from feast import Entity, ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A subscriber, by the id of the source system.",
    tags={"owner": "churn-platform"},
)
