"""API keys: parsed and hashed once at start; requests are checked by hash, and keys are never logged.

``CHURN_API_KEYS`` holds comma-separated keys, each either the key itself or
``sha256:<hex>`` of it (so a deployment can keep only hashes in its config).
A key is identified in logs and rate-limit buckets by the first 12 hex digits
of its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from churn.errors import InputError
from churn.settings import Settings

_HEX = re.compile(r"^[0-9a-f]{64}$")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """The accepted keys (as SHA-256 digests); empty means the service is open."""

    def __init__(self, digests: frozenset[str]) -> None:
        self.digests = digests

    @property
    def enabled(self) -> bool:
        return bool(self.digests)

    @classmethod
    def parse(cls, spec: str | None) -> KeyRing:
        digests: set[str] = set()
        for i, raw in enumerate((spec or "").split(",")):
            item = raw.strip()
            if not item:
                continue
            if item.lower().startswith("sha256:"):
                hexpart = item[7:].strip().lower()
                if not _HEX.match(hexpart):
                    raise InputError(f"CHURN_API_KEYS: entry {i + 1} is sha256: but not 64 hex digits")
                digests.add(hexpart)
            else:
                if len(item) < 16:
                    raise InputError(f"CHURN_API_KEYS: entry {i + 1} is shorter than 16 characters; use a longer key")
                digests.add(digest(item))
        return cls(frozenset(digests))

    def identify(self, presented: str | None) -> str | None:
        """The key's id (hash prefix) if ``presented`` is an accepted key, else None."""
        if not presented:
            return None
        d = digest(presented)
        for accepted in self.digests:
            if hmac.compare_digest(d, accepted):
                return d[:12]
        return None


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    auth = headers.get(b"authorization")
    if auth:
        scheme, _, value = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get(b"x-api-key")
    return key.decode("latin-1").strip() if key else None


def service_keys(settings: Settings) -> KeyRing:
    """The service's keys; profiles that serve on a network refuse to run without any."""
    keys = KeyRing.parse(settings.api_keys.get_secret_value() if settings.api_keys else None)
    if settings.profile != "local" and not keys.enabled:
        raise InputError(
            f"profile {settings.profile!r} serves on a network: set CHURN_API_KEYS (comma-separated keys or "
            "sha256:<hex>) before starting the service"
        )
    return keys
