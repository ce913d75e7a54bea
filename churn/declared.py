"""Features a deployment declares: static attributes and windowed aggregates over metered tables.

The platform's telecom features are a default, not a limit. A source mapping's
``features`` section (docs/byod.md) keeps all, some or none of them and adds
features of its own:

- an **attribute**: a per-customer value (number, count, flag or category) read
  from a column of the customers export, or of a cross-section file, and held
  like the demographics;
- an **aggregate**: ``sum``, ``mean``, ``count``, ``max``, ``last`` or ``trend``
  of one metric of a metered table (usage readings: minutes, data, logins, calls)
  over the N whole months before the snapshot, counting only readings known
  before it (``known_at < T``), exactly like the invoices.

The ingest resolves the declaration (a category's labels are read off the
data) and writes it into the raw manifest; the offline manifest carries it on.
From there one :class:`FeatureSet` tells every layer what the deployment's
features are: the builder and its slow twin, the contracts, the Feast views and
the versioned feature service, the encoder, the leakage gate, the API's
what-if, drift. A deployment that declares nothing gets exactly the platform's
features and the service ``churn_model_v2``; any declaration gets a service
named for its digest (``churn_model_v2_<8 hex>``), so a changed declaration
never silently reuses an older model's contract.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from churn.schema import (
    DEFAULT_SERVICE,
    ENTITY,
    FEATURES,
    MODEL_FEATURES,
    RAW_TABLES,
    SNAPSHOT_COLUMNS,
    Feature,
)

Aggregate = Literal["sum", "mean", "count", "max", "last", "trend"]
AttributeType = Literal["number", "count", "flag", "category"]
MANIFEST_KEY = "declared_features"  # in the raw and the offline manifests
METERED_KEY = "metered_tables"  # raw manifest: metered table -> its metric columns
METERED_PREFIX = "metered_"  # a metered table's raw file: data/raw/metered_<name>.parquet
MAX_WINDOW_MONTHS = 120
NUMBER_BOUND = 1e12  # what-if values beyond it would not survive the model's float32
DECLARED_GROUP: Literal["declared"] = "declared"
_NAME = r"^[a-z][a-z0-9_]{0,62}$"
# Names that say what the label says: refused by the leakage gate unless the mapping allows them by name.
SUSPECT_NAME = re.compile(
    r"churn|cancel|terminat|disconnect|deactivat|retention|retain|leaver|left_at|exit|winback|propensity|risk_score"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeclaredSpec(_Strict):
    """One declared feature: either ``attribute`` (a column) or ``table`` + ``aggregate`` + ``months``."""

    attribute: str | None = Field(
        None, description="Attribute: the column of the customers export (or of the cross-section file)."
    )
    type: AttributeType | None = Field(
        None, description="Attribute: number, count (a whole number), flag (yes/no) or category (labels)."
    )
    true_values: list[str] | None = Field(None, description="Flag: spellings of true (case-insensitive).")
    false_values: list[str] | None = Field(None, description="Flag: spellings of false (case-insensitive).")
    table: str | None = Field(None, description="Aggregate: a metered table declared under `metered`.")
    column: str | None = Field(None, description="Aggregate: the metric (a column of that table); not for count.")
    aggregate: Aggregate | None = Field(None, description="Aggregate: sum, mean, count, max, last or trend.")
    months: Any = Field(None, description="Aggregate: the window, whole months before the snapshot (1-120).")
    description: str = Field("", description="What the feature means; shown in the API's schema and the reports.")

    @field_validator("true_values", "false_values", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        if isinstance(value, list) and any(isinstance(v, bool) for v in value):
            raise ValueError('YAML read an unquoted yes/no/on/off/true/false as a boolean; quote labels, e.g. ["Yes"]')
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> DeclaredSpec:
        if (self.attribute is None) == (self.table is None):
            raise ValueError("give exactly one of `attribute` (a column) or `table` (a metered table's aggregate)")
        if self.attribute is not None:
            extra = [k for k in ("column", "aggregate", "months") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only for an aggregate over a metered table")
            if self.type is None:
                raise ValueError("an attribute needs `type`: number, count, flag or category")
            if (self.true_values or self.false_values) and self.type != "flag":
                raise ValueError("true_values/false_values: only for a flag")
            return self
        if self.type is not None or self.true_values or self.false_values:
            raise ValueError("type/true_values/false_values: only for an attribute (an aggregate is a number)")
        if self.aggregate is None:
            raise ValueError("an aggregate needs `aggregate`: sum, mean, count, max, last or trend")
        months = self.months
        if isinstance(months, bool) or not isinstance(months, int | float) or months != int(months) or months < 1:
            raise ValueError(f"months: the window must be a positive whole number of months, got {months!r}")
        if months > MAX_WINDOW_MONTHS:
            raise ValueError(f"months: at most {MAX_WINDOW_MONTHS}, got {months!r}")
        if self.aggregate != "count" and self.column is None:
            raise ValueError(f"`column`: the metric to take the {self.aggregate} of")
        if self.aggregate == "count" and self.column is not None:
            raise ValueError("`column`: a count counts readings; leave the metric out")
        return self


class FeaturesSpec(_Strict):
    """The deployment's features: which of the platform's to keep, and its own."""

    builtin: Literal["all", "none"] | list[str] = Field(
        "all", description="The platform's features the model keeps: all, none, or a list of their names."
    )
    declared: dict[str, DeclaredSpec] = Field(default_factory=dict, description="Feature name → its declaration.")
    allow: list[str] = Field(
        default_factory=list,
        description="Declared features the leakage gate lets through by name (say why in the description).",
    )


# --- The resolved declaration ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """A declared feature as the platform computes it (categories resolved from the data at ingest)."""

    feature: Feature
    kind: Literal["attribute", "aggregate"]
    table: str | None = None  # aggregate: the metered table
    column: str | None = None  # aggregate: the metric
    aggregate: str | None = None
    months: int | None = None
    source_column: str | None = None  # attribute: the export's column (for explanations of a refusal)

    @property
    def name(self) -> str:
        return self.feature.name

    def how_built(self) -> str:
        """One phrase a report or a refusal shows: where the value comes from and what it may see."""
        if self.kind == "attribute":
            return f"attribute from the export's column {self.source_column!r}, held from signup on"
        what = "readings" if self.aggregate == "count" else f"{self.column}"
        return (
            f"{self.aggregate} of {self.table}.{what} over the {self.months} month(s) before the snapshot, "
            "readings known before it"
        )

    def to_json(self) -> dict[str, Any]:
        f = self.feature
        return {
            "name": f.name,
            "kind": self.kind,
            "dtype": f.dtype,
            "description": f.description,
            "categories": list(f.categories),
            "table": self.table,
            "column": self.column,
            "aggregate": self.aggregate,
            "months": self.months,
            "source_column": self.source_column,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Declared:
        dtype = d["dtype"]
        numeric = dtype in ("int", "float")
        low = 0.0 if d["kind"] == "aggregate" and d.get("aggregate") == "count" else -NUMBER_BOUND
        feature = Feature(
            name=d["name"],
            dtype=dtype,
            group=DECLARED_GROUP,
            description=d.get("description") or "",
            nullable=numeric and d["kind"] == "aggregate",  # an attribute's blank is a rejected row, never a null
            categories=tuple(d.get("categories") or ()),
            min=low if numeric else None,
            max=NUMBER_BOUND if numeric else None,
            tags={"declared": d["kind"]},
        )
        return cls(feature, d["kind"], d.get("table"), d.get("column"), d.get("aggregate"), d.get("months"),
                   d.get("source_column"))  # fmt: skip


def attribute_dtype(kind: str) -> str:
    return {"number": "float", "count": "int", "flag": "bool", "category": "string"}[kind]


def aggregate_dtype(aggregate: str) -> str:
    return "int" if aggregate == "count" else "float"


def describe(name: str, spec: DeclaredSpec) -> str:
    if spec.description:
        return spec.description
    if spec.attribute is not None:
        return f"Declared attribute (the export's {spec.attribute})."
    what = "readings" if spec.aggregate == "count" else spec.column
    return f"Declared: {spec.aggregate} of {spec.table}.{what} over the {spec.months} month(s) before the snapshot."


def resolve(spec: FeaturesSpec, categories: Mapping[str, list[str]]) -> dict[str, Any]:
    """The manifest form of a declaration; ``categories`` gives each category attribute's labels (from the data)."""
    declared: list[dict[str, Any]] = []
    for name, d in spec.declared.items():
        if d.attribute is not None:
            assert d.type is not None
            dtype = attribute_dtype(d.type)
            declared.append({"name": name, "kind": "attribute", "dtype": dtype, "description": describe(name, d),
                             "categories": sorted(categories.get(name, [])) if d.type == "category" else [],
                             "table": None, "column": None, "aggregate": None, "months": None,
                             "source_column": d.attribute})  # fmt: skip
        else:
            assert d.aggregate is not None
            declared.append({"name": name, "kind": "aggregate", "dtype": aggregate_dtype(d.aggregate),
                             "description": describe(name, d), "categories": [], "table": d.table,
                             "column": d.column, "aggregate": d.aggregate, "months": int(d.months),
                             "source_column": None})  # fmt: skip
    builtin = spec.builtin if isinstance(spec.builtin, str) else list(spec.builtin)
    return {"builtin": builtin, "declared": declared, "allow": list(spec.allow)}


