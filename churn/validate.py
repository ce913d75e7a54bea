"""Temporal consistency of the offline store against the raw data it was built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors

from churn.contracts import label_schema, snapshot_schema
from churn.declared import features_of
from churn.labels import labels_of
from churn.raw import RawData
from churn.schema import ENTITY, EVENT_TIMESTAMP, FEATURE_NAMES, LABEL, PARTITION
from churn.temporal import utc_ns
from churn.temporal_reference import reference_snapshots
from churn.timeutil import month_index_of_ns


@dataclass
class Check:
    name: str
    violations: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.violations == 0


@dataclass
class ValidationReport:
    checks: list[Check]
    snapshots: int
    labels: int

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "snapshots": self.snapshots,
            "labels": self.labels,
            "checks": [
                {"name": c.name, "passed": c.passed, "violations": c.violations, "examples": c.examples}
                for c in self.checks
            ],
        }


def _examples(df: pd.DataFrame, n: int = 3) -> list[dict[str, Any]]:
    return [{k: str(v) for k, v in row.items()} for row in df.head(n).to_dict(orient="records")]


def _contract_examples(cases: pd.DataFrame, n: int = 5) -> list[dict[str, Any]]:
    """Pandera's failure cases as a person reads them: the column, what is wrong, and the row where there is one."""
    out: list[dict[str, Any]] = []
    for case in cases.head(n).to_dict(orient="records"):
        check, value, row = str(case.get("check")), case.get("failure_case"), case.get("index")
        if check.startswith("dtype("):
            problem = f"expected type {check[7:-2]}, found {value}"
        elif check == "column_in_dataframe":
            problem = "column missing"
        else:
            problem = f"value {value!r} fails {check}"
        item: dict[str, Any] = {"column": str(case.get("column")), "problem": problem}
        if row is not None and str(row) not in ("None", "nan"):
            item["row"] = str(row)
        out.append(item)
    return out


def _contract(name: str, schema: Any, frame: pd.DataFrame) -> Check:
    try:
        schema.validate(frame, lazy=True)
        return Check(name, 0)
    except pandera.errors.SchemaErrors as err:
        return Check(name, len(err.failure_cases), _contract_examples(err.failure_cases))


