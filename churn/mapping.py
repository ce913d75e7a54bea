"""A source mapping: how another company's exports land in the raw schema, declared in YAML.

The mapping is the contract between a user's files and the platform, so it is
strict: every key is known (a typo is an error, not a silently ignored
setting), every raw column is either mapped from a file column or given a
stated constant, and every table says when its rows became known — an export
without a ``known_at`` column must declare a lag (``known_at: {after:
billed_at, lag_days: 5}``), never be read as "known at once", since that is
exactly how leaked features are made. ``docs/byod.md`` documents the format
with complete examples; ``docs/mapping.schema.json`` is its JSON schema,
generated from these models (a test keeps it current).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from churn.declared import FeaturesSpec
from churn.declared import problems as feature_problems
from churn.errors import InputError
from churn.events import COMMON as EVENT_FIELDS
from churn.events import TYPES as EVENT_TYPES
from churn.labels import Labels, declare
from churn.schema import RAW_TABLES

REQUIRED_TABLES = ("customers", "service_changes", "billing", "churn_events")
OPTIONAL_TABLES = ("payments", "tickets")  # behaviour tables: their features are null without them
MONTH_COLUMNS = {"period_month"}  # raw columns holding a month label (YYYY-MM), converted from any date format
DEFAULT_TRUE = ("true", "t", "yes", "y", "1")
DEFAULT_FALSE = ("false", "f", "no", "n", "0")
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "mapping.schema.json"
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _no_yaml_booleans(value: Any) -> None:
    """YAML reads an unquoted Yes, No, On or Off as a boolean: the spelling the user meant is lost, so say so."""
    items = list(value.items()) if isinstance(value, dict) else value if isinstance(value, list) else []
    for item in items:
        for part in item if isinstance(item, tuple) else (item,):
            if isinstance(part, bool):
                raise ValueError(
                    'YAML read an unquoted yes/no/on/off/true/false as a boolean; quote labels, e.g. ["Yes"]'
                )


def _labels_quoted(value: Any) -> Any:
    """Each column's labels (a list, or a map of labels) checked by :func:`_no_yaml_booleans`."""
    for labels in value.values() if isinstance(value, dict) else []:
        _no_yaml_booleans(labels)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """Where one raw column comes from and how its values are read."""

    column: str | None = Field(None, description="The export's column name.")
    value: str | float | bool | None = Field(
        None, description="A constant for a column the export lacks; needs `assumption`."
    )
    assumption: str | None = Field(None, description="Why the constant is right; recorded in the raw manifest.")
    format: str | None = Field(
        None,
        description="Dates: a strptime format (e.g. '%d/%m/%Y %H:%M'), 'iso' (the default), 'epoch_s' or 'epoch_ms'.",
    )
    timezone: str | None = Field(None, description="Zone of dates written without one (default: the mapping's).")
    unit: Literal["units", "cents", "months", "days"] = Field(
        "units", description="Amounts: 'cents' divides by 100; tenure: 'days' counts whole months of 365.25/12 days."
    )
    true_values: list[str] | None = Field(None, description="Booleans: spellings of true (case-insensitive).")
    false_values: list[str] | None = Field(None, description="Booleans: spellings of false (case-insensitive).")

    @field_validator("true_values", "false_values", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        _no_yaml_booleans(value)
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnSpec:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of `column` (the export's column) or `value` (a constant)")
        if self.value is not None and not (self.assumption or "").strip():
            raise ValueError("a constant `value` needs an `assumption` saying why it holds for every row")
        return self


class KnownAfter(_Strict):
    """When rows became known, for an export with no such column: a stated lag after one of the table's times."""

    after: str = Field(description="A date column of this table (its raw name), e.g. billed_at.")
    lag_days: float = Field(ge=0, description="Days between that time and the moment the row was known.")


class FileSpec(_Strict):
    """Files of one kind and how their columns map onto the platform's."""

    files: list[str] = Field(min_length=1, description="Files or globs, relative to the mapping file.")
    format: Literal["csv", "parquet"] | None = Field(None, description="Default: from each file's extension.")
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    columns: dict[str, str | ColumnSpec] = Field(description="Raw column → the export's column name, or a spec.")
    categories: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Raw category column → {their label: our label}."
    )

    @field_validator("files", mode="before")
    @classmethod
    def _one_file(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("categories", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        return _labels_quoted(value)

    def spec(self, raw_column: str) -> ColumnSpec | None:
        found = self.columns.get(raw_column)
        return ColumnSpec(column=found) if isinstance(found, str) else found


class TableSpec(FileSpec):
    known_at: KnownAfter | None = Field(None, description="For an export with no known-at column of its own.")


class MeteredSpec(FileSpec):
    """A metered table the raw schema does not have (usage readings): ``customer_id``, ``at`` (when the usage
    happened: a time, or a period's start), ``known_at`` (a column or a stated lag) and its metrics, numbers."""

    known_at: KnownAfter | None = Field(None, description="For an export with no known-at column of its own.")

    @property
    def metrics(self) -> list[str]:
        return [c for c in self.columns if c not in METERED_FIXED]


METERED_FIXED = ("customer_id", "at", "known_at")


class CrossSectionSpec(FileSpec):
    """One row per customer as of ``as_of`` with a churn flag: monthly histories are reconstructed (docs/byod.md)."""

    churn_spread_months: int = Field(
        12, ge=1, le=60, description="Churners' leaving months are spread over this many months up to as_of."
    )
    unplaced_labels: Literal["error", "reject"] = Field(
        "error", description="A label the mapping does not place: stop with an error, or reject its row."
    )


class SourceMapping(_Strict):
    version: Literal[1] = Field(description="The mapping format's version.")
    source: str = Field(
        pattern=r"^[a-z][a-z0-9_-]{0,39}$", description="The data's name in lineage, reports and warnings."
    )
    description: str = ""
    as_of: str | None = Field(None, pattern=_MONTH, description="Last month the export fully covers, YYYY-MM.")
    first_snapshot_month: str | None = Field(
        None, pattern=_MONTH, description="First month to build a snapshot for (default: 12 months before as_of)."
    )
    timezone: str = Field("UTC", description="Zone of dates written without one.")
    tables: dict[str, TableSpec] | None = Field(None, description="Exports shaped like the raw tables.")
    cross_section: CrossSectionSpec | None = Field(None, description="One row per customer with a churn flag.")
    metered: dict[str, MeteredSpec] = Field(
        default_factory=dict,
        description="Metered tables (usage: minutes, data, logins, calls): name → files and columns; declared "
        "features aggregate them over whole months before each snapshot.",
    )
    features: FeaturesSpec | None = Field(
        None, description="The deployment's features: the platform's to keep, and its own (attributes, aggregates)."
    )
    labels: dict[str, Any] = Field(
        default_factory=dict,
        description="Labels of your own beside the platform's, per category column: a list of labels, or for "
        "`contract` {label: term in months (0: none)}. Category maps may then place values onto them.",
    )

    @field_validator("labels", mode="before")
    @classmethod
    def _quoted_labels(cls, value: Any) -> Any:
        return _labels_quoted(value)

    @property
    def label_set(self) -> Labels:
        """The platform's labels plus the ones this mapping declares."""
        return declare(self.labels)

    @model_validator(mode="after")
    def _tables_and_columns(self) -> SourceMapping:
        if (self.tables is None) == (self.cross_section is None):
            raise ValueError("give exactly one of `tables` (exports of the raw tables) or `cross_section`")
        if self.tables is None:
            return self
        unknown = [t for t in self.tables if t not in RAW_TABLES]
        if unknown:
            raise ValueError(f"unknown table(s) {', '.join(unknown)}; the raw tables are {', '.join(RAW_TABLES)}")
        missing = [t for t in REQUIRED_TABLES if t not in self.tables]
        if missing:
            raise ValueError(f"required table(s) missing: {', '.join(missing)}")
        return self


def mapping_identity(mapping: SourceMapping) -> dict[str, Any]:
    """What of a mapping determines the data, for its lineage fingerprint: not where the files are (their bytes are
    fingerprinted on their own), not the month (passed on its own, it may come from --as-of), not the words."""
    exclude: Any = {
        "as_of": True,
        "description": True,
        "tables": {"__all__": {"files"}},
        "cross_section": {"files"},
        "metered": {"__all__": {"files"}},
        # a mapping without labels or features of its own keeps its fingerprint
        **({} if mapping.labels else {"labels": True}),
        **({} if mapping.metered else {"metered": True}),
        **({} if mapping.features is not None else {"features": True}),
    }
    return mapping.model_dump(mode="json", exclude=exclude)


def _location(loc: tuple[Any, ...]) -> str:
    """Pydantic's error location as the mapping key a user would look for (``tables.billing.columns.amount``)."""
    union_branches = {"str", "ColumnSpec"}  # pydantic names the branch of `str | ColumnSpec` it tried
    parts = [str(p) for p in loc if str(p) not in union_branches and not str(p).startswith("function-")]
    return ".".join(parts) or "(top level)"


def _semantic_problems(mapping: SourceMapping) -> list[str]:
    """What the models cannot see alone: declared labels, raw column names per table, category columns, known_at
    rules."""
    try:
        declare(mapping.labels)
    except ValueError as err:
        return [str(err)]
    metered = {name: spec.metrics for name, spec in mapping.metered.items()}
    problems: list[str] = feature_problems(mapping.features, metered) if mapping.features is not None else []
    problems += _metered_problems(mapping)
    if mapping.cross_section is not None:
        return problems + _cross_section_problems(mapping.cross_section)
    assert mapping.tables is not None
    for name, table in mapping.tables.items():
        schema = RAW_TABLES[name].columns
        at = f"tables.{name}"
        for column in table.columns:
            if column not in schema:
                problems.append(f"{at}.columns.{column}: not a column of {name} ({', '.join(schema)})")
        optional = {"known_at"} | ({"ticket_id"} if name == "tickets" else set())
        absent = [c for c in schema if c not in table.columns and c not in optional]
        if absent:
            problems.append(f"{at}.columns: no mapping for {', '.join(absent)}")
        for column in table.categories:
            if schema.get(column) != "category":
                cats = [c for c, kind in schema.items() if kind == "category"]
                problems.append(
                    f"{at}.categories.{column}: not a category column of {name} ({', '.join(cats) or 'none'})"
                )
        has_known = "known_at" in table.columns
        if has_known and table.known_at is not None:
            problems.append(f"{at}.known_at: given both as a column and as a rule; keep one")
        if not has_known and table.known_at is None:
            times = [c for c, kind in schema.items() if kind == "timestamp" and c != "known_at"]
            problems.append(
                f"{at}.known_at: the export has no known-at column; state when its rows became known, e.g. "
                f"known_at: {{after: {times[0]}, lag_days: 0}} (never assumed)"
            )
        if table.known_at is not None and schema.get(table.known_at.after) != "timestamp":
            problems.append(f"{at}.known_at.after: {table.known_at.after!r} is not a date column of {name}")
    return problems


def _metered_problems(mapping: SourceMapping) -> list[str]:
    problems: list[str] = []
    if mapping.metered and mapping.cross_section is not None:
        problems.append("metered: a cross-section has no history to meter; declare its columns as attributes")
    for name, spec in mapping.metered.items():
        at = f"metered.{name}"
        if not re.match(r"^[a-z][a-z0-9_]{0,39}$", name):
            problems.append(f"{at}: a metered table's name is lower-case letters, digits and _, starting with a letter")
        if name in EVENT_TYPES:  # its name is also its event type for `POST /events` and `churn events push`
            problems.append(f"{at}: {name!r} is the name of a platform event type; name the table otherwise")
        clash = [m for m in spec.metrics if m in EVENT_FIELDS]
        if clash:
            problems.append(f"{at}.columns: {', '.join(clash)} is a field every event has; name the metric otherwise")
        absent = [c for c in ("customer_id", "at") if c not in spec.columns]
        if absent:
            problems.append(f"{at}.columns: no mapping for {', '.join(absent)}")
        if not spec.metrics:
            problems.append(f"{at}.columns: no metric column (name each metric: its export column)")
        if spec.categories:
            problems.append(f"{at}.categories: a metered table's metrics are numbers; it has no category column")
        has_known = "known_at" in spec.columns
        if has_known and spec.known_at is not None:
            problems.append(f"{at}.known_at: given both as a column and as a rule; keep one")
        if not has_known and spec.known_at is None:
            problems.append(f"{at}.known_at: the export has no known-at column; state when its readings became "
                            "known, e.g. known_at: {after: at, lag_days: 3} (never assumed)")  # fmt: skip
        if spec.known_at is not None and spec.known_at.after != "at":
            problems.append(f"{at}.known_at.after: a metered table's lag is counted after `at`")
    return problems


def cross_section_columns() -> dict[str, str]:
    """The columns a cross-section maps, with their kinds: the reconstruction's inputs, then the held attributes."""
    held = {
        c: kind
        for table in ("customers", "service_changes")
        for c, kind in RAW_TABLES[table].columns.items()
        if kind != "timestamp" and c != "customer_id"
    }
    return {
        "customer_id": "string",
        "churned": "bool",
        "tenure_months": "int",
        "monthly_charges": "float",
        "total_charges": "float",
        **held,
    }


def _cross_section_problems(spec: CrossSectionSpec) -> list[str]:
    schema = cross_section_columns()
    problems = [
        f"cross_section.columns.{c}: not a cross-section column ({', '.join(schema)})"
        for c in spec.columns
        if c not in schema
    ]
    absent = [c for c in schema if c not in spec.columns and c != "total_charges"]
    if absent:
        problems.append(f"cross_section.columns: no mapping for {', '.join(absent)}")
    categories = ", ".join(k for k, v in schema.items() if v == "category")
    problems += [
        f"cross_section.categories.{c}: not a category column ({categories})"
        for c in spec.categories
        if schema.get(c) != "category"
    ]
    return problems


def parse_mapping(document: Any, where: str = "mapping") -> SourceMapping:
    """A validated mapping from parsed YAML/JSON; every problem is one line naming its key."""
    if not isinstance(document, dict):
        raise InputError(
            f"{where}: expected a mapping of keys (version, source, tables, ...), got {type(document).__name__}"
        )
    try:
        mapping = SourceMapping.model_validate(document)
    except ValidationError as err:
        # an unknown key first: a misspelt key is usually why a required one is "missing"
        # (and a spec's own problem before the union's "not a plain column name")
        first = sorted(err.errors(), key=lambda e: (e["type"] != "extra_forbidden", e["type"] == "string_type"))[0]
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise InputError(f"{where} {_location(tuple(first['loc']))}: {message}{more}") from None
    problems = _semantic_problems(mapping)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"{where} {problems[0]}{more}")
    return mapping


def load_mapping(path: Path) -> SourceMapping:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--mapping: {path} does not exist")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"--mapping: {path}{line} is not valid YAML ({getattr(err, 'problem', err)})") from None
    return parse_mapping(document, where=f"mapping {path.name}:")


def json_schema() -> dict[str, Any]:
    """The mapping format's JSON schema (published as docs/mapping.schema.json for editors and CI checks)."""
    schema = SourceMapping.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "churn source mapping"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # python -m churn.mapping > docs/mapping.schema.json
    import sys

    sys.stdout.write(schema_text())
