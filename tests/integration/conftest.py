"""Integration fixtures shared by the modules of this package."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def stop_spark_after_the_module() -> Iterator[None]:
    """A module that started Spark stops it: an idle JVM kept a tenth of a core busy for the rest of the run."""
    yield
    if "pyspark" in sys.modules:
        from pyspark import SparkContext

        active = SparkContext._active_spark_context
        if active is not None:
            active.stop()
        gateway = SparkContext._gateway  # stopping the context leaves its JVM running: end that too
        if gateway is not None:
            gateway.shutdown()
            process = getattr(gateway, "proc", None)
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
            SparkContext._gateway = None
            SparkContext._jvm = None
