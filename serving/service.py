"""The BentoML service: ``POST /predict_churn``, ``/predict_churn/batch``, ``GET /model-info``, ``/health``.

A thin shell over :class:`serving.engine.Engine`. Choices made for speed, from
a profile of the straightforward version (docs/decisions/0003-serving.md):
async endpoints (no thread hop per request), answers serialised once with
``orjson`` and returned as ready responses (no per-call schema work), BentoML's
access log off (our gateway writes one structured line instead), tracing off
for the API routes. One-row predicts run on one thread: the booster is loaded
with ``nthread=1``, and `churn serve` and ``bentofile.yaml`` set
``OMP_NUM_THREADS=1`` in the workers' environment. Pydantic models still declare the inputs and outputs, so
``/docs.json`` documents the real API and schemathesis can fuzz it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from datetime import UTC, datetime
from typing import Any

import bentoml
import orjson
from _bentoml_sdk.service import get_current_service
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from churn.events import EventError, parse_event
from churn.feature_values import FeatureValueError
from churn.settings import get_settings
from churn.survival import DEFAULT_HORIZONS
from serving.auth import service_keys
from serving.engine import Engine, Query, StoreNotReady
from serving.middleware import GatewayMiddleware, configure_request_log, request_log
from serving.openapi import document as openapi_document
from serving.prediction_writer import PredictionLogWriter
from serving.ratelimit import LocalBuckets, RedisBuckets, retry_after
from serving.schemas import (
    BatchRequest,
    BatchResponse,
    EventsRequest,
    EventsResponse,
    Prediction,
    PredictRequest,
)
from serving.service_metrics import COUNTERS
from store.online import StoreUnavailable
from store.redis_online import async_redis_client

SETTINGS = get_settings()
KEYS = service_keys(SETTINGS, host=SETTINGS.serve_host)
LIMITER: Any = None  # set below, before the middleware that shares it
RETRY_AFTER_S = "1"
MAX_EXPLAINED_ROWS = 100  # exact TreeSHAP costs ~2 ms a row: an explained batch is capped


class _QuietValidation(logging.Filter):
    """BentoML logs every refused request body with a full traceback at ERROR: one line per refusal is ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ValidationError)


logging.getLogger("bentoml._internal.server.http_app").addFilter(_QuietValidation())


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _limiter() -> Any:
    if SETTINGS.profile == "local":
        return LocalBuckets(SETTINGS.rate_limit)
    client = async_redis_client(SETTINGS.redis, cluster=SETTINGS.redis_type == "redis_cluster")
    return RedisBuckets(client, f"churn:ratelimit:{SETTINGS.feast_project}:", SETTINGS.rate_limit)


def _set_state(request: Request, **values: Any) -> None:
    for key, value in values.items():
        request.scope.setdefault("state", {})[key] = value


def _error(
    ctx: bentoml.Context, status: int, kind: str, detail: Any, headers: dict[str, str] | None = None
) -> Response:
    """An error answer; BentoML copies status and headers from the context onto what an API returns."""
    _set_state(ctx.request, outcome=kind)
    ctx.response.status_code = status
    for name, value in (headers or {}).items():
        ctx.response.metadata[name] = value
    return _json({"error": kind, "detail": detail}, status, headers)


