"""Another company's exports, made from the simulator's raw tables: the bring-your-own-data tests and benchmark.

"Acme" writes its own column names, category labels, date formats and zones,
amounts in cents, booleans as Y/N or 1/0, one table split over two files, one
table in Parquet, and has no known-at column for invoices and churn events
(the mapping states the lag). docs/byod.md shows the same mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from churn.raw import RawData

CONTRACTS = {"Month-to-month": "monthly", "One year": "annual-12", "Two year": "annual-24"}
INTERNET = {"DSL": "dsl", "Fiber optic": "fibre", "No": "none"}
PAYMENTS = {
    "Electronic check": "e-cheque",
    "Mailed check": "cheque",
    "Bank transfer (automatic)": "direct debit",
    "Credit card (automatic)": "card",
}
ADDONS = ["online_security", "online_backup", "device_protection", "tech_support", "streaming_tv", "streaming_movies"]
KOLKATA = "Asia/Kolkata"  # UTC+05:30 all year: local times convert back exactly


def _yn(values: pd.Series) -> pd.Series:
    return values.map({True: "Y", False: "N"})


def _local(times: pd.Series, fmt: str) -> pd.Series:
    return times.dt.tz_convert(KOLKATA).dt.strftime(fmt)


def seconds_only(raw: RawData) -> RawData:
    """The native tables at the precision Acme's exports keep (whole seconds)."""
    tables = {}
    for name, df in raw.tables.items():
        df = df.copy()
        for col in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[col]):
                df[col] = df[col].dt.floor("s")
        tables[name] = df
    return RawData(tables=tables, manifest=dict(raw.manifest))


