"""What the HTTP service does, without HTTP: read features, score, decide, explain, log — and swap models live.

The BentoML service (:mod:`serving.service`) is a thin shell over this class,
and the benchmark calls it directly to measure the compute floor. Everything
it decides comes from the core (risk bands, CLV, the action catalogue) and the
training layer (the model, explanations, online reads), so an API answer and a
batch score for the same vector agree.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from churn.actions import Catalogue, load_catalogue
from churn.assessment import Valuation, assess
from churn.consent import objected
from churn.declared import PLATFORM_FEATURES, FeatureSet
from churn.events import metered_of
from churn.feature_values import check_feature_values
from churn.labels import PLATFORM, Labels
from churn.lineage import source_warning
from churn.offline import offline_features, offline_labels
from churn.prediction_log import make_record
from churn.raw import load_manifest
from churn.settings import Settings
from churn.survival import DEFAULT_HORIZONS
from serving.prediction_writer import PredictionLogWriter, utc_now_iso, worker_id
from serving.store_watch import StoreWatch
from store.event_intake import EventIntake, intake_for
from store.feast_store import DEFAULT_SERVICE, get_store
from store.online import StoreUnavailable, at_instant
from store.readers import online_reader
from training import registry
from training.artifact import ChurnModel
from training.explain import top_factors_rows
from training.lifetime import LifetimeModel, load_champion_lifetime


class StoreNotReady(StoreUnavailable):
    """The store answers but cannot vouch for a missing customer: empty, loading or stale (503, not 404)."""

    def __init__(self, state: str, detail: str) -> None:
        super().__init__(detail)
        self.state = state


@dataclass(frozen=True)
class Query:
    customer_id: str
    explain: bool = False
    top_k: int = 3
    features: dict[str, Any] | None = None
    horizons: tuple[int, ...] = DEFAULT_HORIZONS


@dataclass
class Live:
    """The model being served and what /model-info says about it; replaced whole, never mutated."""

    model: ChurnModel
    version: str
    reader: Any
    info: dict[str, Any]
    loaded_at: str = field(default_factory=utc_now_iso)
    lineage: dict[str, Any] = field(default_factory=dict)  # what the model was trained on
    files: tuple[tuple[str, int, int], ...] = ()  # the artifact's files as loaded (name, size, mtime)
    lifetime: LifetimeModel | None = None  # the lifetime champion (model CLV and horizons), None: the formula
    labels: Labels = PLATFORM  # the source's category labels: what a what-if may set a categorical feature to
    features: FeatureSet = PLATFORM_FEATURES  # the deployment's features: a what-if's declared ones are typed by it
    metered: dict[str, tuple[str, ...]] = field(default_factory=dict)  # metered tables: event types of POST /events


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


class Engine:
    def __init__(
        self, settings: Settings, catalogue: Catalogue | None = None, log: PredictionLogWriter | None = None
    ) -> None:
        self.settings = settings
        self.catalogue = catalogue or load_catalogue()
        self.value_columns = sorted({*self.catalogue.columns, "monthly_charges"})  # what assess() reads
        self.log = log
        self.store = get_store(settings)
        self._readers: dict[str, Any] = {}
        self._intake: EventIntake | None = None
        self._reload_lock = threading.Lock()
        self.last_reload: dict[str, Any] = {}
        self.newest_feature_s = 0.0
        self.warnings: list[str] = []
        self.degraded: list[str] = []  # why the service runs in less than its intended state (fallback model ...)
        self.lifetime_problem: str | None = None
        self.objected: frozenset[str] = frozenset(objected(settings.raw_dir))  # refreshed with every reload
        self.live = self._first_model()
        self.watch = StoreWatch(settings, self.store, self.live.reader)
        self._judge_lineage()

    # --- models -----------------------------------------------------------------------------------------------

    def _reader(self, service_name: str) -> Any:
        if service_name not in self._readers:
            self._readers[service_name] = online_reader(self.settings, self.store, service_name)
        return self._readers[service_name]

    def _first_model(self) -> Live:
        """The champion; if its artifact does not load (corrupt, missing), the last earlier champion that does.

        A server that cannot load its champion used to crash at every start; it
        now serves the last good version and says so (``/health`` degraded).
        """
        champion = registry.champion_version(self.settings, "before serving")
        try:
            return self._load(champion)
        except registry.RegistryError as err:
            failure = str(err)
        for version in registry.earlier_champions(self.settings):
            try:
                live = self._load(version)
            except registry.RegistryError:
                continue
            self.degraded = [f"champion {champion} does not load ({failure}); serving {version}, the last good one"]
            return live
        raise registry.RegistryError(f"{failure}; and no earlier champion loads either")

    def _load(self, version: str) -> Live:
        model = registry.load_model(self.settings, version, nthread=1)
        service_name = str(model.metadata.get("feature_service") or DEFAULT_SERVICE)
        reader = self._reader(service_name)
        missing = sorted(set(model.features) - set(reader.names))
        if missing:
            raise registry.RegistryError(f"model {version}: feature service {service_name} lacks {missing}")
        info = registry.model_info(self.settings, version)
        meta = info["metadata"]
        history = info.get("history") or []
        summary = {
            "version": version,
            "trained_at": meta.get("trained_at") or info["created"],
            "feature_service": service_name,
            "features": model.features,
            "dropped_features": meta.get("dropped_features") or {},
            "windows": meta.get("windows"),
            "evaluation": meta.get("evaluation") or {"mode": "time"},
            "metrics": meta.get("test"),
            "calibration": meta.get("calibration"),
            "lineage": meta.get("lineage") or {"source": meta.get("source")},
            "last_decision": history[-1] if history else None,
        }
        folder = registry.artifact_folder(self.settings, version)
        return Live(model=model, version=version, reader=reader, info=summary, lineage=summary["lineage"],
                    files=_stat(folder), lifetime=self._lifetime(reader),
                    labels=offline_labels(self.settings.offline_dir),
                    features=offline_features(self.settings.offline_dir),
                    metered=metered_of(load_manifest(self.settings.raw_dir)))  # fmt: skip

    def _lifetime(self, reader: Any) -> LifetimeModel | None:
        """The lifetime champion if there is one that loads and reads only features the service has; else the
        formula values customers, and /health says why when a registered one was passed over."""
        self.lifetime_problem = None
        try:
            lifetime = load_champion_lifetime(self.settings)
        except registry.RegistryError as err:
            self.lifetime_problem = f"lifetime model not used ({err}); CLV from the formula"
            return None
        if lifetime is not None and set(lifetime.features) - set(reader.names):
            missing = sorted(set(lifetime.features) - set(reader.names))
            self.lifetime_problem = f"lifetime model {lifetime.version} needs {missing}; CLV from the formula"
            return None
        return lifetime

    def reload(self) -> dict[str, Any]:
        """Load the registry's champion if it changed; the old model serves until the new one is ready.

        A champion that fails to load is reported and the running model kept: a
        broken artifact must not take the service down. The running model's
        files are checked too: if they changed on disk since they were loaded,
        the in-memory copy keeps serving and ``/health`` says the artifact is
        no longer what was recorded (the next start would fall back).
        """
        with self._reload_lock:
            with contextlib.suppress(OSError, ValueError):  # an unreadable record keeps the last known objections
                self.objected = frozenset(objected(self.settings.raw_dir))
            try:
                version = registry.read_pointer(self.settings).get("champion")
                clv = registry.read_pointer(self.settings, "clv").get("champion")
                same_clv = clv == (self.live.lifetime.version if self.live.lifetime else None)
                if version and version == self.live.version and not same_clv:
                    self.live = replace(self.live, lifetime=self._lifetime(self.live.reader))
                    result = {"changed": True, "version": version, "lifetime": clv}
                elif not version or version == self.live.version:
                    result = {"changed": False, "version": self.live.version}
                    self._check_files()
                else:
                    previous = self.live.version
                    self.live = self._load(version)
                    self.watch.reader = self.live.reader
                    self.degraded = []
                    result = {"changed": True, "version": version, "previous": previous}
            except Exception as err:  # keep serving the current model, say why
                result = {"changed": False, "version": self.live.version, "error": f"{err}"}
            self.last_reload = {**result, "at": utc_now_iso()}
        self._judge_lineage()
        return result

    def _check_files(self) -> None:
        folder = registry.artifact_folder(self.settings, self.live.version)
        if _stat(folder) == self.live.files:
            return
        problem = registry.verify_artifact(self.settings, self.live.version)
        note = f"artifact on disk changed since it was loaded: {problem}; the loaded copy keeps serving"
        self.degraded = [d for d in self.degraded if not d.startswith("artifact on disk")]
        if problem:
            self.degraded.append(note)

    def _judge_lineage(self) -> None:
        """The warning owed to answers when the champion was trained on another source than the store's data."""
        warning = source_warning(self.live.lineage, self.watch.marker, "online features")
        self.warnings = [warning] if warning else []

    # --- store ------------------------------------------------------------------------------------------------

    def _read(self, reader: Any, ids: list[str]) -> list[Any]:
        """The rows of ``ids``; 503 at once, without a call, while the watch knows the store is down."""
        if self.watch.state == "down":
            raise StoreUnavailable("the online store does not answer; retrying shortly")
        try:
            rows = list(reader.read_rows(ids))
        except StoreUnavailable:
            self.watch.failed("a read failed")
            raise StoreUnavailable("the online store does not answer; retrying shortly") from None
        now_ms = time.time_ns() // 1_000_000
        return [at_instant(row, now_ms) for row in rows]

    def take_events(self, events: list[Any]) -> list[Any]:
        """Record events and move the online windows (``store.event_intake``); 503 while the store is down."""
        if self.watch.state == "down":
            raise StoreUnavailable("the online store does not answer; retrying shortly")
        if self._intake is None:
            self._intake = intake_for(self.settings, self.store, self._reader(DEFAULT_SERVICE))
        return self._intake.take(events)

    def features_of(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's vector in the online store (what a prediction would read), None when it holds none."""
        row = self._read(self.live.reader, [customer_id])[0]
        return {n: row[0][n] for n in self.live.reader.names} if row is not None else None

    @property
    def feature_names(self) -> list[str]:
        """The features a what-if may set: the serving feature service's."""
        return list(self.live.reader.names)

    def ready(self) -> bool:
        """Readiness from what the watch last saw: no call to any dependency."""
        return self.watch.ready

    # --- predictions ------------------------------------------------------------------------------------------

    def predict(self, queries: list[Query], request_id: str = "") -> list[dict[str, Any]]:
        """One answer per query: a prediction, or ``{"customer_id", "error": "not_found", "detail"}``.

        Raises StoreUnavailable (→ 503; StoreNotReady when the store cannot vouch for a missing customer) and
        FeatureValueError (→ 422).
        """
        live = self.live  # one model for the whole request, whatever a reload does meanwhile
        # a what-if may set any feature of the service, including ones this model left out (no information in
        # its training window); the model reads the ones it uses
        overrides = [
            check_feature_values(q.features, allowed=live.reader.names, labels=live.labels, features=live.features)
            if q.features is not None
            else None
            for q in queries
        ]
        rows = self._read(live.reader, [q.customer_id for q in queries])
        scored, out = self._vectors(queries, rows, overrides, live.model.features)
        if len(scored) < len(queries) and self.watch.state in ("empty", "loading", "stale"):
            raise StoreNotReady(self.watch.state, self.watch.detail)  # the customer may exist; the store cannot say
        if not scored:
            return out
        vectors = [vector for _, vector, _ in scored]
        p = live.model.predict_rows(vectors)
        columns = {c: np.array([v.get(c) for v in vectors], dtype=object) for c in self.value_columns}
        lifetime = (
            live.lifetime.summary(live.lifetime.curves_rows(vectors), _horizons(queries)) if live.lifetime else {}
        )
        valuation = (
            Valuation(lifetime["clv_annuity"], live.lifetime.margin, live.lifetime.source) if live.lifetime else None
        )
        assessed = assess(p, columns, self.catalogue, valuation)
        factors = self._factors(live.model, [(k, queries[i]) for k, (i, _, _) in enumerate(scored)], vectors)
        logged_at = utc_now_iso() if self.log else ""
        for k, (i, vector, stamp) in enumerate(scored):
            decision = {"clv": round(float(assessed.clv[k]), 2), "clv_source": assessed.clv_source,
                        **assessed.decisions.row(k)}  # fmt: skip
            if queries[i].customer_id in self.objected:  # scored for other uses (CHURN_SCORE_OBJECTED), never targeted
                decision.update(target=False, excluded=OBJECTED)
            decision["expected_value"] = round(decision["expected_value"], 2)
            answer: dict[str, Any] = {
                "customer_id": queries[i].customer_id,
                "probability": round(float(p[k]), 6),
                "risk_band": str(assessed.bands[k]),
                "model_version": live.version,
                "feature_timestamp": _iso(stamp),
                "what_if": overrides[i] is not None,
                "decision": decision,
            }
            if lifetime:
                answer["expected_lifetime_months"] = round(float(lifetime["expected_lifetime_months"][k]), 2)
                answer["horizons"] = {str(h): round(float(lifetime[f"churn_within_{h}m"][k]), 6)
                                      for h in queries[i].horizons}  # fmt: skip
            if k in factors:
                answer["factors"] = factors[k]
            if self.warnings:
                answer["warnings"] = self.warnings
            out[i] = answer
            if self.log:
                self.log.append(self._record(answer, vector, logged_at, request_id))
        return out

    def _vectors(
        self,
        queries: list[Query],
        rows: list[Any],
        overrides: list[dict[str, Any] | None],
        names: list[str],
    ) -> tuple[list[tuple[int, dict[str, Any], float | None]], list[dict[str, Any]]]:
        """(query index, feature vector, feature time) of every query that can be scored, and the answers so far
        (``not_found`` where a customer has no stored vector and the what-if does not supply a whole one)."""
        scored: list[tuple[int, dict[str, Any], float | None]] = []
        out: list[dict[str, Any]] = []
        for i, (q, row, extra) in enumerate(zip(queries, rows, overrides, strict=True)):
            out.append({})
            if q.customer_id in self.objected and not self.settings.score_objected:
                out[i] = {"customer_id": q.customer_id, "probability": None, "risk_band": None,
                          "model_version": self.live.version, "feature_timestamp": None, "what_if": extra is not None,
                          "decision": {"action": "none", "clv": None, "clv_source": "not valued", "cost": 0.0,
                                       "success_rate": 0.0, "expected_value": 0.0, "target": False,
                                       "excluded": NOT_SCORED}}  # fmt: skip
                continue
            if row is not None:
                scored.append((i, {**row[0], **extra} if extra else row[0], row[1]))
                self.newest_feature_s = max(self.newest_feature_s, row[1])
                continue
            missing = [n for n in names if n not in (extra or {})]
            if not missing:
                scored.append((i, dict(extra or {}), None))
                continue
            hint = f"; a what-if for an unknown customer needs all {len(names)} features (missing: {missing})"
            out[i] = {
                "customer_id": q.customer_id,
                "error": "not_found",
                "detail": f"customer {q.customer_id!r} has no features in the online store{hint if extra else ''}",
            }
        return scored, out

    @staticmethod
    def _factors(
        model: ChurnModel, asked: list[tuple[int, Query]], vectors: list[dict[str, Any]]
    ) -> dict[int, list[dict[str, Any]]]:
        """Exact TreeSHAP factors for the scored rows whose query asked ``explain``, each cut to its ``top_k``."""
        explain = [(k, q) for k, q in asked if q.explain]
        if not explain:
            return {}
        ranked = top_factors_rows(model, [vectors[k] for k, _ in explain], top_k=max(q.top_k for _, q in explain))
        return {k: r[: q.top_k] for (k, q), r in zip(explain, ranked, strict=True)}

    @staticmethod
    def _record(answer: dict[str, Any], vector: dict[str, Any], logged_at: str, request_id: str) -> dict[str, Any]:
        decision = answer["decision"]
        return make_record(
            logged_at=logged_at,
            request_id=request_id,
            customer_id=answer["customer_id"],
            model_version=answer["model_version"],
            feature_timestamp=answer["feature_timestamp"],
            what_if=answer["what_if"],
            probability=answer["probability"],
            risk_band=answer["risk_band"],
            action=decision["action"],
            clv=decision["clv"],
            cost=decision["cost"],
            success_rate=decision["success_rate"],
            expected_value=decision["expected_value"],
            target=decision["target"],
            features=vector,
        )

    # --- health -----------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """What an operator needs, from state already at hand: no store, registry or disk call per request."""
        log = self.log
        watch = self.watch.to_dict()
        problems = [*self.degraded, *self.warnings, *(log.problems() if log else [])]
        if self.lifetime_problem:
            problems.append(self.lifetime_problem)
        if watch["state"] != "ready":
            problems.append(watch["detail"])
        status = "unavailable" if watch["state"] == "down" else ("degraded" if problems else "ok")
        return {
            # unavailable (503): the store does not answer; degraded (200): serving, with something to look at
            "status": status,
            "problems": problems,
            "worker": worker_id(),
            "model": {
                "version": self.live.version,
                "loaded_at": self.live.loaded_at,
                "trained_at": self.live.info["trained_at"],
                "last_reload": self.last_reload or None,
            },
            "store": {
                "profile": self.settings.profile,
                "online_store": self.store.config.online_store.type,
                "ok": watch["state"] != "down",
                **watch,
            },
            "features": {"newest_served": _iso(self.newest_feature_s) if self.newest_feature_s else None},
            "lineage": {"model": self.live.lineage, "online_store": self.watch.marker, "warnings": self.warnings},
            "prediction_log": log.stats() if log else None,
        }


OBJECTED = "objected to direct marketing"
NOT_SCORED = f"{OBJECTED}; not scored (CHURN_SCORE_OBJECTED is off)"


def _horizons(queries: list[Query]) -> tuple[int, ...]:
    return tuple(sorted({h for q in queries for h in q.horizons}))


def _stat(folder: Any) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime) of an artifact's files: a cheap check before the expensive one (their SHA-256)."""
    out = []
    for path in sorted(folder.iterdir()):
        info = path.stat()
        out.append((path.name, info.st_size, info.st_mtime_ns))
    return tuple(out)
