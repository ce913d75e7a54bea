"""Per-key token buckets: in Redis so every worker shares one budget, in-process where there is no Redis.

A bucket refills at ``rate`` tokens per second up to ``burst`` (twice the rate
by default); a request takes one token per row it asks for, or is refused with
the seconds until enough are available (the 429's ``Retry-After``). The Redis
bucket is one Lua script call, atomic across workers and using the server's
clock, made with the asyncio client so the event loop never waits on Redis. A
worker leases up to 20 ms worth of tokens per call and spends them locally for
at most a second, so a key allowed 50 requests/s costs one call per request
while a trusted batch key allowed 100,000/s costs one call per ~2,000 requests
— the shared limit still holds, since no token is spent that Redis did not
grant.

If Redis does not answer within 50 ms, a breaker opens: requests are counted by
the in-process bucket instead, with no call to Redis at all, while a background
task pings Redis twice a second and closes the breaker once it answers. No
request ever waits on a Redis that is down: an outage of the limiter must not
become an outage — or a slowdown — of the API.
"""

from __future__ import annotations

import asyncio
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

CALL_TIMEOUT_S = 0.05  # a limiter call slower than this counts as a failure
PROBE_EVERY_S = 0.5  # while the breaker is open, how often the background task asks whether Redis is back


class LocalBuckets:
    """Token buckets in this process (the embedded profile, the breaker's fallback, failed-key throttling)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else 2 * rate
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take_now(self, key: str, tokens: int = 1) -> float:
        """0.0 if ``tokens`` were taken, else the seconds until they would be available."""
        now = time.monotonic()
        with self._lock:
            level, ts = self._state.get(key, (self.burst, now))
            level = min(self.burst, level + (now - ts) * self.rate)
            if level >= tokens:
                self._state[key] = (level - tokens, now)
                return 0.0
            self._state[key] = (level, now)
            return (tokens - level) / self.rate

    def waiting(self, key: str) -> float:
        """Seconds until ``key`` has one token again, without taking any (0.0: it has one now)."""
        now = time.monotonic()
        with self._lock:
            level, ts = self._state.get(key, (self.burst, now))
            level = min(self.burst, level + (now - ts) * self.rate)
        return 0.0 if level >= 1 else (1 - level) / self.rate

    async def take(self, key: str, tokens: int = 1) -> float:
        return self.take_now(key, tokens)


LEASE_SECONDS_OF_RATE = 0.02  # a lease is this many seconds of the key's rate (at least one token)
LEASE_LIFETIME_S = 1.0  # unspent leased tokens lapse after this


class RedisBuckets:
    """Token buckets shared by all workers through Redis, one key per API key under ``prefix``."""

    def __init__(self, client: Any, prefix: str, rate: float, burst: float | None = None) -> None:
        self.client = client  # a redis.asyncio client
        self.prefix = prefix
        self.rate = rate
        self.burst = burst if burst is not None else 2 * rate
        self.lease = max(1, math.floor(min(rate * LEASE_SECONDS_OF_RATE, self.burst)))
        self.script = client.register_script(_LUA)
        self.fallback = LocalBuckets(rate, self.burst)
        self._leases: dict[str, tuple[int, float]] = {}
        self.open = False  # the breaker: while open, no request calls Redis
        self.failures = 0
        self._probe: asyncio.Task[None] | None = None

    async def take(self, key: str, tokens: int = 1) -> float:
        now = time.monotonic()
        left, until = self._leases.get(key, (0, 0.0))
        if left >= tokens and now < until:
            self._leases[key] = (left - tokens, until)
            return 0.0
        if self.open:
            return self.fallback.take_now(key, tokens)
        want = max(tokens, self.lease)
        try:
            granted, wait = await asyncio.wait_for(
                self.script(keys=[f"{self.prefix}{key}"], args=[self.rate, self.burst, want]), CALL_TIMEOUT_S
            )
        except (redis.RedisError, OSError, TimeoutError):
            self._trip()
            return self.fallback.take_now(key, tokens)
        have = int(granted) + (left if now < until else 0)
        if have < tokens:  # not enough for this request: keep what was granted for the next ones
            self._leases[key] = (have, now + LEASE_LIFETIME_S)
            return max(float(wait), (tokens - have) / self.rate)
        self._leases[key] = (have - tokens, now + LEASE_LIFETIME_S)
        return 0.0

    def _trip(self) -> None:
        """Open the breaker, and watch in the background for Redis to answer again."""
        self.failures += 1
        self.open = True
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._until_back())

    async def _until_back(self) -> None:
        while self.open:
            await asyncio.sleep(PROBE_EVERY_S)
            try:
                await asyncio.wait_for(self.client.ping(), CALL_TIMEOUT_S)
            except (redis.RedisError, OSError, TimeoutError):
                continue
            self.open = False


def retry_after(wait: float) -> str:
    """Whole seconds for the Retry-After header (at least 1)."""
    return str(max(1, math.ceil(wait)))
