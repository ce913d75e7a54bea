"""Ingest another company's exports through a source mapping (churn/mapping.py) into the raw schema.

Each mapped table is read from its files (CSV or Parquet, globs, several
files concatenated in name order), its columns renamed and converted (date
formats and zones, cents, Y/N booleans, category labels), and its ``known_at``
taken from the export or from the mapping's stated lag. A value that cannot be
read sends its row to ``rejects.csv`` with the table, file, line, field, value
and reason; a category label the mapping does not place is an error naming the
labels and rows (a mapping gap, not a bad row). Nothing is dropped silently:
unmapped file columns are listed as ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.declared import MANIFEST_KEY as FEATURES_KEY
from churn.declared import METERED_KEY, METERED_PREFIX, resolve
from churn.entity_index import positions
from churn.errors import InputError
from churn.labels import MANIFEST_KEY
from churn.lineage import lineage
from churn.mapped_columns import (
    REJECT_COLUMNS,
    ColumnReader,
    ReadFiles,
    attribute_columns,
    read_files,
    used_columns,
    zone,
)
from churn.mapping import OPTIONAL_TABLES, MeteredSpec, SourceMapping, TableSpec, mapping_identity
from churn.raw import IngestResult, RawData
from churn.schema import RAW_TABLES
from churn.timeutil import month_index_of, month_label, parse_month

DEFAULT_HISTORY_MONTHS = 12


@dataclass
class MappedIngest(IngestResult):
    tables: dict[str, dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "tables": self.tables, "assumptions": self.raw.manifest["assumptions"]}


def _convert(name: str, spec: TableSpec, read: ReadFiles, mapping: SourceMapping) -> tuple[pd.DataFrame, ColumnReader]:
    """The table's good rows in raw columns, and the reader holding its rejects and assumptions."""
    schema = RAW_TABLES[name]
    attributes = attribute_columns(mapping.features, read) if name == "customers" else {}
    if attributes:  # the declared attributes are read like the table's own columns, their rejects on the same rows
        spec = spec.model_copy(update={"columns": {**spec.columns, **{n: c for n, (c, _) in attributes.items()}}})
    reader = ColumnReader(name, spec, read, zone(mapping.timezone, "timezone"), f"tables.{name}",
                          labels=mapping.label_set)  # fmt: skip
    out = {raw: reader.column(raw, kind) for raw, kind in schema.columns.items() if raw in spec.columns}
    out.update({n: reader.column(n, kind) for n, (_, kind) in attributes.items()})
    if spec.known_at is not None:
        out["known_at"] = out[spec.known_at.after] + pd.Timedelta(days=spec.known_at.lag_days)
        reader.assumptions.append(
            f"{name} rows were known {spec.known_at.lag_days:g} day(s) after {spec.known_at.after} (stated lag)"
        )
    if name == "tickets" and "ticket_id" not in out:
        names = pd.Series(read.file_names())
        out["ticket_id"] = names + ":" + pd.Series(read.origin_line).astype(str)
        reader.assumptions.append("tickets carry no id of their own: each is named by its file and line")
    if name == "customers":
        reader.duplicates(out["customer_id"])
    if name == "treatments":  # a readout weighs by it: a probability outside (0, 1] would be read as a fact
        reader.bounds(out["assignment_probability"], "assignment_probability", 1e-6, 1.0)
    frame = pd.DataFrame({c: out[c] for c in [*schema.columns, *attributes]})
    event = frame[schema.event_time]
    early = event.notna() & frame["known_at"].notna() & (frame["known_at"] < event)
    reader.reject(early, "known_at", frame["known_at"], f"known before {schema.event_time}")
    return frame[~reader.bad_rows()].reset_index(drop=True), reader


def _convert_metered(
    name: str, spec: MeteredSpec, read: ReadFiles, mapping: SourceMapping
) -> tuple[pd.DataFrame, ColumnReader]:
    """A metered table's good rows: customer_id, at, known_at and its metrics (numbers)."""
    reader = ColumnReader(name, spec, read, zone(mapping.timezone, "timezone"), f"metered.{name}")
    out = {"customer_id": reader.column("customer_id", "string"), "at": reader.column("at", "timestamp")}
    if spec.known_at is not None:
        out["known_at"] = out["at"] + pd.Timedelta(days=spec.known_at.lag_days)
        reader.assumptions.append(
            f"{name} readings were known {spec.known_at.lag_days:g} day(s) after `at` (stated lag)"
        )
    else:
        out["known_at"] = reader.column("known_at", "timestamp")
    out.update({metric: reader.column(metric, "float") for metric in spec.metrics})
    frame = pd.DataFrame(out)
    early = frame["at"].notna() & frame["known_at"].notna() & (frame["known_at"] < frame["at"])
    reader.reject(early, "known_at", frame["known_at"], "known before at")
    return frame[~reader.bad_rows()].reset_index(drop=True), reader


