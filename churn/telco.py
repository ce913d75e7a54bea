"""The IBM Telco Customer Churn CSV: a shortcut for the cross-section mapping shipped in churn/mappings/telco.yaml.

`churn ingest telco FILE --as-of YYYY-MM` and `churn ingest --mapping` with a
copy of that mapping run the same code (churn/cross_section.py) and write the
same raw data; the reconstruction's assumptions are in that module and the
README.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from churn.cross_section import CrossSectionIngest, ingest_cross_section, typed_rows
from churn.errors import InputError
from churn.mapping import SourceMapping, parse_mapping
from churn.timeutil import parse_month

TELCO_MAPPING = Path(__file__).resolve().parent / "mappings" / "telco.yaml"
CHURN_SPREAD_MONTHS = 12
# SHA-256 of the public IBM file (shared/data/telco/PROVENANCE.md): published figures apply to this file only.
IBM_TELCO_SHA256 = "16320c9c1ec72448db59aa0a26a0b95401046bef5d02fd3aeb906448e3055e91"
OTHER_DATA_HINT = (
    "`churn ingest telco` reads the IBM Telco layout only; for data of another layout, declare a mapping "
    "(`churn ingest --mapping FILE`, see docs/byod.md)"
)


def telco_mapping(path: Path) -> SourceMapping:
    """The shipped Telco mapping, reading ``path``; a file without the Telco columns is refused naming them."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"telco file: {path} does not exist")
    document: dict[str, Any] = yaml.safe_load(TELCO_MAPPING.read_text())
    document["cross_section"]["files"] = [str(path.resolve())]
    mapping = parse_mapping(document, where=f"mapping {TELCO_MAPPING.name}:")
    assert mapping.cross_section is not None and mapping.cross_section.churn_spread_months == CHURN_SPREAD_MONTHS
    try:
        header = pd.read_csv(path, nrows=0, dtype=str).columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"telco file: {path} is not a readable CSV ({err.__class__.__name__}: {err})") from None
    wanted = [spec if isinstance(spec, str) else spec.column for spec in mapping.cross_section.columns.values()]
    missing = [str(c) for c in wanted if c not in header]
    if missing:
        raise InputError(f"telco file: missing required column(s): {', '.join(missing)} — {OTHER_DATA_HINT}")
    return mapping


def ingest_telco(path: Path, as_of: str) -> CrossSectionIngest:
    """Validate the file, quarantine bad rows, and reconstruct monthly histories."""
    parse_month(as_of, field="as_of")  # the month first: a bad --as-of is named even when the file is missing
    return ingest_cross_section(telco_mapping(path), Path(path).resolve().parent, as_of)


def telco_rows(path: Path) -> pd.DataFrame:
    """The file's accepted rows, typed, in the mapping's column names (the static benchmark's input)."""
    return typed_rows(telco_mapping(path), Path(path).resolve().parent)