@dataclass
class _Customers:
    """The raw customers the checks compare snapshots with: ids, signups, and churn (when it happened, known)."""

    ids: pd.Index
    signup_ns: np.ndarray
    churn_at: np.ndarray
    churn_known: np.ndarray

    @classmethod
    def of(cls, raw: RawData) -> _Customers:
        customers = raw.tables["customers"]
        ids = pd.Index(customers[ENTITY].astype(str))
        churn = raw.tables.get("churn_events", pd.DataFrame(columns=[ENTITY, "churned_at", "known_at"]))
        churn_known = np.full(len(ids), np.iinfo(np.int64).max)
        churn_at = np.full(len(ids), np.iinfo(np.int64).max)
        if len(churn):
            cpos = ids.get_indexer(churn[ENTITY].astype(str))
            np.minimum.at(churn_known, cpos, utc_ns(churn["known_at"]))
            np.minimum.at(churn_at, cpos, utc_ns(churn["churned_at"]))
        return cls(ids, utc_ns(customers["signup_at"]), churn_at, churn_known)

    def positions(self, ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """(position of each id among the customers (0 where unknown), which ids are unknown)."""
        pos = self.ids.get_indexer(ids.astype(str))
        return np.where(pos < 0, 0, pos), pos < 0


def _row_checks(features: pd.DataFrame, who: _Customers) -> list[Check]:
    """One row per customer-month, known customers, nothing after churn or before signup, tenure by the calendar."""
    dup = features[features.duplicated([ENTITY, EVENT_TIMESTAMP], keep=False)]
    snap_ns = utc_ns(features[EVENT_TIMESTAMP])
    snap_month = month_index_of_ns(snap_ns)
    pos, unknown = who.positions(features[ENTITY])
    after = features[who.churn_known[pos] < snap_ns]
    signup_ns = who.signup_ns[pos]
    before = features[signup_ns >= snap_ns]
    signup_month = month_index_of_ns(signup_ns)
    exact = signup_ns == (signup_month.astype("datetime64[M]").astype("datetime64[ns]").astype(np.int64))
    expected_tenure = snap_month - signup_month - np.where(exact, 0, 1)
    bad_tenure = features[features["tenure_months"].to_numpy() != expected_tenure]
    ordered = features.assign(_m=snap_month).sort_values([ENTITY, "_m"])
    step = ordered.groupby(ENTITY, sort=False)[["tenure_months", "_m"]].diff().dropna()
    jumps = int((step["tenure_months"] != step["_m"]).sum())
    keys = [ENTITY, EVENT_TIMESTAMP]
    return [
        Check("one row per customer-month", len(dup), _examples(dup[keys])),
        Check(
            "every snapshot's customer exists in raw data", int(unknown.sum()), _examples(features[unknown][[ENTITY]])
        ),
        Check("no snapshot after a known churn", len(after), _examples(after[keys])),
        Check("no snapshot before signup", len(before), _examples(before[keys])),
        Check(
            "tenure = whole months since signup, +1 per month",
            len(bad_tenure) + jumps,
            _examples(bad_tenure[[*keys, "tenure_months"]]),
        ),
    ]


def _label_check(features: pd.DataFrame, labels: pd.DataFrame, who: _Customers, last_month: str) -> Check:
    """Each label belongs to a snapshot, comes from a fully observed month, and describes the month after T."""
    keys = features[[ENTITY, EVENT_TIMESTAMP]].assign(_snap=True)
    orphan = labels.merge(keys, on=[ENTITY, EVENT_TIMESTAMP], how="left").query("_snap.isna()")
    label_ns = utc_ns(labels[EVENT_TIMESTAMP])
    label_month = month_index_of_ns(label_ns)
    unobserved = labels[label_month >= int(pd.Period(last_month, "M").ordinal)]
    lpos, _ = who.positions(labels[ENTITY])
    next_start = (label_month + 1).astype("datetime64[M]").astype("datetime64[ns]").astype(np.int64)
    wrong = labels[labels[LABEL].to_numpy().astype(bool) != (who.churn_at[lpos] < next_start)]
    leaked = labels[(labels[LABEL].to_numpy() == 1) & (who.churn_known[lpos] < label_ns)]
    return Check(
        "labels: one per snapshot, fully observed month, window strictly after the snapshot",
        len(orphan) + len(unobserved) + len(wrong) + len(leaked),
        _examples(pd.concat([orphan[[ENTITY, EVENT_TIMESTAMP]], wrong[[ENTITY, EVENT_TIMESTAMP]]])),
    )


def _reference_check(features: pd.DataFrame, raw: RawData, sample_customers: int, seed: int) -> Check:
    """Recompute a seeded sample of customers with the slow reference builder and compare value by value."""
    all_ids = np.sort(features[ENTITY].unique())
    rng = np.random.default_rng(seed)
    sample = list(rng.choice(all_ids, size=min(sample_customers, len(all_ids)), replace=False)) if len(all_ids) else []
    mismatches: list[dict[str, Any]] = []
    n_bad = 0
    if sample:
        ref = reference_snapshots(raw, sample).set_index([ENTITY, PARTITION]).sort_index()
        got = features[features[ENTITY].isin(sample)].set_index([ENTITY, PARTITION]).sort_index()
        if not ref.index.equals(got.index):
            n_bad += len(ref.index.symmetric_difference(got.index))
            mismatches.append({"problem": "snapshot rows differ from the reference builder"})
        common = ref.index.intersection(got.index)
        for name in [*FEATURE_NAMES, *features_of(raw.manifest).declared_names]:
            a, b = got.loc[common, name], ref.loc[common, name]
            if a.dtype.kind in "biuf" or str(a.dtype) == "Int64":
                av = pd.to_numeric(a).astype(float).to_numpy()
                bv = pd.to_numeric(b).astype(float).to_numpy()
                diff = ~(np.isclose(av, bv, rtol=0, atol=1e-6) | (np.isnan(av) & np.isnan(bv)))
            else:
                diff = a.astype(str).to_numpy() != b.astype(str).to_numpy()
            if diff.any():
                n_bad += int(diff.sum())
                first = common[np.flatnonzero(diff)[0]]
                mismatches.append({"feature": name, "customer": first[0], "month": first[1]})
    return Check(
        f"features use only data known strictly before the snapshot ({len(sample)} customers recomputed)",
        n_bad,
        mismatches[:5],
    )


def validate_temporal_consistency(
    features: pd.DataFrame, labels: pd.DataFrame, raw: RawData, sample_customers: int = 30, seed: int = 0
) -> ValidationReport:
    """Every check the offline store must pass; the report lists each with its violations.

    The last check recomputes a seeded sample of customers with the slow
    reference builder, which filters raw data on ``known_at < T`` explicitly:
    any feature that used data from after its snapshot shows up there.
    """
    who = _Customers.of(raw)
    contract = snapshot_schema(labels_of(raw.manifest), features_of(raw.manifest))
    checks = [
        _contract("contract: snapshot columns, types, categories, ranges", contract,
                  features[[c for c in features.columns if c != PARTITION]]),
        _contract("contract: label columns and values", label_schema(), labels),
        *_row_checks(features, who),
        _label_check(features, labels, who, raw.last_snapshot_month),
        _reference_check(features, raw, sample_customers, seed),
    ]  # fmt: skip
    return ValidationReport(checks=checks, snapshots=len(features), labels=len(labels))
