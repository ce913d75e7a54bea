"""Values as JSON carries them: one conversion for explanations, the CLI's tables and the API's answers."""

from __future__ import annotations

from typing import Any

import numpy as np


def plain_value(value: Any) -> Any:
    """A numpy/pandas scalar as a JSON-ready Python value (NaN -> None)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
