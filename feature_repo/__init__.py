"""Feast declarations: the customer entity, the snapshot source, the feature views and the versioned services.

Factories, not module-level objects: the platform's store layer builds them for
its settings (the offline store's path, Spark or not) and passes them to Feast
explicitly; ``repo.py`` builds the default ones for people who run ``feast`` by
hand in this folder. Nothing here reads the environment.
"""

from feature_repo.fast_import import skip_feast_typechecks

skip_feast_typechecks()  # before any Feast import: see fast_import