@bentoml.service(
    name="churn",
    workers=SETTINGS.serve_workers,
    traffic={"timeout": 30},
    logging={"access": {"enabled": False}},
    tracing={"sample_rate": 0.0, "excluded_urls": ["/predict_churn", "/events", "/model-info", "/health", "/admin"]},
)
class ChurnService:
    def __init__(self) -> None:
        configure_request_log()
        log = PredictionLogWriter(SETTINGS.home_dir)
        log.on_failure = COUNTERS.log_failure
        self.engine = Engine(SETTINGS, log=log)
        self._watcher: asyncio.Task[None] | None = None

    @bentoml.on_startup
    async def start_watching(self) -> None:
        # Everything loaded so far (Feast registry, protobufs, the model) lives as long as the worker: moving it
        # out of the collector's reach keeps full collections from pausing requests (p99 spikes of ~150 ms).
        gc.collect()
        gc.freeze()
        self.engine.watch.start()
        self._watcher = asyncio.create_task(self._watch_registry())

    @bentoml.on_shutdown
    def stop(self) -> None:
        if self._watcher:
            self._watcher.cancel()
        self.engine.watch.stop()
        if self.engine.log:
            self.engine.log.close()

    async def _watch_registry(self) -> None:
        while True:
            await asyncio.sleep(SETTINGS.reload_seconds)
            await self._reload()

    async def _reload(self) -> dict[str, Any]:
        result = await asyncio.to_thread(self.engine.reload)
        if result.get("changed"):
            COUNTERS.reload("swapped")
            request_log.info(orjson.dumps({"event": "model_swapped", **result}).decode())
        elif result.get("error"):
            COUNTERS.reload("failed")
            request_log.info(orjson.dumps({"event": "model_reload_failed", **result}).decode())
        return result

    def __is_ready__(self) -> bool:
        return self.engine.ready()

    async def _answer(self, ctx: bentoml.Context, queries: list[Query], batch: bool) -> Response:
        request = ctx.request
        state = request.scope.setdefault("state", {})
        _set_state(request, customer_id=queries[0].customer_id if not batch else f"batch:{len(queries)}")
        refused = await self._refuse(ctx, queries, state)
        if refused is not None:
            return refused
        try:
            if batch:  # up to 1,000 rows (and TreeSHAP if asked): off the event loop, so single requests keep flowing
                results = await asyncio.to_thread(self.engine.predict, queries, state.get("request_id", ""))
            else:
                results = self.engine.predict(queries, request_id=state.get("request_id", ""))
        except FeatureValueError as err:
            detail = [{"field": f"features.{name}", "problem": problem} for name, problem in err.problems]
            return _error(ctx, 422, "invalid_features", detail)
        except StoreNotReady as err:
            return _error(ctx, 503, f"store_{err.state}", str(err), {"Retry-After": RETRY_AFTER_S})
        except StoreUnavailable as err:
            return _error(ctx, 503, "store_unavailable", str(err), {"Retry-After": RETRY_AFTER_S})
        version = self.engine.live.version
        _set_state(request, model_version=version)
        kind = "batch" if batch else "single"
        for r in results:
            if "error" not in r:
                d = r["decision"]
                COUNTERS.prediction(kind, r["what_if"], d["action"], d["target"])
        if batch:
            found = sum(1 for r in results if "error" not in r)
            body = {"model_version": version, "found": found, "not_found": len(results) - found, "results": results}
            return _json(body)
        if "error" in results[0]:
            return _error(ctx, 404, "not_found", results[0]["detail"])
        return _json(results[0])

    async def _refuse(self, ctx: bentoml.Context, queries: list[Query], state: dict[str, Any]) -> Response | None:
        """What the gateway could not judge before the body: explanations need their scope, explained batches are
        capped, and every row past the first pays a rate-limit token (the gateway took one for the request)."""
        identity = state.get("identity")
        explained = sum(1 for q in queries if q.explain)
        if explained and identity is not None and not identity.may("explain"):
            detail = "this key may not read explanations (they carry the customer's feature values; scope explain)"
            return _error(ctx, 403, "forbidden", detail)
        if explained > MAX_EXPLAINED_ROWS:
            problem = f"at most {MAX_EXPLAINED_ROWS} customers per explained batch"
            return _error(ctx, 400, "invalid_request", [{"field": "explain", "problem": problem}])
        return await _charge(ctx, state, len(queries), "this batch needs")

    @bentoml.api(route="/predict_churn", input_spec=PredictRequest, output_spec=Prediction)
    async def predict_churn(
        self,
        customer_id: str,
        explain: bool = False,
        top_k: int = 3,
        features: Any = None,
        horizons: list[int] | None = None,
        ctx: bentoml.Context = None,  # type: ignore[assignment]
    ) -> Response:
        """Churn probability, risk band, retention decision and (with explain) the reasons, for one customer."""
        given = features.model_dump(exclude_unset=True) if features is not None else None
        query = Query(customer_id=customer_id, explain=explain, top_k=top_k, features=given,
                      horizons=tuple(horizons) if horizons else DEFAULT_HORIZONS)  # fmt: skip
        return await self._answer(ctx, [query], batch=False)

    @bentoml.api(route="/events", input_spec=EventsRequest, output_spec=EventsResponse)
    async def events(
        self,
        events: list[Any],
        ctx: bentoml.Context = None,  # type: ignore[assignment]
    ) -> Response:
        """Record customers' events and move their event-time features online; a prediction made after the answer
        reflects them. Each event beyond the first pays a rate-limit token."""
        _set_state(ctx.request, customer_id=f"events:{len(events)}")
        arrived = datetime.now(UTC)
        parsed, problems = [], []
        live = self.engine.live
        for i, item in enumerate(events):
            try:
                raw = item.model_dump(exclude_none=True)
                parsed.append(parse_event(raw, arrived, where=f"events[{i}]", labels=live.labels, metered=live.metered))
            except EventError as err:
                problems += [{"field": f, "problem": p} for f, p in err.problems]
        if problems:
            return _error(ctx, 422, "invalid_events", problems)
        refused = await _charge(ctx, ctx.request.scope.setdefault("state", {}), len(parsed), "these events need")
        if refused is not None:
            return refused
        try:
            outcomes = await asyncio.to_thread(self.engine.take_events, parsed)
        except StoreUnavailable as err:
            return _error(ctx, 503, "store_unavailable", str(err), {"Retry-After": RETRY_AFTER_S})
        results = [o.as_dict() for o in outcomes]
        counts = {k: sum(1 for o in outcomes if o.status == k) for k in ("applied", "recorded", "duplicate", "refused")}
        return _json({**counts, "results": results})

    @bentoml.api(route="/predict_churn/batch", input_spec=BatchRequest, output_spec=BatchResponse)
    async def predict_churn_batch(
        self,
        customer_ids: list[str],
        explain: bool = False,
        top_k: int = 3,
        ctx: bentoml.Context = None,  # type: ignore[assignment]
    ) -> Response:
        """Up to 1,000 customers in one online read; unknown ids get a per-item not_found entry."""
        queries = [Query(customer_id=c, explain=explain, top_k=top_k) for c in customer_ids]
        return await self._answer(ctx, queries, batch=True)

    # --- plain HTTP routes (mounted below; BentoML APIs are POST-only) ----------------------------------------

    async def model_info(self, request: Request) -> Response:
        return _json(self.engine.live.info)

    async def health(self, request: Request) -> Response:
        body = self.engine.health()  # state already at hand: no I/O on the event loop
        return _json(body, 503 if body["status"] == "unavailable" else 200)

    async def admin_reload(self, request: Request) -> Response:
        return _json(await self._reload())


