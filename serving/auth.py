"""API keys: parsed and hashed once at start, scoped, checked by hash; keys are never logged.

``CHURN_API_KEYS`` holds comma-separated entries ``[SCOPES:]KEY``. ``KEY`` is the
key itself or ``sha256:<hex>`` of it (a deployment can keep only hashes in its
configuration). ``SCOPES`` joins with ``+`` what the key may do:

- ``predict`` — scores, decisions and the what-if (the default when no scope is given);
- ``explain`` — the reasons behind a score, which carry the customer's own feature values;
- ``admin`` — ``/admin/reload`` and the console's promotions and campaigns;
- ``events`` — ``POST /events``: recording customers' events and moving their online features.

Every valid key may read ``/health``, ``/metrics`` and ``/model-info``. A key
is identified in logs and rate-limit buckets by the first 12 hex digits of its
hash. Keys the README shows as examples, and keys with too little entropy to
resist guessing, are refused at start.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
from collections import Counter
from dataclasses import dataclass

from churn.errors import InputError
from churn.settings import Settings

SCOPES = ("predict", "explain", "admin", "events")
DEFAULT_SCOPES = frozenset({"predict"})
MIN_KEY_LENGTH = 16
MIN_KEY_BITS = 64.0  # estimated from the key's own character frequencies
# keys printed in the project's documentation: never accepted, whatever their entropy
EXAMPLE_KEYS = frozenset({"change-me-0123456789", "replace-me-with-a-long-random-key"})
_HEX = re.compile(r"^[0-9a-f]{64}$")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def entropy_bits(key: str) -> float:
    """Shannon entropy of the key's characters times its length: a rough, conservative guessing bound."""
    counts = Counter(key)
    per_char = -sum(c / len(key) * math.log2(c / len(key)) for c in counts.values())
    return per_char * len(key)


@dataclass(frozen=True)
class Identity:
    key_id: str  # first 12 hex digits of the key's SHA-256
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def _parse_entry(i: int, item: str) -> tuple[str, frozenset[str]]:
    """(digest, scopes) of one ``[SCOPES:]KEY`` entry; raises InputError naming the entry."""
    scopes = DEFAULT_SCOPES
    head, sep, rest = item.partition(":")
    if sep and head.lower() != "sha256" and re.fullmatch(r"[a-z]+(\+[a-z]+)*", head):
        unknown = sorted(set(head.split("+")) - set(SCOPES))
        if unknown:
            raise InputError(f"CHURN_API_KEYS: entry {i} names unknown scope(s) {unknown}; scopes are {list(SCOPES)}")
        scopes, item = frozenset(head.split("+")), rest.strip()
    if item.lower().startswith("sha256:"):
        hexpart = item[7:].strip().lower()
        if not _HEX.match(hexpart):
            raise InputError(f"CHURN_API_KEYS: entry {i} is sha256: but not 64 hex digits")
        return hexpart, scopes
    if item in EXAMPLE_KEYS:
        raise InputError(f"CHURN_API_KEYS: entry {i} is the documentation's example key; generate your own")
    if len(item) < MIN_KEY_LENGTH:
        raise InputError(f"CHURN_API_KEYS: entry {i} is shorter than {MIN_KEY_LENGTH} characters; use a longer key")
    if entropy_bits(item) < MIN_KEY_BITS:
        raise InputError(
            f"CHURN_API_KEYS: entry {i} is too predictable (about {entropy_bits(item):.0f} bits, need "
            f"{MIN_KEY_BITS:.0f}); generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return digest(item), scopes


class KeyRing:
    """The accepted keys (as SHA-256 digests) with their scopes; empty means the service is open."""

    def __init__(self, keys: dict[str, frozenset[str]]) -> None:
        self.keys = keys

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    @classmethod
    def parse(cls, spec: str | None) -> KeyRing:
        keys: dict[str, frozenset[str]] = {}
        for i, raw in enumerate((spec or "").split(","), start=1):
            if raw.strip():
                hexdigest, scopes = _parse_entry(i, raw.strip())
                keys[hexdigest] = keys.get(hexdigest, frozenset()) | scopes
        return cls(keys)

    def identify(self, presented: str | None) -> Identity | None:
        """Who ``presented`` is (its id and scopes) if it is an accepted key, else None; constant-time per key."""
        if not presented:
            return None
        d = digest(presented)
        found = None
        for accepted, scopes in self.keys.items():
            if hmac.compare_digest(d, accepted):
                found = Identity(d[:12], scopes)
        return found


class HeaderError(ValueError):
    """A request's authentication headers are ambiguous (two keys)."""


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; two keys are refused, not guessed."""
    found: list[str] = []
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                found.append(token.strip())
        elif name == b"x-api-key" and value.strip():
            found.append(value.decode("latin-1").strip())
    if len(found) > 1:
        raise HeaderError("send one API key: in `Authorization: Bearer <key>` or `X-API-Key`, once")
    return found[0] if found else None


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def service_keys(settings: Settings, host: str = "127.0.0.1") -> KeyRing:
    """The service's keys; a service reachable from other machines refuses to run without any.

    Every profile but the embedded one serves on a network, and any profile bound
    to an address other than loopback (a container's 0.0.0.0) does too.
    """
    keys = KeyRing.parse(settings.api_keys.get_secret_value() if settings.api_keys else None)
    if not keys.enabled and (settings.profile != "local" or not is_loopback(host)):
        where = f"profile {settings.profile!r}" if settings.profile != "local" else f"host {host}"
        raise InputError(
            f"{where} serves on a network: set CHURN_API_KEYS (comma-separated [scopes:]key, keys plain or "
            "sha256:<hex>) before starting the service"
        )
    return keys
