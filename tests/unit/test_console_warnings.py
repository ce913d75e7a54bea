"""Dependencies' deprecation notices stay off the console, even after a library re-arms them; ours still show."""

from __future__ import annotations

import subprocess
import sys

from churn.console_warnings import PROJECT, is_dependency_notice

SCRIPT = """
import warnings
from churn.console_warnings import silence_dependency_warnings
silence_dependency_warnings()
warnings.simplefilter("once", DeprecationWarning)  # what importing Feast does, after us
warnings.warn_explicit("old api", DeprecationWarning, "/x/site-packages/ibis/backends/duckdb/__init__.py", 332)
warnings.warn_explicit("soon", FutureWarning, "/usr/lib/python3/dist-packages/evidently/x.py", 1)
warnings.warn_explicit("ours is deprecated", DeprecationWarning, "{project}/churn/drift.py", 5)
warnings.warn_explicit("a real problem", RuntimeWarning, "/x/site-packages/feast/y.py", 7)
"""


def test_only_dependencies_deprecations_are_hidden() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(project=PROJECT)], capture_output=True, text=True, cwd=PROJECT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "old api" not in done.stderr and "soon" not in done.stderr
    assert "ours is deprecated" in done.stderr and "a real problem" in done.stderr


def test_the_rule() -> None:
    assert is_dependency_notice(DeprecationWarning, "/v/lib/python3.11/site-packages/pathspec/pattern.py")
    assert is_dependency_notice(FutureWarning, f"{PROJECT}/.venv/lib/python3.11/site-packages/x.py")
    assert not is_dependency_notice(DeprecationWarning, f"{PROJECT}/serving/engine.py")
    assert not is_dependency_notice(UserWarning, "/v/lib/python3.11/site-packages/pathspec/pattern.py")
