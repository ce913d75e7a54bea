"""The single source of column names, types, categories, ranges and the label.

Raw validation, the snapshot builder, the Feast declarations and the API's
request model all derive from these constants, so that a new data source
means a mapping onto this schema, not a rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# --- Categories ------------------------------------------------------------------------------------------------

CONTRACTS = ("Month-to-month", "One year", "Two year")
CONTRACT_TERM_MONTHS = {"Month-to-month": 0, "One year": 12, "Two year": 24}
INTERNET_SERVICES = ("DSL", "Fiber optic", "No")
PAYMENT_METHODS = ("Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)")
GENDERS = ("Female", "Male")
TREATMENT_ARMS = ("treated", "control", "exploration")  # a campaign's arms (the treatments table)

# Services counted by num_services_total; internet counts when it is not "No".
ADDON_SERVICES = (
    "online_security",
    "online_backup",
    "device_protection",
    "tech_support",
    "streaming_tv",
    "streaming_movies",
)

# --- Raw schema ---------------------------------------------------------------------------------------------------
# Every raw record carries when the thing happened and when it became known (`known_at`). Times are UTC.

RawDtype = Literal["string", "timestamp", "int", "float", "bool", "category"]


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: dict[str, RawDtype]
    event_time: str
    doc: str


RAW_TABLES: dict[str, RawTable] = {
    t.name: t
    for t in (
        RawTable(
            "customers",
            {
                "customer_id": "string",
                "signup_at": "timestamp",
                "known_at": "timestamp",
                "gender": "category",
                "senior_citizen": "bool",
                "partner": "bool",
                "dependents": "bool",
            },
            "signup_at",
            "One row per customer: signup and demographics (assumed fixed).",
        ),
        RawTable(
            "service_changes",
            {
                "customer_id": "string",
                "effective_at": "timestamp",
                "known_at": "timestamp",
                "contract": "category",
                "contract_start": "timestamp",
                "phone_service": "bool",
                "multiple_lines": "bool",
                "internet_service": "category",
                **{name: "bool" for name in ADDON_SERVICES},
                "payment_method": "category",
                "paperless_billing": "bool",
            },
            "effective_at",
            "Full service/contract state from `effective_at` on (one row at signup, one per change).",
        ),
        RawTable(
            "billing",
            {
                "customer_id": "string",
                "period_month": "string",
                "billed_at": "timestamp",
                "known_at": "timestamp",
                "amount": "float",
            },
            "billed_at",
            "One invoice per customer and service month (`period_month`, YYYY-MM), billed in advance.",
        ),
        RawTable(
            "payments",
            {
                "customer_id": "string",
                "period_month": "string",
                "due_at": "timestamp",
                "known_at": "timestamp",
                "paid_late": "bool",
            },
            "due_at",
            "Whether each invoice was paid late; known only after the due date and a grace period.",
        ),
        RawTable(
            "tickets",
            {
                "customer_id": "string",
                "ticket_id": "string",
                "opened_at": "timestamp",
                "known_at": "timestamp",
            },
            "opened_at",
            "Support tickets; some are entered into the system days or weeks late.",
        ),
        RawTable(
            "churn_events",
            {
                "customer_id": "string",
                "churned_at": "timestamp",
                "known_at": "timestamp",
            },
            "churned_at",
            "When a customer left.",
        ),
        RawTable(
            "consents",
            {
                "customer_id": "string",
                "recorded_at": "timestamp",
                "known_at": "timestamp",
                "objected": "bool",
            },
            "recorded_at",
            "Objections to direct marketing (GDPR Art. 21) and their withdrawal; the latest record decides. Optional.",
        ),
        RawTable(
            "treatments",
            {
                "customer_id": "string",
                "campaign": "string",
                "action": "string",
                "arm": "category",
                "assignment_probability": "float",
                "assigned_at": "timestamp",
                "known_at": "timestamp",
            },
            "assigned_at",
            "Who a campaign treated, held out (control) or explored, with the assignment probability: a CRM's export "
            "through a mapping. Optional; campaigns the platform launches are logged beside it (churn.campaigns).",
        ),
    )
}

# The platform's labels of each raw category column: a mapping places a source's own labels onto these.
CATEGORY_VALUES: dict[str, tuple[str, ...]] = {
    "gender": GENDERS,
    "contract": CONTRACTS,
    "internet_service": INTERNET_SERVICES,
    "payment_method": PAYMENT_METHODS,
    "arm": TREATMENT_ARMS,
}
assert set(CATEGORY_VALUES) == {c for t in RAW_TABLES.values() for c, kind in t.columns.items() if kind == "category"}

# --- Features (the offline/online store's columns and the model's inputs) ------------------------------------------

FeatureDtype = Literal["int", "float", "bool", "string"]
FeatureGroup = Literal["profile", "billing", "behaviour", "fresh", "declared"]


@dataclass(frozen=True)
class EventWindow:
    """A count of one raw table's records whose event time falls in the ``days`` before an instant, known by then.

    Defined on event time, not on month starts, so the same definition holds at
    a snapshot (the offline builder) and at any instant between snapshots (the
    online store, moved by pushed events); ``churn.fresh`` evaluates both.
    ``where`` names a boolean column a record must have true to count.
    """

    table: str
    at: str
    days: int
    where: str | None = None


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: FeatureDtype
    group: FeatureGroup
    description: str
    nullable: bool = False
    categories: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    window: EventWindow | None = None

    @property
    def times_column(self) -> str:
        """The support column carrying the event times behind a windowed feature (not a model input)."""
        return f"{self.name}_times"


FEATURES: tuple[Feature, ...] = (
    Feature("tenure_months", "int", "profile", "Whole months from signup to the snapshot.", min=0, max=1200),
    Feature("contract_type", "string", "profile", "Contract in force before the snapshot.", categories=CONTRACTS),
    Feature(
        "contract_remaining_months",
        "int",
        "profile",
        "Months left in the current contract term (0 for month-to-month).",
        min=0,
        max=24,
    ),
    Feature("num_services_total", "int", "profile", "Phone, extra lines, internet and add-ons held.", min=0, max=9),
    Feature("has_fiber_optic", "bool", "profile", "Internet over fiber optic."),
    Feature("payment_method", "string", "profile", "Payment method.", categories=PAYMENT_METHODS),
    Feature("paperless_billing", "bool", "profile", "Paperless billing."),
    Feature("gender", "string", "profile", "Gender.", categories=GENDERS),
    Feature("senior_citizen", "bool", "profile", "Senior citizen."),
    Feature("partner", "bool", "profile", "Has a partner."),
    Feature("dependents", "bool", "profile", "Has dependents."),
    Feature(
        "monthly_charges",
        "float",
        "billing",
        "Latest invoice known before the snapshot.",
        nullable=True,
        min=0,
        max=10_000,
    ),
    Feature(
        "avg_monthly_charges_3m",
        "float",
        "billing",
        "Mean invoice over the 3 months before the snapshot.",
        nullable=True,
        min=0,
        max=10_000,
    ),
    Feature(
        "charges_trend_6m",
        "float",
        "billing",
        "Least-squares slope of invoices over up to 6 prior months (per month); null under 2 invoices.",
        nullable=True,
        min=-10_000,
        max=10_000,
    ),
    Feature("total_charges_to_date", "float", "billing", "Sum of invoices known before the snapshot.", min=0, max=1e7),
    Feature(
        "is_high_value",
        "bool",
        "billing",
        "Monthly charges in the top 25% of customers active at the snapshot.",
    ),
    Feature(
        "num_support_tickets_3m",
        "int",
        "behaviour",
        "Tickets opened in the 3 months before the snapshot and known by then; null where the source has none.",
        nullable=True,
        min=0,
        max=1000,
    ),
    Feature(
        "num_late_payments_6m",
        "int",
        "behaviour",
        "Invoices of the 6 months before the snapshot known by then to be paid late; null where the source has none.",
        nullable=True,
        min=0,
        max=6,
    ),
    Feature(
        "tickets_90d",
        "int",
        "fresh",
        "Tickets opened in the 90 days before the instant and known by then; moves online with every pushed ticket.",
        nullable=True,
        min=0,
        max=1000,
        window=EventWindow("tickets", "opened_at", 90),
    ),
    Feature(
        "late_payments_180d",
        "int",
        "fresh",
        "Payments due in the 180 days before the instant and known by then to be late; moves online with every "
        "pushed late payment.",
        nullable=True,
        min=0,
        max=100,
        window=EventWindow("payments", "due_at", 180, where="paid_late"),
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
# The current feature service's inputs (churn_model_v2): the monthly behaviour counts are still built (v1 reads
# them) but give way to the same signal on event time, which events move between snapshots.
MODEL_GROUPS: tuple[FeatureGroup, ...] = ("profile", "billing", "fresh")
MODEL_FEATURES: tuple[str, ...] = tuple(f.name for g in MODEL_GROUPS for f in FEATURES if f.group == g)
FEATURES_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.dtype == "string")

# A customer id: 1-64 letters, digits and `_ . : -`, starting with a letter or digit (so never a spreadsheet formula)
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"
DEFAULT_SERVICE = "churn_model_v2"  # the versioned feature service models train on unless told otherwise
ENTITY = "customer_id"
EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"
PARTITION = "snapshot_month"
LABEL = "churned"

# Windowed features and the support columns carrying their event times (epoch seconds, space-separated): the
# online store keeps them so a pushed event can move the count, and windows can slide, between snapshots.
WINDOWED_FEATURES: tuple[Feature, ...] = tuple(f for f in FEATURES if f.window is not None)
TIMES_COLUMNS: tuple[str, ...] = tuple(f.times_column for f in WINDOWED_FEATURES)
SNAPSHOT_COLUMNS: tuple[str, ...] = (ENTITY, EVENT_TIMESTAMP, CREATED_TIMESTAMP, *FEATURE_NAMES, *TIMES_COLUMNS)
