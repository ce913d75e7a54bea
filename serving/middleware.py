"""One pure-ASGI layer before the API: request ids, keys and scopes, limits, body checks, error shape, one log line.

Pure ASGI (no ``BaseHTTPMiddleware``) because it runs on every request of a
service that aims at 1,000 requests/s on two cores. In order, before the
service sees anything:

1. headers over 16 KiB: 431; the probes (``/livez``, ``/readyz``, ``/healthz``),
   the docs page (``/``, served here, with no third-party script) and the API
   description stay open — every other route needs a key;
2. a client whose wrong keys keep coming is throttled (429) before its key is
   even looked at; two keys in one request are refused (400);
3. the key's scopes (``admin`` for ``/admin``), then the key's rate limit (one
   token here; a batch pays for its other rows in the service);
4. the body: announced or streamed past 1 MiB is 413 (counted as it streams,
   so a chunked upload cannot slip past), not JSON is 415, a JSON object with a
   duplicated key is 400 (no silent "last one wins").

Every error leaves as ``{"error", "detail", "request_id"}`` — BentoML's own
400s are rewritten into that shape, naming the fields without pydantic's class
names or links, and nothing internal (paths, stack frames, addresses) reaches a
client. Answers carrying customer data are marked ``Cache-Control: no-store``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving.auth import HeaderError, Identity, KeyRing, presented_key
from serving.docs_page import DOCS_PAGE
from serving.ratelimit import LocalBuckets, retry_after

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/", "/docs.json"})
OPEN_PREFIXES = ("/static_content/",)
ADMIN_PREFIX = "/admin"
MAX_BODY_BYTES = 1 << 20
MAX_HEADER_BYTES = 16 << 10
KEPT_ERROR_HEADERS = (b"retry-after", b"www-authenticate")
FAILED_KEYS_PER_S = 5.0  # wrong keys a client may present per second (bursts of twice that) before 429s

request_log = logging.getLogger("churn.requests")


def configure_request_log() -> None:
    """One JSON object per line on stderr, whatever BentoML does with the root logger."""
    if not request_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        request_log.addHandler(handler)
        request_log.setLevel(logging.INFO)
        request_log.propagate = False


EVENTS_PATH = "/events"


class _Refusal(Exception):
    def __init__(self, status: int, error: str, detail: Any, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers or []


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Refusal(400, "invalid_request", [{"field": key, "problem": "appears more than once in an object"}])
        seen[key] = value
    return seen


def _field(loc: Any) -> str:
    parts = [str(p) for p in (loc or []) if p not in ("body",)]
    return ".".join(parts) or "body"


def error_body(status: int, body: bytes, request_id: str) -> dict[str, Any]:
    """Any error answer in the documented shape ``{error, detail, request_id}``, internals left out."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str) and "detail" in data:
        detail = data["detail"]
        if isinstance(detail, list) and detail and isinstance(detail[0], dict) and "loc" in detail[0]:
            # pydantic's errors as BentoML passes them on: the field and the message, no class names or links
            problems = [
                {"field": _field(item.get("loc")), "problem": str(item.get("msg", "invalid"))} for item in detail
            ]
            return {"error": "invalid_request", "detail": problems, "request_id": request_id}
        if status < 500 or data["error"].startswith("store_"):
            return {"error": data["error"], "detail": detail, "request_id": request_id}
    if isinstance(data, dict) and status == 503 and "status" in data:  # /health's report of an unavailable store
        return {**data, "request_id": request_id}
    generic = {
        400: ("invalid_request", "the body is not a valid JSON request"),
        404: ("not_found", "no such route"),
        405: ("method_not_allowed", "this route takes another method"),
    }
    error, detail = generic.get(status, ("internal", "an unexpected error; the server log has this request id"))
    return {"error": error, "detail": detail, "request_id": request_id}


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    await _send_bytes(send, status, json.dumps(body).encode(), [(b"content-type", b"application/json"), *headers])


