"""The API's OpenAPI document, as this service really is: its own title and version, every route, its keys.

BentoML generates the document from the ``@bentoml.api`` methods alone: the
routes mounted beside them (``/model-info``, ``/health``, ``/admin/reload``)
were missing, and its ``info`` block was boilerplate ("churn", version "None",
BentoML's contact). The gateway serves this document at ``/docs.json``
instead, built once per worker from BentoML's and completed here.
"""

from __future__ import annotations

import copy
from importlib import metadata
from typing import Any

TITLE = "Churn prediction and retention API"
DESCRIPTION = """Calibrated churn probabilities, the expected-value decision and the reasons behind them.

**Keys.** Every route but `/`, `/docs.json`, `/livez` and `/readyz` needs an API key, in `X-API-Key` or
`Authorization: Bearer`, once. A key's scopes say what it may do: `predict` (scores, decisions, what-if),
`explain` (the reasons, which carry the customer's feature values), `admin` (`/admin/reload`).

**Limits.** Each key has a rate limit shared by every worker (a batch costs one token per row); over it, 429 with
`Retry-After`. Bodies over 1 MiB are 413, headers over 16 KiB 431, non-JSON 415.

**Errors** are `{"error", "detail", "request_id"}`: 400 malformed, 401 no or unknown key, 403 key without the
scope, 404 unknown customer, 422 a what-if value the feature schema refuses, 503 the online store is down,
empty, loading or stale (with `Retry-After`)."""

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail", "request_id"],
    "properties": {
        "error": {"type": "string", "description": "A stable machine-readable kind, e.g. `not_found`."},
        "detail": {"description": "What was wrong, naming the field where there is one."},
        "request_id": {"type": "string", "description": "Also in the `X-Request-Id` header and the server log."},
    },
}
_ERROR = {
    "description": "See the error shape",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_ANY_JSON = {"application/json": {"schema": {"type": "object"}}}

EXTRA_PATHS: dict[str, dict[str, Any]] = {
    "/model-info": {
        "get": {
            "tags": ["Service APIs"],
            "summary": (
                "The champion: version, how it was judged (time windows or K-fold), held-out metrics with "
                "intervals, features, last decision"
            ),
            "security": [{"ApiKey": []}, {"Bearer": []}],
            "responses": {"200": {"description": "The model in service", "content": _ANY_JSON}, "401": _ERROR},
        }
    },
    "/health": {
        "get": {
            "tags": ["Service APIs"],
            "summary": "Model (ok or degraded), online store (state, ping, materialized-until), prediction log",
            "security": [{"ApiKey": []}, {"Bearer": []}],
            "responses": {
                "200": {"description": "Serving", "content": _ANY_JSON},
                "401": _ERROR,
                "503": {"description": "The online store cannot answer", "content": _ANY_JSON},
            },
        }
    },
    "/admin/reload": {
        "post": {
            "tags": ["Service APIs"],
            "summary": "Load the registry's champion now (otherwise within CHURN_RELOAD_SECONDS); needs `admin`",
            "security": [{"ApiKey": []}, {"Bearer": []}],
            "responses": {
                "200": {"description": "The model now in service", "content": _ANY_JSON},
                "401": _ERROR,
                "403": _ERROR,
            },
        }
    },
}


def version() -> str:
    try:
        return metadata.version("churn-platform")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def document(generated: dict[str, Any], model_version: str | None = None) -> dict[str, Any]:
    """BentoML's generated document completed: info, the mounted routes, security schemes, the error shape."""
    spec = copy.deepcopy(generated)
    spec["info"] = {
        "title": TITLE,
        "version": version(),
        "description": DESCRIPTION + (f"\n\nModel in service at start: `{model_version}`." if model_version else ""),
    }
    paths = spec.setdefault("paths", {})
    paths.update(copy.deepcopy(EXTRA_PATHS))
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    for item in paths.values():  # BentoML keys some responses by int, OpenAPI by string: one key per status
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"] = {str(code): answer for code, answer in operation["responses"].items()}
    for route in ("/predict_churn", "/predict_churn/batch"):
        for operation in (paths.get(route) or {}).values():
            if isinstance(operation, dict):
                operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
                operation.setdefault("responses", {}).update(
                    {code: _ERROR for code in ("400", "401", "403", "404", "413", "422", "429", "503")}
                )
    return spec
