"""Feast without typeguard's import-time instrumentation: about three seconds off every process that imports it.

Feast decorates its classes with typeguard 4's ``@typechecked``, which, for
every decorated method, re-reads the method's whole module source, parses it,
rewrites it and compiles it again (agronholm/typeguard#468). Measured here:
``import feast`` 4.0 s with it, 1.2 s without, on a loaded two-core machine —
paid by every CLI command, serving worker and flow run. The checks it adds
also run on every call into Feast (featurebyte patched it out of Feast for
online-read latency, featurebyte#2363).

Our calls into Feast are typed (mypy) and exercised by the tests, so for
Feast's own modules the decorator is a no-op; every other package keeps
typeguard as it is. Called by ``feature_repo`` and ``store`` before they import
Feast; if Feast was imported earlier in the process it changes nothing.
"""

from __future__ import annotations

import sys
from typing import Any

_PATCHED = "_churn_feast_untyped"


def skip_feast_typechecks() -> None:
    if "feast" in sys.modules:
        return  # too late for this process: Feast is already instrumented (slower, not wrong)
    import typeguard

    original = typeguard.typechecked
    if getattr(original, _PATCHED, False):
        return

    def typechecked(target: Any = None, **options: Any) -> Any:
        if target is not None and str(getattr(target, "__module__", "")).startswith("feast."):
            return target
        if target is None:
            return original(**options)
        return original(target, **options)

    setattr(typechecked, _PATCHED, True)
    typeguard.typechecked = typechecked
