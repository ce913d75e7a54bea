"""Ingest the IBM Telco Customer Churn CSV into the raw schema.

The file is one snapshot with no history, so monthly histories are
reconstructed under these stated assumptions (also in the README):

1. The file describes customers at the end of the ``as_of`` month.
2. IBM says churners "left within the last month"; we instead spread churn
   months over the 12 months up to ``as_of``, deterministically by a SHA-256
   hash of the customer id (never Python's salted ``hash()``). That spread is our
   assumption, not a fact of the data; a single snapshot also carries survivor
   bias (customers who left before the file was cut are absent).
3. A customer with tenure t paid t monthly invoices (the signup month is free),
   so they signed up in the month t months before their last month.
4. Invoices rise or fall linearly to the final ``MonthlyCharges`` and sum to
   ``TotalCharges`` (to the cent); where no linear path stays non-negative, they
   are flat at TotalCharges / t. A blank TotalCharges with tenure 0 is a
   customer in their first month: total 0.
5. Services, contract, payment method and demographics held from signup on.
6. Tickets and late payments are not in the file: those features are null,
   not invented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.errors import InputError
from churn.hashing import stable_hash
from churn.lineage import file_sha256, lineage
from churn.raw import RawData
from churn.schema import ADDON_SERVICES, CUSTOMER_ID_PATTERN, TELCO_ADDONS, TELCO_COLUMNS
from churn.timeutil import month_label, month_start, parse_month

CHURN_SPREAD_MONTHS = 12
# SHA-256 of the public IBM file (shared/data/telco/PROVENANCE.md): published figures apply to this file only.
IBM_TELCO_SHA256 = "16320c9c1ec72448db59aa0a26a0b95401046bef5d02fd3aeb906448e3055e91"
OTHER_DATA_HINT = (
    "`churn ingest telco` reads the IBM Telco layout only; for data of another layout, declare a mapping "
    "(`churn ingest --mapping FILE`, see docs/byod.md)"
)
_ID_RE = re.compile(CUSTOMER_ID_PATTERN)
DAY = pd.Timedelta(days=1)


@dataclass
class IngestResult:
    raw: RawData
    rows: int
    accepted: int
    rejected: int
    ignored_columns: list[str]

    def summary(self) -> dict[str, Any]:
        return {
            "source": "telco",
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "ignored_columns": self.ignored_columns,
            "first_snapshot_month": self.raw.first_snapshot_month,
            "last_snapshot_month": self.raw.last_snapshot_month,
        }


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"telco file: {path} does not exist")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"telco file: {path} is not a readable CSV ({err.__class__.__name__}: {err})") from None
    missing = [c.name for c in TELCO_COLUMNS if c.name not in df.columns]
    if missing:
        raise InputError(f"telco file: missing required column(s): {', '.join(missing)} — {OTHER_DATA_HINT}")
    return df


def _validate(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed good rows and one reject line per (row, field) problem."""
    problems: list[tuple[int, str, str, str]] = []  # (row position, field, value, reason)
    typed: dict[str, pd.Series] = {}
    tenure_num = pd.to_numeric(df["tenure"].str.strip(), errors="coerce")
    for col in TELCO_COLUMNS:
        raw = df[col.name].astype(str)
        value = raw.str.strip()
        if col.kind == "id":
            bad = ~value.str.match(_ID_RE)
            for i in np.flatnonzero(bad):
                problems.append((int(i), col.name, raw.iloc[i], "empty or malformed id (1-64 letters, digits, _ . : -, "
                                 "starting with a letter or digit)"))  # fmt: skip
            counts = value.map(value.value_counts())
            for i in np.flatnonzero((counts > 1) & ~bad):
                problems.append((int(i), col.name, raw.iloc[i], f"duplicate id (appears {counts.iloc[i]} times)"))
            typed[col.name] = value
        elif col.kind == "category":
            bad = ~value.isin(col.allowed)
            for i in np.flatnonzero(bad):
                problems.append((int(i), col.name, raw.iloc[i], f"not one of {', '.join(col.allowed)}"))
            typed[col.name] = value
        else:
            num = pd.to_numeric(value, errors="coerce")
            blank = value == ""
            if col.kind == "blank_float":
                num = num.where(~(blank & (tenure_num == 0)), 0.0)
                for i in np.flatnonzero(blank & (tenure_num != 0)):
                    problems.append((int(i), col.name, raw.iloc[i], "blank, but tenure is not 0"))
                unparsable = num.isna() & ~blank
            else:
                unparsable = num.isna()
            for i in np.flatnonzero(unparsable):
                problems.append((int(i), col.name, raw.iloc[i], "not a number"))
            if col.kind == "int":
                frac = num.notna() & (num != np.floor(num))
                for i in np.flatnonzero(frac):
                    problems.append((int(i), col.name, raw.iloc[i], "not a whole number"))
            out_of_range = num.notna() & ((num < (col.min or 0)) | (num > (col.max or np.inf)))
            for i in np.flatnonzero(out_of_range):
                problems.append((int(i), col.name, raw.iloc[i], f"outside [{col.min:g}, {col.max:g}]"))
            typed[col.name] = num
    bad_rows = sorted({p[0] for p in problems})
    rejects = pd.DataFrame(
        [
            {"line": i + 2, "field": f, "value": v, "reason": r, **df.iloc[i].to_dict()}
            for i, f, v, r in sorted(problems)
        ],
        columns=["line", "field", "value", "reason", *df.columns],
    )
    good = pd.DataFrame(typed).drop(index=df.index[bad_rows])
    good["tenure"] = good["tenure"].astype(np.int64)
    return good.reset_index(drop=True), rejects


