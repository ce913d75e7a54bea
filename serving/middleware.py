"""One pure-ASGI layer in front of the API: request ids, API keys, rate limits, body size, one log line.

Pure ASGI (no ``BaseHTTPMiddleware``) because it runs on every request of a
service that aims at 1,000 requests/s on two cores. Health, metrics and docs
stay open; prediction, model and admin routes need a key when keys are set.
Refusals are answered here, before the body is read or validated, so an
unauthenticated caller learns nothing about the API's schema.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving.auth import KeyRing, presented_key
from serving.ratelimit import retry_after

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROTECTED_PREFIXES = ("/predict_churn", "/model-info", "/admin")
MAX_BODY_BYTES = 1 << 20

request_log = logging.getLogger("churn.requests")


def configure_request_log() -> None:
    """One JSON object per line on stderr, whatever BentoML does with the root logger."""
    if not request_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        request_log.addHandler(handler)
        request_log.setLevel(logging.INFO)
        request_log.propagate = False


async def _answer(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class GatewayMiddleware:
    """``keys`` and ``limiter`` come from the service; ``limiter.take(key_id)`` returns seconds to wait (0 = go)."""

    def __init__(self, app: ASGIApp, keys: KeyRing, limiter: Any, counters: Any = None) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.counters = counters
        configure_request_log()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        rid_header = (b"x-request-id", request_id.encode("latin-1"))
        path = scope.get("path", "")
        status = 500
        key_id = None
        outcome = "ok"

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            if path.startswith(PROTECTED_PREFIXES):
                # the key is hashed once per request; refusals are logged with it too
                key_id = self.keys.identify(presented_key(headers)) if self.keys.enabled else None
                refusal = self._refuse(headers, key_id)
                if refusal is not None:
                    status, body, extra, outcome = refusal
                    await _answer(send, status, {**body, "request_id": request_id}, [*extra, rid_header])
                    return
            await self.app(scope, receive, send_with_id)
            state = scope.get("state") or {}
            outcome = state.get("outcome") or ("ok" if status < 400 else f"http_{status}")
        finally:
            if path.startswith(PROTECTED_PREFIXES):
                state = scope.get("state") or {}
                request_log.info(
                    json.dumps(
                        {
                            "ts": time.time(),
                            "request_id": request_id,
                            "method": scope.get("method"),
                            "path": path,
                            "status": status,
                            "outcome": outcome,
                            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                            "key": key_id,
                            "customer_id": state.get("customer_id"),
                            "model_version": state.get("model_version"),
                        }
                    )
                )
                if self.counters is not None and status >= 400:
                    self.counters.error(outcome)

    def _refuse(
        self, headers: dict[bytes, bytes], key_id: str | None
    ) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]], str] | None:
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return 413, {"error": "too_large", "detail": f"request body over {MAX_BODY_BYTES} bytes"}, [], "too_large"
        bucket = "anonymous"
        if self.keys.enabled:
            if key_id is None:
                detail = "missing or unknown API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
                return 401, {"error": "unauthorized", "detail": detail}, [(b"www-authenticate", b"Bearer")], "auth"
            bucket = key_id
        wait = self.limiter.take(bucket)
        if wait > 0:
            after = retry_after(wait)
            detail = f"rate limit exceeded for this key; retry after {after} s"
            return 429, {"error": "rate_limited", "detail": detail}, [(b"retry-after", after.encode())], "rate_limited"
        ctype = headers.get(b"content-type")
        if ctype is not None and not ctype.split(b";")[0].strip().lower().endswith(b"json"):
            detail = f"send the body as application/json, not {ctype.decode('latin-1')[:60]!r}"
            return 415, {"error": "unsupported_media_type", "detail": detail}, [], "media_type"
        return None