def _orphans(tables: dict[str, pd.DataFrame], lines: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """Records of customers not in the customers table (or whose row was rejected) follow them to the rejects."""
    known = pd.Index(tables["customers"]["customer_id"].astype(str).to_numpy(dtype=object)).drop_duplicates()
    found = []
    for name, frame in tables.items():
        if name == "customers":
            continue
        orphan = pd.Series(positions(frame["customer_id"], known) < 0, index=frame.index)
        if not orphan.any():
            continue
        where = lines[name][orphan.to_numpy()]
        found.append(
            pd.DataFrame(
                {
                    "table": name,
                    "file": where["file"].to_numpy(),
                    "line": where["line"].to_numpy(),
                    "field": "customer_id",
                    "value": frame["customer_id"][orphan].to_numpy(),
                    "reason": "no such customer in the customers table (or its row was rejected)",
                }
            )
        )
        tables[name] = frame[~orphan].reset_index(drop=True)
    return found


def ingest_mapped(
    mapping: SourceMapping,
    base: Path,
    as_of: str | None = None,
    mapping_path: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> MappedIngest:
    """Read, convert and check every mapped table; nothing is written here (the caller saves or shows it).

    ``progress(done, total, table)`` after each table (the large ones take a minute at 100,000 customers)."""
    if mapping.cross_section is not None:
        raise InputError("ingest_mapped reads `tables` mappings; a cross-section goes through churn.cross_section")
    assert mapping.tables is not None
    tables: dict[str, pd.DataFrame] = {}
    lines: dict[str, pd.DataFrame] = {}
    rejects: list[pd.DataFrame] = []
    report: dict[str, dict[str, Any]] = {}
    assumptions: list[str] = []
    hashes: dict[str, str] = {}
    rows = 0
    kinds: list[tuple[str, TableSpec | MeteredSpec, str]] = [(n, s, f"tables.{n}") for n, s in mapping.tables.items()]
    kinds += [(f"{METERED_PREFIX}{n}", s, f"metered.{n}") for n, s in mapping.metered.items()]
    for done, (name, spec, at) in enumerate(kinds, start=1):
        read = read_files(spec, base, at)
        if isinstance(spec, MeteredSpec):
            good, reader = _convert_metered(name.removeprefix(METERED_PREFIX), spec, read, mapping)
        else:
            good, reader = _convert(name, spec, read, mapping)
        keep = ~reader.bad_rows()
        tables[name], rows = good, rows + len(read.frame)
        lines[name] = pd.DataFrame({"file": read.file_names(np.flatnonzero(keep)), "line": read.origin_line[keep]})
        rejects.append(reader.rejects())
        assumptions += reader.assumptions
        hashes.update(read.hashes(base))
        used = used_columns(spec, mapping.features if name == "customers" else None)
        report[name] = {
            "files": [p.name for p in read.files],
            "rows": len(read.frame),
            "columns_mapped": {
                raw: s.column if s.column is not None else f"= {s.value!r}"
                for raw in spec.columns
                if (s := spec.spec(raw)) is not None
            },
            "columns_ignored": [str(c) for c in read.frame.columns if c not in used],
        }
        if progress is not None:
            progress(done, len(kinds), name)
    rejects += _orphans(tables, lines)
    for name, frame in tables.items():
        report[name]["accepted"] = len(frame)
        report[name]["rejected"] = report[name]["rows"] - len(frame)
        metered = name.startswith(METERED_PREFIX)
        when = frame["period_month"] if name == "billing" else frame["at" if metered else RAW_TABLES[name].event_time]
        report[name]["span"] = [str(when.min())[:10], str(when.max())[:10]] if len(frame) else None
    found = [r for r in rejects if len(r)]
    all_rejects = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=REJECT_COLUMNS)
    first, last = _snapshot_months(mapping, tables, as_of)
    accepted = sum(len(f) for f in tables.values())
    as_of_label = month_label(last - 1)
    manifest = {
        "source": mapping.source,
        "lineage": lineage(
            mapping.source,
            mapping=mapping_identity(mapping),
            files=sorted(hashes.values()),
            as_of=as_of_label,
        ),
        "mapping": str(mapping_path) if mapping_path else None,
        "as_of": as_of_label,
        "first_snapshot_month": month_label(first),
        "last_snapshot_month": month_label(last),
        "behaviour_tables": [t for t in OPTIONAL_TABLES if t in tables],
        "rows": rows,
        "accepted": accepted,
        "rejected": rows - accepted,
        "assumptions": assumptions,
        **({MANIFEST_KEY: mapping.label_set.declared()} if mapping.labels else {}),
        **declaration(mapping, tables["customers"]),
    }
    raw = RawData(tables=tables, manifest=manifest, rejects=all_rejects)
    return MappedIngest(raw=raw, rows=rows, accepted=accepted, rejected=rows - accepted, tables=report)


def declaration(mapping: SourceMapping, customers: pd.DataFrame) -> dict[str, Any]:
    """The manifest's entries for a mapping's features and metered tables ({} when it declares none): a category
    attribute's labels are the ones its accepted rows carry."""
    out: dict[str, Any] = {}
    if mapping.metered:
        out[METERED_KEY] = {name: spec.metrics for name, spec in mapping.metered.items()}
    if mapping.features is not None:
        categories = {
            n: [str(v) for v in customers[n].dropna().unique()]
            for n, d in mapping.features.declared.items()
            if d.type == "category" and n in customers
        }
        out[FEATURES_KEY] = resolve(mapping.features, categories)
    return out


def _snapshot_months(mapping: SourceMapping, tables: dict[str, pd.DataFrame], as_of: str | None) -> tuple[int, int]:
    """(first snapshot month, last) — last is the month after ``as_of``, which gets snapshots but no labels."""
    chosen = as_of or mapping.as_of
    if chosen is not None:
        end = parse_month(chosen, field="--as-of" if as_of else "as_of")
    else:
        known = [f["known_at"].max() for f in tables.values() if len(f)]
        if not known:
            raise InputError("ingest: no row was accepted, so there is no month to build snapshots for")
        end = month_index_of(max(known)) - 1  # the month before the latest record: the last one fully covered
    first = (
        parse_month(mapping.first_snapshot_month, field="first_snapshot_month")
        if mapping.first_snapshot_month
        else end - DEFAULT_HISTORY_MONTHS + 1
    )
    if first > end + 1:
        raise InputError(
            f"first_snapshot_month: {month_label(first)} is after as_of {month_label(end)} — nothing to build"
        )
    return first, end + 1