def _routes_app() -> Starlette:
    """GET /model-info, GET /health and POST /admin/reload, bound to the worker's service instance."""

    def bound(name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            instance = _instance()
            if instance is None:
                return _json({"error": "starting", "detail": "service is starting"}, 503, {"Retry-After": "1"})
            return await getattr(instance, name)(request)

        return endpoint

    return Starlette(
        routes=[
            Route("/model-info", bound("model_info"), methods=["GET"]),
            Route("/health", bound("health"), methods=["GET"]),
            Route("/admin/reload", bound("admin_reload"), methods=["POST"]),
        ]
    )


def _instance() -> Any:
    """The worker's service instance (BentoML keeps it once created), or None while starting."""
    try:
        instance = get_current_service()
    except bentoml.exceptions.BentoMLException:
        return None
    return instance if hasattr(instance, "engine") else None


# ChurnService is a bentoml.Service at runtime (mypy sees the class)
ChurnService.mount_asgi_app(_routes_app(), path="/")  # type: ignore[attr-defined]


async def _charge(ctx: bentoml.Context, state: dict[str, Any], items: int, what: str) -> Response | None:
    """Every item past the first pays a rate-limit token (the gateway took one for the request): a batch of
    predictions or of events costs what as many single requests would; a 429 when the bucket cannot pay."""
    if items <= 1:
        return None
    wait = await LIMITER.take(state.get("rate_bucket", "anonymous"), items - 1)
    if wait <= 0:
        return None
    after = retry_after(wait)
    detail = f"rate limit exceeded: {what} {items} tokens; retry after {after} s"
    return _error(ctx, 429, "rate_limited", detail, {"Retry-After": after})


LIMITER = _limiter()


def _openapi() -> bytes:
    generated = ChurnService.openapi_spec.asdict()  # type: ignore[attr-defined]
    return orjson.dumps(openapi_document(generated), option=orjson.OPT_NON_STR_KEYS)  # status codes may be ints


ChurnService.add_asgi_middleware(  # type: ignore[attr-defined]
    GatewayMiddleware, keys=KEYS, limiter=LIMITER, counters=COUNTERS, openapi=_openapi
)