def _invoice_cents(tenure: int, monthly: float, total: float) -> np.ndarray:
    """Invoices (cents) ending at ``monthly`` and summing to ``total``: the reconstruction's assumption 4."""
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


def ingest_telco(path: Path, as_of: str) -> IngestResult:
    """Validate the file, quarantine bad rows, and reconstruct monthly raw histories."""
    as_of_month = parse_month(as_of, field="as_of")
    df = _read(Path(path))
    known_cols = {c.name for c in TELCO_COLUMNS}
    ignored = [c for c in df.columns if c not in known_cols]
    good, rejects = _validate(df)

    customers, changes, bills, churns = [], [], [], []
    for row in good.itertuples(index=False):
        cid = str(row.customerID)
        h = stable_hash(cid)
        churned = row.Churn == "Yes"
        last_month = as_of_month - (h % CHURN_SPREAD_MONTHS) if churned else as_of_month
        tenure = int(row.tenure)
        signup_month = last_month - tenure
        signup_at = month_start(signup_month) + DAY * (1 + (h >> 16) % 27) + pd.Timedelta(hours=9)
        customers.append(
            {
                "customer_id": cid,
                "signup_at": signup_at,
                "known_at": signup_at,
                "gender": row.gender,
                "senior_citizen": row.SeniorCitizen == "1",
                "partner": row.Partner == "Yes",
                "dependents": row.Dependents == "Yes",
            }
        )
        changes.append(
            {
                "customer_id": cid,
                "effective_at": signup_at,
                "known_at": signup_at,
                "contract": row.Contract,
                "contract_start": signup_at,
                "phone_service": row.PhoneService == "Yes",
                "multiple_lines": row.MultipleLines == "Yes",
                "internet_service": row.InternetService,
                **{TELCO_ADDONS[k]: getattr(row, k) == "Yes" for k in TELCO_ADDONS},
                "payment_method": row.PaymentMethod,
                "paperless_billing": row.PaperlessBilling == "Yes",
            }
        )
        cents = _invoice_cents(tenure, float(row.MonthlyCharges), float(row.TotalCharges))
        for k, amount in enumerate(cents):
            period = signup_month + 1 + k
            start = month_start(period)
            bills.append((cid, month_label(period), start, start + DAY, amount / 100.0))
        if churned:
            churned_at = month_start(last_month) + DAY * (1 + (h >> 8) % 27) + pd.Timedelta(hours=12)
            churns.append({"customer_id": cid, "churned_at": churned_at, "known_at": churned_at})

    assert set(ADDON_SERVICES) == set(TELCO_ADDONS.values())
    billing = pd.DataFrame(bills, columns=["customer_id", "period_month", "billed_at", "known_at", "amount"])
    first = min((c["signup_at"] for c in customers), default=month_start(as_of_month))
    first_month = (first.year - 1970) * 12 + first.month  # the month after the earliest signup
    raw = RawData(
        tables={
            "customers": pd.DataFrame(customers),
            "service_changes": pd.DataFrame(changes),
            "billing": billing,
            "churn_events": pd.DataFrame(churns, columns=["customer_id", "churned_at", "known_at"]),
        },
        manifest={
            "source": "telco",
            "lineage": lineage(
                "telco",
                file_sha256=file_sha256(Path(path)),
                as_of=month_label(as_of_month),
                spread_months=CHURN_SPREAD_MONTHS,
            ),
            "file": str(path),
            "as_of": month_label(as_of_month),
            "first_snapshot_month": month_label(first_month),
            "last_snapshot_month": month_label(as_of_month + 1),
            "behaviour_tables": [],
            "rows": len(df),
            "accepted": len(good),
            "rejected": int(rejects["line"].nunique()) if len(rejects) else 0,
            "assumptions": __doc__,
        },
        rejects=rejects,
    )
    return IngestResult(
        raw=raw, rows=len(df), accepted=len(good), rejected=raw.manifest["rejected"], ignored_columns=ignored
    )
