"""A cross-section file (one row per customer as of a month, with a churn flag) into monthly raw histories.

Such a file is one snapshot with no history, so monthly histories are
reconstructed under these stated assumptions (recorded in the raw manifest):

1. The file describes customers at the end of the ``as_of`` month.
2. Churners left within the ``churn_spread_months`` months up to ``as_of``,
   spread deterministically by a SHA-256 hash of the customer id (never
   Python's salted ``hash()``). That spread is an assumption, not a fact of the
   data; a single snapshot also carries survivor bias (customers who left
   before the file was cut are absent).
3. A customer with tenure t paid t monthly invoices (the signup month is free),
   so they signed up in the month t months before their last month.
4. Invoices rise or fall linearly to the final monthly charge and sum to the
   total charges (to the cent); where no linear path stays non-negative, they
   are flat at total / t. Without a total-charges column they are flat at the
   monthly charge. A blank total with tenure 0 is a customer in their first
   month: total 0.
5. Services, contract, payment method and demographics held from signup on.
6. Tickets and late payments are not in such a file: those features are null,
   not invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.errors import InputError
from churn.hashing import stable_hash
from churn.labels import MANIFEST_KEY
from churn.lineage import lineage
from churn.mapped_columns import ColumnReader, as_text, attribute_columns, read_files, used_columns, zone
from churn.mapped_ingest import declaration
from churn.mapping import SourceMapping, cross_section_columns, mapping_identity
from churn.raw import IngestResult, RawData
from churn.schema import ADDON_SERVICES, RAW_TABLES
from churn.timeutil import month_label, month_start, parse_month

DAY = pd.Timedelta(days=1)
TENURE_BOUNDS = (0, 1200)  # months: the snapshot schema's bounds for tenure_months
MONTHLY_BOUNDS = (0, 10_000)
TOTAL_BOUNDS = (0, 1e7)
ASSUMPTIONS = __doc__


@dataclass
class CrossSectionIngest(IngestResult):
    ignored_columns: list[str]

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "ignored_columns": self.ignored_columns}


def _typed(mapping: SourceMapping, base: Path) -> tuple[pd.DataFrame, ColumnReader]:
    """The file's good rows in the reconstruction's columns, and the reader holding its rejects."""
    spec = mapping.cross_section
    assert spec is not None
    read = read_files(spec, base, "cross_section")
    attributes = attribute_columns(mapping.features, read)
    if attributes:  # declared attributes: read like the file's own columns, their rejects on the same rows
        spec = spec.model_copy(update={"columns": {**spec.columns, **{n: c for n, (c, _) in attributes.items()}}})
    reader = ColumnReader("cross_section", spec, read, zone(mapping.timezone, "timezone"), "cross_section",
                          unplaced=spec.unplaced_labels, labels=mapping.label_set)  # fmt: skip
    kinds = cross_section_columns()
    out = {c: reader.column(c, kind) for c, kind in kinds.items() if c in spec.columns and c != "total_charges"}
    out.update({n: reader.column(n, kind) for n, (_, kind) in attributes.items()})
    reader.duplicates(out["customer_id"])
    tenure = out["tenure_months"]
    reader.bounds(tenure, "tenure_months", *TENURE_BOUNDS)
    reader.bounds(out["monthly_charges"], "monthly_charges", *MONTHLY_BOUNDS)
    if "total_charges" in spec.columns:
        out["total_charges"] = _total_charges(reader, tenure)
    else:
        out["total_charges"] = out["monthly_charges"] * tenure
        reader.assumptions.append("no total-charges column: invoices are flat at the monthly charge")
    frame = pd.DataFrame(out)
    good = frame[~reader.bad_rows()].reset_index(drop=True)
    for column, kind in [*kinds.items(), *((n, kind) for n, (_, kind) in attributes.items())]:
        if kind == "bool":
            good[column] = good[column].astype(bool)
    for name, (_, kind) in attributes.items():
        if kind == "int":
            good[name] = good[name].astype(np.int64)
    good["tenure_months"] = good["tenure_months"].astype(np.int64)
    return good, reader


def _total_charges(reader: ColumnReader, tenure: pd.Series) -> pd.Series:
    """Total charges to date; blank is 0 for a first-month customer (tenure 0), a bad row otherwise."""
    source, field = reader.source("total_charges")
    shown = as_text(source)
    blank = shown == ""
    total = pd.to_numeric(shown.where(~blank), errors="coerce").astype(float)
    reader.reject(total.isna() & ~blank, field, source, "not a number")
    reader.reject(blank & (tenure != 0) & tenure.notna(), field, source, "blank, but tenure is not 0")
    total = total.where(~(blank & (tenure == 0)), 0.0)
    reader.bounds(total, "total_charges", *TOTAL_BOUNDS)
    return total


def typed_rows(mapping: SourceMapping, base: Path) -> pd.DataFrame:
    """The accepted rows, typed, in the cross-section's column names (what a static model of the file reads)."""
    return _typed(mapping, base)[0]


def _invoice_cents(tenure: int, monthly: float, total: float) -> np.ndarray:
    """Invoices (cents) ending at ``monthly`` and summing to ``total``: assumption 4."""
    if tenure == 0:
        return np.zeros(0, dtype=np.int64)
    if tenure == 1:
        return np.array([round(total * 100)], dtype=np.int64)
    slope = 2.0 * (tenure * monthly - total) / (tenure * (tenure - 1))
    bills = monthly - slope * np.arange(tenure - 1, -1, -1)
    if bills.min() < 0:
        bills = np.full(tenure, total / tenure)
    cents = np.rint(bills * 100).astype(np.int64)
    cents[0] += round(total * 100) - int(cents.sum())
    return cents


