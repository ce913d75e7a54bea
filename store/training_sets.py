"""Point-in-time joins through a feature service: training sets, and the features batch scoring reads.

One entity-dataframe join serves training (label times) and scoring (the
scoring time), so point-in-time correctness holds by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churn.errors import InputError
from churn.schema import ENTITY, EVENT_TIMESTAMP
from store.feast_store import DEFAULT_SERVICE, feature_service, quiet_stdout


def build_training_set(store: Any, entity_df: pd.DataFrame, service_name: str = DEFAULT_SERVICE) -> pd.DataFrame:
    """Point-in-time join of ``entity_df`` (customer_id, event_timestamp, any label columns) with the service.

    The result has exactly the entity rows given, in their order; a feature view
    without a snapshot inside its TTL yields nulls for that row.
    """
    if entity_df.duplicated([ENTITY, EVENT_TIMESTAMP]).any():
        raise InputError("entity rows: duplicate (customer_id, event_timestamp) pairs")
    entities = entity_df.reset_index(drop=True).assign(_row=np.arange(len(entity_df)))
    entities[EVENT_TIMESTAMP] = pd.to_datetime(entities[EVENT_TIMESTAMP], utc=True)
    with quiet_stdout():
        job = store.get_historical_features(entity_df=entities, features=feature_service(store, service_name))
        df = job.to_df()
    if len(df) != len(entities) or not np.array_equal(np.sort(df["_row"].to_numpy()), entities["_row"].to_numpy()):
        raise RuntimeError(f"point-in-time join returned {len(df)} rows for {len(entities)} entity rows")
    df = df.sort_values("_row", kind="stable").drop(columns="_row").reset_index(drop=True)
    df[EVENT_TIMESTAMP] = pd.to_datetime(df[EVENT_TIMESTAMP], utc=True).astype("datetime64[ns, UTC]")
    return df


def spark_training_set(store: Any, entity_df: Any, service_name: str = DEFAULT_SERVICE) -> Any:
    """The same join as Spark SQL on the spark profile: a Spark DataFrame in, a Spark DataFrame out."""
    job = store.get_historical_features(entity_df=entity_df, features=feature_service(store, service_name))
    return job.to_spark_df()