def problems(spec: FeaturesSpec, metered: Mapping[str, list[str]], where: str = "features") -> list[str]:
    """What the models cannot see alone: names, the built-in selection, metered tables and metrics, the allow list."""
    out: list[str] = []
    builtin_names = {f.name for f in FEATURES}
    if isinstance(spec.builtin, list):
        unknown = [n for n in spec.builtin if n not in MODEL_FEATURES]
        if unknown:
            out.append(f"{where}.builtin: {', '.join(unknown)} not among the platform's model features "
                       f"({', '.join(MODEL_FEATURES)})")  # fmt: skip
    reserved = builtin_names | {c for t in RAW_TABLES.values() for c in t.columns} | {ENTITY, "snapshot_month"}
    for name, d in spec.declared.items():
        at = f"{where}.declared.{name}"
        if not re.match(_NAME, name):
            out.append(f"{at}: a feature name is 1-63 lower-case letters, digits and _, starting with a letter")
        elif name in reserved:
            out.append(f"{at}: {name!r} is already a platform feature or raw column; choose another name")
        if d.table is not None:
            if d.table not in metered:
                out.append(f"{at}.table: {d.table!r} is not a metered table ({', '.join(metered) or 'none declared'})")
            elif d.column is not None and d.column not in metered[d.table]:
                out.append(f"{at}.column: {d.column!r} is not a metric of {d.table} ({', '.join(metered[d.table])})")
    for name in spec.allow:
        if name not in spec.declared:
            out.append(f"{where}.allow: {name!r} is not a declared feature")
    if spec.builtin == "none" and not spec.declared:
        out.append(f"{where}: builtin none and nothing declared leaves the model no feature")
    return out


