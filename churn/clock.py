"""The platform's clock: simulated and reconstructed histories live in the past, so "now" is a setting.

``CHURN_AS_OF`` (or a command's ``--as-of``) names the month; without it, the
latest snapshot month in the offline store. No data decision uses the wall clock.
"""

from __future__ import annotations

from churn.errors import InputError
from churn.offline import snapshot_months
from churn.settings import Settings
from churn.timeutil import parse_month


def platform_clock(settings: Settings) -> int:
    """The platform's "now" as a month index: CHURN_AS_OF, else the latest snapshot month."""
    if settings.as_of:
        return parse_month(settings.as_of, field="CHURN_AS_OF")
    months = snapshot_months(settings.snapshots_dir)
    if not months:
        raise InputError(f"offline store: no snapshots under {settings.snapshots_dir} — run `churn build` first")
    return parse_month(months[-1])
