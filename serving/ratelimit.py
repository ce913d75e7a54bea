"""Per-key token buckets: in Redis so every worker shares one budget, in-process where there is no Redis.

A bucket refills at ``rate`` tokens per second up to ``burst`` (twice the rate
by default); a request takes one token or is refused with the seconds until
one is available (the 429's ``Retry-After``). The Redis bucket is one Lua
script call, atomic across workers and using the server's clock. A worker
leases up to 20 ms worth of tokens per call and spends them locally for at most
a second, so a key allowed 50 requests/s costs one call per request while a
trusted batch key allowed 100,000/s costs one call per ~2,000 requests — the
shared limit still holds, since no token is spent that Redis did not grant. If Redis
does not answer, the limiter falls back to the in-process bucket rather than
refusing traffic: an outage of the limiter must not become an outage of the API.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import redis

_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local granted = math.min(want, math.floor(tokens))
local wait = 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = (1 - tokens) / rate
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', key, math.ceil(burst / rate) + 1)
return {granted, tostring(wait)}
"""


class LocalBuckets:
    """Token buckets in this process (the embedded profile, or the fallback when Redis is away)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else 2 * rate
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0.0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, ts = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - ts) * self.rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1 - tokens) / self.rate


LEASE_SECONDS_OF_RATE = 0.02  # a lease is this many seconds of the key's rate (at least one token)
LEASE_LIFETIME_S = 1.0  # unspent leased tokens lapse after this


class RedisBuckets:
    """Token buckets shared by all workers through Redis, one key per API key under ``prefix``."""

    def __init__(self, client: Any, prefix: str, rate: float, burst: float | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.rate = rate
        self.burst = burst if burst is not None else 2 * rate
        self.lease = max(1, math.floor(min(rate * LEASE_SECONDS_OF_RATE, self.burst)))
        self.script = client.register_script(_LUA)
        self.fallback = LocalBuckets(rate, self.burst)
        self._leases: dict[str, tuple[int, float]] = {}

    def take(self, key: str) -> float:
        now = time.monotonic()
        left, until = self._leases.get(key, (0, 0.0))
        if left > 0 and now < until:
            self._leases[key] = (left - 1, until)
            return 0.0
        try:
            granted, wait = self.script(keys=[f"{self.prefix}{key}"], args=[self.rate, self.burst, self.lease])
        except (redis.RedisError, OSError):
            return self.fallback.take(key)
        granted = int(granted)
        if granted < 1:
            return float(wait)
        self._leases[key] = (granted - 1, now + LEASE_LIFETIME_S)
        return 0.0


def retry_after(wait: float) -> str:
    """Whole seconds for the Retry-After header (at least 1)."""
    return str(max(1, math.ceil(wait)))
