"""A synthetic cross-section in the layout of public mobile-telecom churn files, with its mapping.

One row per customer: state, account length in days, area code, international
and voice-mail plans as yes/no, day/evening/night/international minutes, calls
and charges, customer-service calls and a 'True.'/'False.' churn flag. Nothing
is fetched: the rows are drawn here, seeded, with churn driven by service calls,
the international plan and day minutes (as in such files), so declared features
carry signal the platform's telecom features do not. Not product: tests and
benchmarks use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ADDONS = ["online_security", "online_backup", "device_protection", "tech_support", "streaming_tv", "streaming_movies"]


def mobile_frame(n: int = 1500, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    intl = rng.random(n) < 0.1
    calls = rng.poisson(1.6, n)
    day = rng.normal(180, 54, n).clip(0)
    logit = -2.6 + 0.55 * np.maximum(calls - 3, 0) * 2 + 1.3 * intl + 0.012 * (day - 180)
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "State": rng.choice(["KS", "OH", "NJ", "TX", "CA"], n),
            "Phone": [f"{382 + i // 10000}-{i % 10000:04d}" for i in range(n)],
            "Account length": rng.integers(31, 240, n),
            "Area code": rng.choice([408, 415, 510], n),
            "International plan": np.where(intl, "yes", "no"),
            "Voice mail plan": rng.choice(["yes", "no"], n, p=[0.28, 0.72]),
            "Total day minutes": day.round(1),
            "Total day charge": (day * 0.17).round(2),
            "Total eve minutes": rng.normal(200, 50, n).clip(0).round(1),
            "Customer service calls": calls,
            "Churn": np.where(churn, "True.", "False."),
        }
    )


def mobile_mapping(file_name: str, as_of: str = "2024-06", declared: dict[str, Any] | None = None) -> dict[str, Any]:
    """The mapping of :func:`mobile_frame`'s file: the platform's columns where the file has them, stated
    constants where it has none, and its usage and plan columns declared as features."""
    no = {"value": False, "assumption": "the file has no such service"}
    features = declared or {
        "international_plan": {"attribute": "International plan", "type": "flag",
                               "description": "Has an international calling plan."},
        "voice_mail_plan": {"attribute": "Voice mail plan", "type": "flag"},
        "day_minutes": {"attribute": "Total day minutes", "type": "number",
                        "description": "Minutes called in the day (the file's latest month)."},
        "service_calls": {"attribute": "Customer service calls", "type": "count"},
        "state": {"attribute": "State", "type": "category"},
    }  # fmt: skip
    return {
        "version": 1,
        "source": "mobile-cs",
        "as_of": as_of,
        "cross_section": {
            "files": file_name,
            "columns": {
                "customer_id": "Phone",
                "churned": {"column": "Churn", "true_values": ["True."], "false_values": ["False."]},
                "tenure_months": {"column": "Account length", "unit": "days"},
                "monthly_charges": "Total day charge",
                "gender": {"value": "Female", "assumption": "not recorded; a constant carries no information"},
                "senior_citizen": {"value": False, "assumption": "not recorded"},
                "partner": {"value": False, "assumption": "not recorded"},
                "dependents": {"value": False, "assumption": "not recorded"},
                "contract": {"value": "Month-to-month", "assumption": "prepaid mobile: no contract term"},
                "phone_service": {"value": True, "assumption": "every customer has a mobile line"},
                "multiple_lines": {"value": False, "assumption": "one line each"},
                "internet_service": {"value": "No", "assumption": "mobile voice only"},
                **{a: no for a in ADDONS},
                "payment_method": {"value": "Credit card (automatic)", "assumption": "not recorded"},
                "paperless_billing": {"value": True, "assumption": "not recorded"},
            },
        },
        "features": {"builtin": "all", "declared": features},
    }


def write_mobile(folder: Path, n: int = 1500, seed: int = 7) -> Path:
    """The file and its mapping in ``folder``; returns the mapping's path."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    mobile_frame(n, seed).to_csv(folder / "mobile.csv", index=False)
    path = folder / "mobile.yaml"
    path.write_text(yaml.safe_dump(mobile_mapping("mobile.csv"), sort_keys=False))
    return path