def export_acme(raw: RawData, folder: Path) -> None:
    """Write the raw tables the way another company's systems would."""
    folder.mkdir(parents=True, exist_ok=True)
    t = raw.tables
    c = t["customers"]
    pd.DataFrame(
        {
            "client_ref": c["customer_id"].astype(str),
            "joined": _local(c["signup_at"], "%d/%m/%Y %H:%M:%S"),
            "recorded": _local(c["known_at"], "%d/%m/%Y %H:%M:%S"),
            "sex": c["gender"].astype(str).map({"Female": "F", "Male": "M"}),
            "senior": _yn(c["senior_citizen"]),
            "has_partner": c["partner"].astype(int),
            "has_kids": c["dependents"].map({True: "yes", False: "no"}),
            "crm_note": "imported",  # a column nobody mapped: listed as ignored
        }
    ).to_csv(folder / "clients.csv", index=False)
    s = t["service_changes"]
    contracts = pd.DataFrame(
        {
            "client": s["customer_id"].astype(str),
            "valid_from": s["effective_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "entered": s["known_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "plan": s["contract"].astype(str).map(CONTRACTS),
            "plan_start": s["contract_start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "voice": _yn(s["phone_service"]),
            "extra_lines": _yn(s["multiple_lines"]),
            "broadband": s["internet_service"].astype(str).map(INTERNET),
            **{f"opt_{a}": _yn(s[a]) for a in ADDONS},
            "pays_by": s["payment_method"].astype(str).map(PAYMENTS),
            "e_bill": _yn(s["paperless_billing"]),
        }
    )
    half = len(contracts) // 2
    contracts.iloc[:half].to_csv(folder / "contracts_2016-2020.csv", index=False, sep=";")
    contracts.iloc[half:].to_csv(folder / "contracts_2021-.csv", index=False, sep=";")
    b = t["billing"]
    pd.DataFrame(
        {
            "account": b["customer_id"].astype(str),
            "service_month": pd.to_datetime(b["period_month"].astype(str) + "-01").dt.strftime("%m/%Y"),
            "invoice_date": b["billed_at"],
            "amount_cents": (b["amount"] * 100).round().astype("int64"),
        }
    ).to_parquet(folder / "invoices.parquet", index=False)
    p = t["payments"]
    pd.DataFrame(
        {
            "account": p["customer_id"].astype(str),
            "month": p["period_month"].astype(str),
            "due": p["due_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "settled_known": p["known_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "status": p["paid_late"].map({True: "LATE", False: "on time"}),
        }
    ).to_csv(folder / "payments.csv", index=False)
    k = t["tickets"]
    pd.DataFrame(
        {
            "ref": k["ticket_id"].astype(str),
            "client": k["customer_id"].astype(str),
            "opened": (k["opened_at"].astype("int64") // 10**9).astype(str),
            "logged": (k["known_at"].astype("int64") // 10**9).astype(str),
        }
    ).to_csv(folder / "tickets.csv", index=False)
    e = t["churn_events"]
    pd.DataFrame(
        {"client": e["customer_id"].astype(str), "left_on": _local(e["churned_at"], "%Y-%m-%d %H:%M:%S")}
    ).to_csv(folder / "leavers.csv", index=False)


def acme_mapping(raw: RawData) -> dict[str, Any]:
    last = raw.manifest["last_snapshot_month"]
    as_of = str(pd.Period(last, "M") - 1)
    local = {"format": "%d/%m/%Y %H:%M:%S", "timezone": KOLKATA}
    return {
        "version": 1,
        "source": "acme",
        "description": "Acme Telecom's nightly exports",
        "as_of": as_of,
        "first_snapshot_month": raw.manifest["first_snapshot_month"],
        "tables": {
            "customers": {
                "files": "clients.csv",
                "columns": {
                    "customer_id": "client_ref",
                    "signup_at": {"column": "joined", **local},
                    "known_at": {"column": "recorded", **local},
                    "gender": "sex",
                    "senior_citizen": "senior",
                    "partner": "has_partner",
                    "dependents": "has_kids",
                },
                "categories": {"gender": {"F": "Female", "M": "Male"}},
            },
            "service_changes": {
                "files": ["contracts_*.csv"],
                "delimiter": ";",
                "columns": {
                    "customer_id": "client",
                    "effective_at": "valid_from",
                    "known_at": "entered",
                    "contract": "plan",
                    "contract_start": "plan_start",
                    "phone_service": "voice",
                    "multiple_lines": "extra_lines",
                    "internet_service": "broadband",
                    **{a: f"opt_{a}" for a in ADDONS},
                    "payment_method": "pays_by",
                    "paperless_billing": "e_bill",
                },
                "categories": {
                    "contract": {v: k for k, v in CONTRACTS.items()},
                    "internet_service": {v: k for k, v in INTERNET.items()},
                    "payment_method": {v: k for k, v in PAYMENTS.items()},
                },
            },
            "billing": {
                "files": "invoices.parquet",
                "columns": {
                    "customer_id": "account",
                    "period_month": {"column": "service_month", "format": "%m/%Y"},
                    "billed_at": "invoice_date",
                    "amount": {"column": "amount_cents", "unit": "cents"},
                },
                "known_at": {"after": "billed_at", "lag_days": 1},
            },
            "payments": {
                "files": "payments.csv",
                "columns": {
                    "customer_id": "account",
                    "period_month": "month",
                    "due_at": {"column": "due", "format": "%Y-%m-%d %H:%M:%S"},
                    "known_at": {"column": "settled_known", "format": "%Y-%m-%d %H:%M:%S"},
                    "paid_late": {"column": "status", "true_values": ["LATE"], "false_values": ["on time"]},
                },
            },
            "tickets": {
                "files": "tickets.csv",
                "columns": {
                    "customer_id": "client",
                    "ticket_id": "ref",
                    "opened_at": {"column": "opened", "format": "epoch_s"},
                    "known_at": {"column": "logged", "format": "epoch_s"},
                },
            },
            "churn_events": {
                "files": "leavers.csv",
                "columns": {
                    "customer_id": "client",
                    "churned_at": {"column": "left_on", **local, "format": "%Y-%m-%d %H:%M:%S"},
                },
                "known_at": {"after": "churned_at", "lag_days": 0},
            },
        },
    }
