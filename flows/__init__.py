"""Prefect flows: orchestration only — every decision is made by the layers below, called as they are by the CLI.

Prefect's home defaults to ``CHURN_HOME/prefect`` so that runs, tests and
profiles do not share ``~/.prefect``; it has to be set before Prefect is imported.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("PREFECT_HOME", str(Path(os.environ.get("CHURN_HOME", "var")).resolve() / "prefect"))
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # its SQLite database cannot make the folder
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
