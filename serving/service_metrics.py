"""Our Prometheus counters, served with BentoML's own on ``/metrics``.

Created on first use, inside a worker: BentoML sets up prometheus_client's
multi-process directory before workers run, and counters created earlier
would not be collected across workers.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter


class Counters:
    def __init__(self) -> None:
        self._made = False

    def _make(self) -> None:
        self.predictions: Any = Counter("churn_predictions", "Predictions served", ["kind", "what_if"])
        self.decisions: Any = Counter(
            "churn_decisions", "Decisions made, by action and whether targeted", ["action", "target"]
        )
        self.errors: Any = Counter("churn_errors", "Requests answered with an error, by kind", ["kind"])
        self.reloads: Any = Counter("churn_model_reloads", "Champion model swaps", ["outcome"])
        self.log_failures: Any = Counter("churn_prediction_log_failures", "Prediction-log writes that failed")
        self._made = True

    def prediction(self, kind: str, what_if: bool, action: str, target: bool) -> None:
        if not self._made:
            self._make()
        self.predictions.labels(kind, str(what_if).lower()).inc()
        self.decisions.labels(action, str(target).lower()).inc()

    def error(self, kind: str) -> None:
        if not self._made:
            self._make()
        self.errors.labels(kind).inc()

    def log_failure(self) -> None:
        if not self._made:
            self._make()
        self.log_failures.inc()

    def reload(self, outcome: str) -> None:
        if not self._made:
            self._make()
        self.reloads.labels(outcome).inc()


COUNTERS = Counters()
