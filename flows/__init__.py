"""Prefect flows: orchestration only — the sequences live in ``operations``, the decisions in the layers below.

Each flow reads the settings from its worker's environment (as the CLI does
from the shell), runs the steps as Prefect tasks (``flows.tasks``), and
publishes what people need to see (``flows.notify``). Prefect keeps its own
state in ``PREFECT_HOME``; the Makefile, ``infra/orchestrate.sh`` and the
container images point it at ``CHURN_HOME/prefect``.
"""
