"""Settings and environments for tests and benchmarks: a home of their own, a unique Feast project, no stray CHURN_*."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

from churn.settings import Settings


def make_settings(home: Path, project: str, profile: str = "local", **extra: Any) -> Settings:
    """Settings from the arguments and the defaults only, never from CHURN_* variables of the shell."""
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    return Settings(**{**defaults, "home": home, "profile": profile, "feast_project": project, **extra})


def unique_project(prefix: str) -> str:
    """A Feast project name of this run's own: its Redis keys and registry entries never meet another run's."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any CHURN_* variable, plus ``extra``: what a child process should see."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CHURN_")}, **extra}


def redis_available(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
