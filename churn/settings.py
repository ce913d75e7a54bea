"""Platform settings, read from ``CHURN_*`` environment variables.

Nothing happens at import: callers ask for :func:`get_settings`, and tests that
change the environment call ``get_settings.cache_clear()``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from churn.errors import InputError

Profile = Literal["local", "redis", "shared", "spark"]
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Every knob of the platform; `.env.example` is generated from this class."""

    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="ignore")

    home: Path | None = Field(
        None, description="Root of all runtime state (data, stores, models, outputs); default: var/ in the project."
    )
    profile: Profile = Field("local", description="Store profile: local (embedded), redis, shared, spark.")
    redis: str = Field("127.0.0.1:6379", description="Redis online store as host:port[,password=...][,ssl=true].")
    redis_type: Literal["redis", "redis_cluster"] = Field(
        "redis", description="redis (one server) or redis_cluster (CHURN_REDIS lists startup nodes host:port,...)."
    )
    spark_master: str = Field(
        "local[2]", description="Spark master of the `spark` profile: local[N] here, a cluster master elsewhere."
    )
    registry_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/churn_feast",
        description="Feast SQL registry of the `shared` profile (SQLAlchemy URL; the database must exist).",
    )
    as_of: str | None = Field(
        None, description="The platform's clock, YYYY-MM; default: the latest snapshot month in the offline store."
    )
    feast_project: str = Field("churn", description="Feast project name (unique per test run).")
    seed: int = Field(42, description="Default seed for every random choice the platform makes.")
    online_key_ttl: int = Field(
        62 * 24 * 3600, gt=0, description="Seconds a Redis online-store key lives after it is written (two months)."
    )
    materialize_writer: Literal["platform", "feast"] = Field(
        "platform",
        description="Who writes materialized rows into Redis: the platform's writer in Feast's layout (several times "
        "faster), or Feast's own `materialize` (the Spark profile and SQLite always use Feast's).",
    )

    packed_champion: str | None = Field(
        None, description="Set by `churn package` in a Bento: the churn model it carries, used without a registry."
    )
    packed_lifetime: str | None = Field(
        None, description="Set by `churn package` in a Bento: the lifetime model it carries, used without a registry."
    )
    protected_attributes: str = Field(
        "gender,senior_citizen", description="Features audited for fairness (comma-separated declared features)."
    )
    fairness_gate: bool = Field(
        False, description="Block an automatic promotion when the fairness audit warns (four-fifths, calibration)."
    )
    retention_days: int = Field(
        90, ge=1, description="Days prediction logs and batch-score files are kept; the retention flow deletes older."
    )
    score_objected: bool = Field(
        False,
        description="Score customers who objected to direct marketing (for non-marketing uses); never targeted.",
    )
    clv_margin: float = Field(
        0.30, gt=0, le=1, description="Share of monthly charges kept as margin, for a customer's lifetime value."
    )
    clv_monthly_discount: float = Field(
        0.01, ge=0, lt=1, description="Monthly discount rate of future margin in a customer's lifetime value."
    )

    api_keys: SecretStr | None = Field(
        None,
        description="API keys for the HTTP service, comma-separated, each plain or sha256:<hex>; required by `redis`.",
    )
    rate_limit: float = Field(
        50.0, gt=0, description="Requests per second allowed per API key (bursts of twice that) on the HTTP service."
    )
    reload_seconds: float = Field(
        10.0, gt=0, le=30, description="How often the HTTP service checks the registry for a new champion."
    )
    serve_workers: int = Field(2, ge=1, le=64, description="HTTP service worker processes (`churn serve --workers`).")
    serve_host: str = Field(
        "127.0.0.1",
        description="Address the HTTP service binds (`churn serve --host`); off loopback, keys are required.",
    )
    alert_webhook: str | None = Field(
        None, description="URL the flows POST drift alarms and promotions to as JSON (a Slack-style webhook)."
    )

    @field_validator("as_of")
    @classmethod
    def _check_as_of(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        from churn.timeutil import parse_month  # here: pandas would cost `churn --help` 0.4 s

        parse_month(value, field="CHURN_AS_OF")
        return value

    @property
    def home_dir(self) -> Path:
        """The home: CHURN_HOME as given (relative to the working directory), else the project's var/.

        The default is anchored on the code, not the working directory, so the
        CLI, the flows and `feast` run by hand in feature_repo/ find the same home.
        """
        return (self.home or PROJECT_ROOT / "var").expanduser().resolve()

    @property
    def bentoml_home(self) -> Path:
        return self.home_dir / "bentoml"

    @property
    def prefect_home(self) -> Path:
        return self.home_dir / "prefect"

    @property
    def data_dir(self) -> Path:
        """``CHURN_HOME/data``: the raw data, the offline store and the platform's own records (campaigns)."""
        return self.home_dir / "data"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def offline_dir(self) -> Path:
        return self.data_dir / "offline"

    @property
    def snapshots_dir(self) -> Path:
        return self.offline_dir / "snapshots"

    @property
    def labels_path(self) -> Path:
        return self.offline_dir / "labels.parquet"

    @property
    def outputs_dir(self) -> Path:
        return self.home_dir / "outputs"

    @property
    def reports_dir(self) -> Path:
        return self.home_dir / "reports"

    def to_env(self) -> dict[str, str]:
        """These settings as ``CHURN_*`` variables: what a child process (`churn serve`, a test's server) reads back.

        Secrets are left out: a child finds them where this process did (its
        environment or ``CHURN_SECRETS_DIR``), never copied into an environment.
        """
        env: dict[str, str] = {}
        for name in Settings.model_fields:
            value = getattr(self, name)
            if value is not None and not isinstance(value, SecretStr):
                env[f"CHURN_{name.upper()}"] = str(self.home_dir if name == "home" else value)
        return env

    def at(self, as_of: str | None) -> Settings:
        """These settings with the platform's clock moved to ``as_of`` (YYYY-MM); None keeps them as they are."""
        return self if as_of is None else self.model_copy(update={"as_of": as_of})

    def feast_dir(self, profile: str | None = None) -> Path:
        return self.home_dir / "feast" / (profile or self.profile)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from ``CHURN_*`` variables, and from files in ``CHURN_SECRETS_DIR`` when it is set.

    A mounted secret (a Kubernetes Secret volume, a Docker secret) is a file named
    after the variable, ``CHURN_API_KEYS`` say; the environment wins over a file.
    """
    secrets = os.environ.get("CHURN_SECRETS_DIR")
    if secrets:
        if not Path(secrets).is_dir():
            raise InputError(f"CHURN_SECRETS_DIR: {secrets} is not a directory")
        return Settings(_secrets_dir=secrets)
    return Settings()


def env_example() -> str:
    """`.env.example`, generated from the fields above so the file cannot drift from the code."""
    lines = [
        "# Every platform setting, its default and its meaning. Generated by `python -m churn.settings`;",
        "# tests fail when this file and churn/settings.py disagree. Secrets belong in the environment or a",
        "# mounted file, never in the repository: CHURN_SECRETS_DIR names a folder of files called after the",
        "# variables (CHURN_API_KEYS, ...), as Kubernetes and Docker mount secrets; the environment wins.",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        value = "" if default is None else str(default)
        lines += ["", f"# {field.description}", f"CHURN_{name.upper()}={value}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(env_example(), end="")
