"""The FeatureStore of a profile, `feast apply`, and the versioned feature services models are trained on."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feast import FeatureService, FeatureStore, FeatureView

from churn.errors import InputError
from churn.offline import offline_features
from churn.schema import DEFAULT_SERVICE as DEFAULT_SERVICE
from churn.settings import Settings
from feature_repo.declarations import declarations
from feature_repo.features import DECLARED_VIEW
from store.config import REPO_DIR, config_dict, repo_config


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Feast prints progress on stdout; our commands keep stdout for their one JSON object."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def get_store(settings: Settings, profile: str | None = None, registry_path: Path | None = None) -> Any:
    """A FeatureStore for the profile (default: the active one), configured from the settings alone."""
    profile = profile or settings.profile
    settings.feast_dir(profile).mkdir(parents=True, exist_ok=True)  # Feast does not create the registry's folder
    return FeatureStore(repo_path=str(REPO_DIR), config=repo_config(settings, profile, registry_path))


@contextlib.contextmanager
def private_registry(settings: Settings, profile: str | None = None) -> Iterator[Any]:
    """A store on a private copy of the profile's file registry, for one of several processes loading at once.

    Feast rewrites a file registry in place (truncate, then write) after every view it loads; a sibling
    process that reads it in that instant finds an empty registry ("Entity customer does not exist"). Each
    worker therefore loads through its own copy, and the parent records every interval in the real registry
    afterwards. A SQL registry is shared safely and is used as it is.
    """
    profile = profile or settings.profile
    registry = config_dict(settings, profile).get("registry")
    if not (isinstance(registry, dict) and registry.get("registry_type", "file") == "file"):
        yield get_store(settings, profile)
        return
    folder = settings.feast_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix="worker-registry-") as tmp:
        copy = Path(tmp) / "registry.db"
        shutil.copyfile(registry["path"], copy)
        yield get_store(settings, profile, registry_path=copy)


def objects_for(settings: Settings, profile: str | None = None) -> list[Any]:
    """The Feast objects the platform registers for these settings: the declarations over its offline store."""
    return declarations(settings.snapshots_dir, spark=(profile or settings.profile) == "spark")


@dataclass
class ApplyResult:
    project: str
    profile: str
    applied: list[str]
    deleted: list[str]
    declaration: dict[str, Any] | None = None  # the deployment's service and what changed in its declared features


def _declared_fields(views: list[Any]) -> dict[str, str]:
    """The declared view's features as registered: name -> its type and description (what a change shows as)."""
    view = next((v for v in views if v.name == DECLARED_VIEW), None)
    return {f.name: f"{f.dtype}|{f.description}" for f in view.features} if view is not None else {}


def apply(settings: Settings, profile: str | None = None) -> ApplyResult:
    """`feast apply` for the profile: register the declarations, delete what the repo no longer declares."""
    store = get_store(settings, profile)
    objects = objects_for(settings, profile)
    names = {o.name for o in objects}
    registered = store.list_feature_views()
    before = _declared_fields(registered)
    after = _declared_fields([o for o in objects if isinstance(o, FeatureView)])
    stale: list[Any] = [fv for fv in registered if fv.name not in names]
    stale += [fs for fs in store.list_feature_services() if fs.name not in names]
    with quiet_stdout():
        store.apply(objects, objects_to_delete=stale, partial=False)
    kinds = (FeatureView, FeatureService)
    return ApplyResult(
        project=settings.feast_project,
        profile=profile or settings.profile,
        applied=sorted(f"{type(o).__name__}:{o.name}" for o in objects if isinstance(o, kinds)),
        deleted=sorted(o.name for o in stale),
        declaration={
            "service": offline_features(settings.offline_dir).service_name,
            "added": sorted(set(after) - set(before)),
            "removed": sorted(set(before) - set(after)),
            "changed": sorted(n for n in set(before) & set(after) if before[n] != after[n]),
        },
    )


def feature_service(store: Any, name: str = DEFAULT_SERVICE) -> Any:
    try:
        return store.get_feature_service(name)
    except Exception as err:  # Feast raises its own not-found classes
        raise InputError(f"feature service {name!r} is not registered — run `churn features apply` ({err})") from None


def feature_names(service: Any) -> list[str]:
    """A FeatureService's feature names, in the order the model receives them."""
    return [f.name for projection in service.feature_view_projections for f in projection.features]


def service_features(store: Any, name: str = DEFAULT_SERVICE) -> list[str]:
    return feature_names(feature_service(store, name))
