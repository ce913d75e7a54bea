"""Customer ids → positions in the customers table, for tables of millions of records.

Records hold a few distinct ids millions of times over, so each distinct id is looked up once: through the
categories of a dictionary-encoded column (what the raw Parquet files load as), Arrow's hash lookup for
Arrow-backed text (what mapped ingest reads), or a factorisation otherwise. Converting the column to Python
strings first, as ``astype(str)`` does, cost seconds per table at 100,000 customers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _via_lookup(codes: np.ndarray, uniques: pd.Index, index: pd.Index) -> np.ndarray:
    lookup = index.get_indexer(uniques.astype(str))
    codes = np.asarray(codes, dtype=np.int64)
    return np.where(codes >= 0, lookup[np.maximum(codes, 0)], -1).astype(np.int64)


def positions(values: pd.Series, index: pd.Index) -> np.ndarray:
    """The position of each value's text in ``index`` (unique strings); -1 where absent or missing."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _via_lookup(values.cat.codes.to_numpy(), pd.Index(values.cat.categories), index)
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        found = pc.index_in(pa.array(values.array), value_set=pa.array(index.to_numpy(dtype=object), pa.string()))
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    codes, uniques = pd.factorize(values)
    return _via_lookup(codes, pd.Index(uniques), index)
