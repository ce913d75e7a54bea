"""Where data came from: a source name and a fingerprint that follow the data from ingest to the model.

Every ingest (a file through a mapping, the IBM Telco shortcut, a simulation)
stamps the raw manifest with ``lineage = {"source", "fingerprint"}``. The
fingerprint is a SHA-256 over what determined the data (the input file's
bytes, the options, the simulator's configuration), so the same input gives
the same fingerprint on every machine and any change of input gives another.
The offline store, the online store's marker and every registered model carry
the fingerprint they were made from; comparing them is how the platform notices
a source change instead of silently mixing two.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (a large export never sits in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(source: str, **parts: Any) -> str:
    """A short, stable fingerprint of an ingest: 16 hex digits of SHA-256 over the source and its parts."""
    text = json.dumps({"source": source, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def lineage(source: str, **parts: Any) -> dict[str, str]:
    """The ``lineage`` entry of a raw manifest."""
    return {"source": source, "fingerprint": fingerprint(source, **parts)}


def of_manifest(manifest: dict[str, Any]) -> dict[str, str | None]:
    """``{"source", "fingerprint"}`` of a manifest (raw or offline); None where an older manifest has none."""
    found = manifest.get("lineage") or {}
    return {"source": found.get("source") or manifest.get("source"), "fingerprint": found.get("fingerprint")}


def same_source(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool | None:
    """True / False when both sides name a source, None when either is unknown (nothing to compare)."""
    if not a or not b or not a.get("source") or not b.get("source"):
        return None
    return bool(a["source"] == b["source"])


def describe(entry: dict[str, Any] | None) -> str:
    if not entry or not entry.get("source"):
        return "an unknown source"
    fp = entry.get("fingerprint")
    return f"{entry['source']} ({fp})" if fp else str(entry["source"])


def source_warning(model: dict[str, Any] | None, data: dict[str, Any] | None, what: str) -> str | None:
    """A warning when a model trained on one source scores data from another, else None."""
    if same_source(model, data) is not False:
        return None
    return (
        f"the champion was trained on {describe(model)} data but the {what} come from {describe(data)}: "
        "retrain (`churn train`) before acting on these scores"
    )
