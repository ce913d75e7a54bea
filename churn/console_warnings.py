"""Keep dependencies' deprecation notices off a user's console; ours still show.

A user of `churn` or `make demo` cannot act on ibis telling duckdb's callers
about a renamed method, and a screen of those hides the lines that matter.
Filters alone do not hold: Feast inserts ``simplefilter("once",
DeprecationWarning)`` at the front of the list when it is imported, after ours.
So the check sits where every warning ends up, ``warnings.showwarning``: a
deprecation or future warning raised from a file outside this project is not
shown; everything else is, as before (the tests keep their own filters in
pyproject.toml).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TextIO

PROJECT = str(Path(__file__).resolve().parents[1])
SITE_MARKERS = ("site-packages", "dist-packages")
QUIET = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
# the same for child processes (`bentoml serve` workers), which read it at start
PYTHONWARNINGS = "ignore::DeprecationWarning,ignore::PendingDeprecationWarning,ignore::FutureWarning"


def is_dependency_notice(category: type[Warning], filename: str) -> bool:
    """A deprecation-like warning attributed to a file of an installed package, not of this project."""
    if not issubclass(category, QUIET):
        return False
    return any(marker in filename for marker in SITE_MARKERS) or not filename.startswith(PROJECT)


def silence_dependency_warnings() -> None:
    shown = warnings.showwarning
    if getattr(shown, "_churn_quiet", False):
        return

    def showwarning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not is_dependency_notice(category, filename):
            shown(message, category, filename, lineno, file, line)

    showwarning._churn_quiet = True  # type: ignore[attr-defined]
    warnings.showwarning = showwarning
