"""The platform's recurring work as library functions: the monthly cycle, the demo, the replay.

Each is written once, as a sequence of :class:`operations.steps.Steps`. The
CLI runs them with plain calls; the Prefect flows run the same sequences with
each step as a task (retries, logs, artifacts). Nothing here imports Prefect.
"""