def reconstruct(
    good: pd.DataFrame, as_of_month: int, spread: int, attributes: tuple[str, ...] = ()
) -> dict[str, pd.DataFrame]:
    """The raw tables of a cross-section's typed rows: assumptions 1-5 (declared ``attributes`` held like the
    demographics)."""
    held = [c for c in RAW_TABLES["service_changes"].columns if c not in ("customer_id", "effective_at", "known_at",
                                                                          "contract_start")]  # fmt: skip
    customers, changes, bills, churns = [], [], [], []
    for row in good.to_dict("records"):
        cid = str(row["customer_id"])
        h = stable_hash(cid)
        churned = bool(row["churned"])
        last_month = as_of_month - (h % spread) if churned else as_of_month
        tenure = int(row["tenure_months"])
        signup_month = last_month - tenure
        signup_at = month_start(signup_month) + DAY * (1 + (h >> 16) % 27) + pd.Timedelta(hours=9)
        customers.append(
            {
                "customer_id": cid,
                "signup_at": signup_at,
                "known_at": signup_at,
                "gender": row["gender"],
                "senior_citizen": bool(row["senior_citizen"]),
                "partner": bool(row["partner"]),
                "dependents": bool(row["dependents"]),
                **{name: row[name] for name in attributes},
            }
        )
        state = {c: (bool(row[c]) if RAW_TABLES["service_changes"].columns[c] == "bool" else row[c]) for c in held}
        changes.append(
            {"customer_id": cid, "effective_at": signup_at, "known_at": signup_at, "contract_start": signup_at, **state}
        )
        cents = _invoice_cents(tenure, float(row["monthly_charges"]), float(row["total_charges"]))
        for k, amount in enumerate(cents):
            period = signup_month + 1 + k
            start = month_start(period)
            bills.append((cid, month_label(period), start, start + DAY, amount / 100.0))
        if churned:
            churned_at = month_start(last_month) + DAY * (1 + (h >> 8) % 27) + pd.Timedelta(hours=12)
            churns.append({"customer_id": cid, "churned_at": churned_at, "known_at": churned_at})
    assert set(ADDON_SERVICES) <= set(held)
    order = list(RAW_TABLES["service_changes"].columns)
    return {
        "customers": pd.DataFrame(customers, columns=[*RAW_TABLES["customers"].columns, *attributes]),
        "service_changes": pd.DataFrame(changes)[order] if changes else pd.DataFrame(columns=order),
        "billing": pd.DataFrame(bills, columns=list(RAW_TABLES["billing"].columns)),
        "churn_events": pd.DataFrame(churns, columns=list(RAW_TABLES["churn_events"].columns)),
    }


def ingest_cross_section(mapping: SourceMapping, base: Path, as_of: str | None = None) -> CrossSectionIngest:
    """Validate the file, quarantine bad rows (with their own columns), and reconstruct monthly histories."""
    spec = mapping.cross_section
    if spec is None:
        raise InputError("ingest_cross_section reads `cross_section` mappings; tables go through churn.mapped_ingest")
    chosen = as_of or mapping.as_of
    if chosen is None:
        raise InputError("--as-of: a cross-section needs the month it describes (YYYY-MM), here or as `as_of`")
    as_of_month = parse_month(chosen, field="as_of")
    good, reader = _typed(mapping, base)
    read = reader.read
    declared = mapping.features.declared if mapping.features is not None else {}
    tables = reconstruct(good, as_of_month, spec.churn_spread_months, tuple(declared))
    rejects = reader.rejects(with_row=True)
    rejected = int(reader.bad_rows().sum())
    signups = tables["customers"]["signup_at"]
    first = signups.min() if len(signups) else month_start(as_of_month)
    first_month = (first.year - 1970) * 12 + first.month  # the month after the earliest signup
    hashes = read.hashes(base)
    raw = RawData(
        tables=tables,
        manifest={
            "source": mapping.source,
            "kind": "cross_section",  # observed once: `churn train` judges it by K-fold, not by time
            "lineage": lineage(
                mapping.source,
                files=sorted(hashes.values()),
                as_of=month_label(as_of_month),
                spread_months=spec.churn_spread_months,
                mapping=mapping_identity(mapping),
            ),
            "file": ", ".join(str(Path(p).resolve()) for p in read.files),  # one spelling per file, links resolved
            "as_of": month_label(as_of_month),
            "first_snapshot_month": month_label(first_month),
            "last_snapshot_month": month_label(as_of_month + 1),
            "behaviour_tables": [],
            "rows": len(read.frame),
            "accepted": len(good),
            "rejected": rejected,
            "assumptions": ASSUMPTIONS + "".join(f"\n- {a}" for a in reader.assumptions),
            **({MANIFEST_KEY: mapping.label_set.declared()} if mapping.labels else {}),
            **declaration(mapping, tables["customers"]),
        },
        rejects=rejects,
    )
    ignored = [str(c) for c in read.frame.columns if c not in used_columns(spec, mapping.features)]
    return CrossSectionIngest(raw, len(read.frame), len(good), rejected, ignored)
