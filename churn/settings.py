"""Platform settings, read from ``CHURN_*`` environment variables.

Nothing happens at import: callers ask for :func:`get_settings`, and tests that
change the environment call ``get_settings.cache_clear()``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["local", "redis", "shared", "spark"]


class Settings(BaseSettings):
    """Every knob of the platform; `.env.example` is generated from this class."""

    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="ignore")

    home: Path = Field(Path("var"), description="Root of all runtime state (data, stores, models, outputs).")
    profile: Profile = Field("local", description="Store profile: local (embedded), redis, shared, spark.")
    redis: str = Field("127.0.0.1:6379", description="Redis online store as host:port[,password=...][,ssl=true].")
    as_of: str | None = Field(
        None, description="The platform's clock, YYYY-MM; default: the latest snapshot month in the offline store."
    )
    feast_project: str = Field("churn", description="Feast project name (unique per test run).")
    seed: int = Field(42, description="Default seed for every random choice the platform makes.")
    online_key_ttl: int = Field(
        62 * 24 * 3600, gt=0, description="Seconds a Redis online-store key lives after it is written (two months)."
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
    alert_webhook: str | None = Field(
        None, description="URL the flows POST drift alarms and promotions to as JSON (a Slack-style webhook)."
    )

    @field_validator("as_of")
    @classmethod
    def _check_as_of(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        from churn.timeutil import parse_month

        parse_month(value, field="CHURN_AS_OF")
        return value

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def raw_dir(self) -> Path:
        return self.home_dir / "data" / "raw"

    @property
    def offline_dir(self) -> Path:
        return self.home_dir / "data" / "offline"

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

    def feast_dir(self, profile: str | None = None) -> Path:
        return self.home_dir / "feast" / (profile or self.profile)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
