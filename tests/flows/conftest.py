"""One Prefect test harness per session, and a way to point the in-process flows at a CHURN_HOME."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

# before any Prefect import: its home (settings, SQLite database) lives in a temporary folder, never ./var
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="prefect-home-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="package", autouse=True)
def prefect_api() -> Iterator[None]:
    """Prefect's test server for this package only: it would otherwise keep a core busy for the rest of the run."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def use_settings(monkeypatch: pytest.MonkeyPatch):
    """``use_settings(settings, **extra_env)``: the flows' get_settings() now returns these."""
    from churn.settings import get_settings
    from harness.homes import settings_env

    def apply(settings, **extra: str) -> None:
        for key in [k for k in os.environ if k.startswith("CHURN_")]:
            monkeypatch.delenv(key)
        for key, value in settings_env(settings, **extra).items():
            if key.startswith(("CHURN_", "FEAST_")):
                monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()
