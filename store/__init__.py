"""The feature-store layer: every Feast, Redis and Spark call of the platform, configured from Settings.

Built once from the settings and handed its configuration explicitly — the
profile's yaml is a template filled from the settings, never from the process
environment. Training, batch scoring, monitoring, serving and the flows reach
Feast only through here:

- ``config``: the Feast configuration of a profile, and the by-hand repository ``churn features render`` writes
- ``feast_store``: the FeatureStore, apply, feature services
- ``training_sets``: point-in-time joins (training sets, batch scoring's features)
- ``online``: the online-reader protocol, Feast's reader and the factory that picks the fastest one
- ``redis_online``: the direct Redis reader (one pipelined round trip) and the Redis client
- ``marker``: the online store's record of what it holds
- ``materialize``: materialization, the online store's health and its refresh
- ``offline_build``: raw data → offline store, in this process or on Spark (``spark``)
"""

from feature_repo.fast_import import skip_feast_typechecks

skip_feast_typechecks()  # before any Feast import (feature_repo/fast_import.py)
