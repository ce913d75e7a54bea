"""Every Feast object of the platform for one offline store, built on request."""

from pathlib import Path
from typing import Any

from churn.offline import offline_features
from feature_repo.data_sources import snapshots_source
from feature_repo.entities import customer
from feature_repo.feature_services import feature_services
from feature_repo.features import feature_views

# The platform's default CHURN_HOME is the repository's var/ (churn.settings); by hand, Feast reads it there.
DEFAULT_SNAPSHOTS = Path(__file__).resolve().parents[1] / "var" / "data" / "offline" / "snapshots"


def declarations(snapshots_path: Path | str = DEFAULT_SNAPSHOTS, spark: bool = False) -> list[Any]:
    """Entity, source, views and services over the snapshot folder ``snapshots_path``; the deployment's declared
    features come from the offline store's manifest beside it (none: the platform's features alone)."""
    features = offline_features(Path(snapshots_path).parent)
    entity = customer()
    source = snapshots_source(str(snapshots_path), spark=spark)
    views = feature_views(source, entity, features)
    return [entity, source, *views, *feature_services(views, features)]