async def _send_bytes(send: Send, status: int, payload: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(payload)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class GatewayMiddleware:
    """``keys`` and ``limiter`` come from the service; ``await limiter.take(key_id, n)`` returns seconds to wait."""

    def __init__(self, app: ASGIApp, keys: KeyRing, limiter: Any, counters: Any = None, openapi: Any = None) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.counters = counters
        self.openapi = openapi  # () -> the API's OpenAPI document as bytes (served at /docs.json); None: BentoML's
        self._openapi: bytes | None = None
        self.failed_keys = LocalBuckets(FAILED_KEYS_PER_S)
        configure_request_log()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        raw_headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        headers = dict(raw_headers)
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        path = scope.get("path", "")
        protected = path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES)
        extra = [(b"x-request-id", request_id.encode("latin-1"))]
        if protected:
            extra.append((b"cache-control", b"no-store"))
        status, identity, outcome = 500, None, "ok"
        try:
            if sum(len(k) + len(v) for k, v in raw_headers) > MAX_HEADER_BYTES:
                raise _Refusal(431, "headers_too_large", f"request headers over {MAX_HEADER_BYTES} bytes")
            if path == "/" and scope.get("method") == "GET":
                await self._docs(send, extra)
                status = 200
                return
            if path == "/docs.json" and scope.get("method") == "GET" and self._document() is not None:
                await _send_bytes(send, 200, self._openapi or b"", [(b"content-type", b"application/json"), *extra])
                status = 200
                return
            if protected:
                identity = await self._admit(scope, raw_headers, headers, path)
                receive = await self._checked_body(scope, receive, headers)
            status = await self._forward(scope, receive, send, extra, request_id)
            outcome = state.get("outcome") or ("ok" if status < 400 else f"http_{status}")
        except _Refusal as refusal:
            status, outcome = refusal.status, refusal.error
            body = {"error": refusal.error, "detail": refusal.detail, "request_id": request_id}
            await _send_json(send, refusal.status, body, [*refusal.headers, *extra])
        finally:
            if protected:
                self._log(scope, request_id, status, outcome, started, identity)

    def _document(self) -> bytes | None:
        """The API's own OpenAPI document, built once; None (BentoML's then) if it cannot be built."""
        if self._openapi is None and self.openapi is not None:
            try:
                self._openapi = self.openapi()
            except Exception:  # a document we cannot build must not take /docs.json down with it
                request_log.exception("could not build the OpenAPI document; serving BentoML's")
                self.openapi = None
        return self._openapi

    async def _docs(self, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        payload = DOCS_PAGE.encode()
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": [*headers, *extra]})
        await send({"type": "http.response.body", "body": payload})

    async def _admit(
        self, scope: Scope, raw_headers: list[tuple[bytes, bytes]], headers: dict[bytes, bytes], path: str
    ) -> Identity | None:
        """Key, scope and rate limit; raises _Refusal. Returns who the caller is (None when keys are off)."""
        client = (scope.get("client") or ("unknown",))[0]
        identity = None
        bucket = "anonymous"
        if self.keys.enabled:
            wait = self.failed_keys.waiting(client)  # a client out of wrong-key tokens is refused before the lookup
            if wait > 0:
                raise _Refusal(429, "too_many_failed_keys", "too many wrong keys from this client; retry later",
                               [(b"retry-after", retry_after(wait).encode())])  # fmt: skip
            try:
                identity = self.keys.identify(presented_key(raw_headers))
            except HeaderError as err:
                raise _Refusal(400, "invalid_request", str(err)) from None
            if identity is None:
                self.failed_keys.take_now(client)
                detail = "missing or unknown API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
                raise _Refusal(401, "unauthorized", detail, [(b"www-authenticate", b"Bearer")])
            if path.startswith(ADMIN_PREFIX) and not identity.may("admin"):
                raise _Refusal(403, "forbidden", "this key may not use admin routes (it lacks the admin scope)")
            if path == EVENTS_PATH and not identity.may("events"):
                raise _Refusal(403, "forbidden", "this key may not send events (it lacks the events scope)")
            bucket = identity.key_id
            scope["state"]["identity"] = identity
        scope["state"]["rate_bucket"] = bucket
        wait = await self.limiter.take(bucket)
        if wait > 0:
            after = retry_after(wait)
            raise _Refusal(429, "rate_limited", f"rate limit exceeded for this key; retry after {after} s",
                           [(b"retry-after", after.encode())])  # fmt: skip
        return identity

    async def _checked_body(self, scope: Scope, receive: Receive, headers: dict[bytes, bytes]) -> Receive:
        """Read the body here, counting bytes as they stream; hand the app a receive that replays it."""
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            raise _Refusal(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            return receive
        ctype = headers.get(b"content-type")
        if ctype is not None and not ctype.split(b";")[0].strip().lower().endswith(b"json"):
            raise _Refusal(415, "unsupported_media_type",
                           f"send the body as application/json, not {ctype.decode('latin-1')[:60]!r}")  # fmt: skip
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _Refusal(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        with contextlib.suppress(ValueError):  # not JSON at all: the service answers that, in the same error shape
            json.loads(body, object_pairs_hook=_no_duplicates)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    async def _forward(self, scope: Scope, receive: Receive, send: Send, extra: list, request_id: str) -> int:
        """Run the app; error answers are held and reshaped, success streams through. Returns the status."""
        status = 500
        held: dict[str, Any] | None = None
        body = bytearray()

        async def send_wrapped(message: Message) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400:
                    held = dict(message)
                    return
                message["headers"] = [*message.get("headers", []), *extra]
                await send(message)
            elif held is not None:
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    kept = [
                        (k, v) for k, v in held.get("headers", []) if k.lower() in (b"retry-after", b"www-authenticate")
                    ]
                    await _send_json(send, status, error_body(status, bytes(body), request_id), [*kept, *extra])
            else:
                await send(message)

        await self.app(scope, receive, send_wrapped)
        return status

    def _log(
        self, scope: Scope, request_id: str, status: int, outcome: str, started: float, identity: Identity | None
    ) -> None:
        state = scope.get("state") or {}
        request_log.info(
            json.dumps(
                {
                    "ts": time.time(),
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "outcome": outcome,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                    "key": identity.key_id if identity else None,
                    "customer_id": state.get("customer_id"),
                    "model_version": state.get("model_version"),
                }
            )
        )
        if self.counters is not None and status >= 400:
            self.counters.error(outcome)