@dataclass(frozen=True)
class FeatureSet:
    """A deployment's features: the platform's (all built; the model keeps ``builtin``) plus the declared ones."""

    declared: tuple[Declared, ...] = ()
    builtin: tuple[str, ...] | None = None  # None: every platform model feature
    allow: tuple[str, ...] = ()

    def __hash__(self) -> int:  # a cache key (the snapshot contract of these features)
        return int(self.digest[:15], 16) ^ hash(self.allow)

    @cached_property
    def features(self) -> tuple[Feature, ...]:
        return (*FEATURES, *(d.feature for d in self.declared))

    @cached_property
    def by_name(self) -> dict[str, Feature]:
        return {f.name: f for f in self.features}

    @property
    def declared_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.declared)

    @property
    def is_platform(self) -> bool:
        return not self.declared and self.builtin is None

    @property
    def model_features(self) -> tuple[str, ...]:
        kept = MODEL_FEATURES if self.builtin is None else tuple(n for n in MODEL_FEATURES if n in self.builtin)
        return (*kept, *self.declared_names)

    @property
    def digest(self) -> str:
        """SHA-256 of the declaration's canonical JSON (names, kinds, windows, labels, the built-in selection)."""
        body = {"builtin": list(self.builtin) if self.builtin is not None else "all",
                "declared": [d.to_json() for d in self.declared]}  # fmt: skip
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    @property
    def service_name(self) -> str:
        """The feature service a model of this deployment trains on: versioned by the declaration."""
        return DEFAULT_SERVICE if self.is_platform else f"{DEFAULT_SERVICE}_{self.digest[:8]}"

    @property
    def snapshot_columns(self) -> tuple[str, ...]:
        return (*SNAPSHOT_COLUMNS, *self.declared_names)

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.dtype == "string")

    @property
    def nullable_ints(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.dtype == "int" and f.nullable)

    def of(self, name: str) -> Declared | None:
        return next((d for d in self.declared if d.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "builtin": list(self.builtin) if self.builtin is not None else "all",
            "declared": [d.to_json() for d in self.declared],
            "allow": list(self.allow),
        }

    def changes_from(self, other: FeatureSet) -> dict[str, list[str]]:
        """What differs from ``other`` (the registered declaration): features added, removed, redefined."""
        mine = {d.name: d.to_json() for d in self.declared}
        theirs = {d.name: d.to_json() for d in other.declared}
        return {
            "added": sorted(set(mine) - set(theirs)),
            "removed": sorted(set(theirs) - set(mine)),
            "changed": sorted(n for n in set(mine) & set(theirs) if mine[n] != theirs[n]),
        }


PLATFORM_FEATURES = FeatureSet()


def feature_set(document: Mapping[str, Any] | None) -> FeatureSet:
    """The feature set a manifest's ``declared_features`` entry describes (the platform's for none)."""
    if not document:
        return PLATFORM_FEATURES
    builtin = document.get("builtin", "all")
    if builtin == "none":
        kept: tuple[str, ...] | None = ()
    elif builtin == "all" or builtin is None:
        kept = None
    else:
        kept = tuple(builtin)
    declared = tuple(Declared.from_json(d) for d in document.get("declared", []))
    return FeatureSet(declared=declared, builtin=kept, allow=tuple(document.get("allow", [])))


def features_of(manifest: Mapping[str, Any] | None) -> FeatureSet:
    """The feature set a raw (or offline) manifest records; the platform's when it records none."""
    return feature_set((manifest or {}).get(MANIFEST_KEY))
