"""The Feast configuration of each profile: a yaml template in feature_repo/profiles/, filled from the settings.

Feast would expand ``${VAR}`` from the process environment; the platform never
writes there. It fills the same placeholders from a dict derived from
:class:`~churn.settings.Settings` and hands Feast the resulting ``RepoConfig``.
People who run ``feast`` by hand get the same values written into a file by
``churn features render`` (:func:`render_repo`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from feast.repo_config import RepoConfig
from pydantic import ValidationError

import feature_repo
from churn.errors import InputError
from churn.io import write_text
from churn.settings import Settings

REPO_DIR = Path(feature_repo.__file__).resolve().parent
PROFILES = ("local", "redis", "shared", "spark")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def variables(settings: Settings) -> dict[str, Any]:
    """The values the profile templates name, from the settings (and this interpreter, for Spark's workers)."""
    return {
        "CHURN_HOME": str(settings.home_dir),
        "CHURN_SPARK_MASTER": settings.spark_master,
        "CHURN_REDIS": settings.redis,
        "CHURN_REDIS_TYPE": settings.redis_type,
        "CHURN_FEAST_PROJECT": settings.feast_project,
        "CHURN_ONLINE_KEY_TTL": settings.online_key_ttl,
        "CHURN_REGISTRY_URL": settings.registry_url,
    }


def template_path(profile: str) -> Path:
    if profile not in PROFILES:
        raise InputError(f"CHURN_PROFILE: unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return REPO_DIR / "profiles" / f"{profile}.yaml"


def _fill(value: Any, values: dict[str, Any], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, values, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values, where) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> Any:
        if match.group(1) not in values:
            raise InputError(f"{where}: the profile template names an unknown setting ${{{match.group(1)}}}")
        return values[match.group(1)]

    whole = _PLACEHOLDER.fullmatch(value)
    if whole:  # a value that is one placeholder keeps the setting's type (key_ttl_seconds is a number)
        return one(whole)
    return _PLACEHOLDER.sub(lambda m: str(one(m)), value)


def config_dict(settings: Settings, profile: str | None = None) -> dict[str, Any]:
    """The profile's Feast configuration as plain data, every placeholder filled from the settings."""
    profile = profile or settings.profile
    path = template_path(profile)
    return dict(_fill(yaml.safe_load(path.read_text()), variables(settings), path.name))


def repo_config(settings: Settings, profile: str | None = None, registry_path: Path | None = None) -> Any:
    """Feast's RepoConfig for the profile, built from :func:`config_dict` (Feast validates it).

    ``registry_path`` points a file registry elsewhere: at a worker's private copy (:func:`store.feast_store.
    private_registry`)."""
    profile = profile or settings.profile
    data = config_dict(settings, profile)
    if registry_path is not None:
        data["registry"] = {**data["registry"], "path": str(registry_path)}
    try:
        config = RepoConfig(**data)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(f"feature store ({profile}): {field}: {first['msg']}") from None
    config.repo_path = REPO_DIR
    return config


def render_repo(settings: Settings, profile: str | None = None) -> Path:
    """A Feast repository for people running ``feast`` by hand: this profile's yaml, filled, and its objects.

    Written under ``CHURN_HOME/feast/<profile>/repo``; ``feast -c <that folder>
    <command>`` then sees exactly what the platform registers.
    """
    profile = profile or settings.profile
    folder = settings.feast_dir(profile) / "repo"
    data = config_dict(settings, profile)
    header = f"# Written by `churn features render` for profile {profile} and CHURN_HOME {settings.home_dir}.\n"
    write_text(header + yaml.safe_dump(data, sort_keys=False), folder / "feature_store.yaml")
    snapshots = settings.snapshots_dir
    write_text(
        '"""Written by `churn features render`: the platform\'s Feast objects for this home and profile."""\n\n'
        "from feature_repo.declarations import declarations\n\n"
        f"globals().update({{o.name: o for o in declarations({str(snapshots)!r}, spark={profile == 'spark'})}})\n",
        folder / "objects.py",
    )
    return folder
