"""Online reads straight from Feast's Redis layout in one pipelined round trip — the API's hot path.

Feast's ``get_online_features`` spends most of a single-entity read in request
planning and response assembly (0.3–0.7 ms); the data itself is one Redis hash
per customer. This reader builds the same keys with Feast's own encoders
(``serialize_entity_key`` + project, ``mmh3("<view>:<feature>")`` fields,
``_ts:<view>`` timestamps), asks for them with one HMGET per customer in a
single pipeline, and decodes Feast's ``Value`` protos. A test compares its
answers with Feast's for the same customers, so the served features stay
exactly the ones Feast materialized.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import redis
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3
from feast.infra.online_stores.redis import RedisOnlineStore, _versioned_fv_name
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from google.protobuf.timestamp_pb2 import Timestamp
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.cluster import ClusterNode as AsyncNode
from redis.asyncio.cluster import RedisCluster as AsyncCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from churn.schema import ENTITY, TIMES_COLUMNS
from churn.settings import Settings
from store.feast_store import DEFAULT_SERVICE, feature_service
from store.online import (
    OnlineFeatures,
    OnlineRow,
    StoreUnavailable,
    feature_kinds,
    mark_pushed,
    rows_to_online_features,
)

READ_TIMEOUT_S = 0.1  # a one-key HMGET answers in well under a millisecond; a hung server must not hold a worker


def entity_key(customer_id: str, version: int) -> bytes:
    """A customer's serialized entity key, as Feast writes it (a Redis key is this plus the project; a SQLite row's
    ``entity_key`` is this alone)."""
    entity = EntityKey(join_keys=[ENTITY], entity_values=[Value(string_val=customer_id)])
    return serialize_entity_key(entity, entity_key_serialization_version=version)


def _fail_fast(connect_timeout: float, timeout: float) -> dict[str, Any]:
    """Short timeouts and no retries: redis-py's default retry (exponential backoff, 3 tries) turned an outage
    into seconds-long waits behind every call. The platform's own retry lives where it knows what a retry means."""
    return {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }


def redis_client(
    connection_string: str, connect_timeout: float = 0.1, timeout: float = READ_TIMEOUT_S, cluster: bool = False
) -> Any:
    """A redis-py client for Feast's ``host:port[,db=N][,password=...][,ssl=true]`` string, failing fast.

    With ``cluster``, the hosts are a Redis Cluster's startup nodes and the
    client routes each key to its slot's node (a pipeline is split per node).
    """
    nodes, params = RedisOnlineStore._parse_connection_string(connection_string)
    options = {**_fail_fast(connect_timeout, timeout), **params}
    if cluster:
        startup = [ClusterNode(n["host"], int(n["port"])) for n in nodes]
        return RedisCluster(startup_nodes=startup, **options)
    return redis.Redis(host=nodes[0]["host"], port=int(nodes[0]["port"]), **options)


def async_redis_client(connection_string: str, timeout: float = 0.05, cluster: bool = False) -> Any:
    """The asyncio twin of :func:`redis_client`, for calls made on an event loop (the HTTP gateway's limiter)."""
    nodes, params = RedisOnlineStore._parse_connection_string(connection_string)
    options = {**_fail_fast(timeout, timeout), "retry": AsyncRetry(NoBackoff(), 0), **params}
    if cluster:
        return AsyncCluster(startup_nodes=[AsyncNode(n["host"], int(n["port"])) for n in nodes], **options)
    return AsyncRedis(host=nodes[0]["host"], port=int(nodes[0]["port"]), **options)


def _seconds(raw_ts: bytes) -> float:
    ts = Timestamp.FromString(raw_ts)
    return float(ts.seconds + ts.nanos / 1e9)


class RedisOnlineReader:
    """Reads one feature service's features for many customers in one Redis round trip."""

    def __init__(self, store: Any, settings: Settings, service_name: str = DEFAULT_SERVICE) -> None:
        config = store.config
        if getattr(config.online_store, "type", None) != "redis":
            raise ValueError(f"RedisOnlineReader needs a Redis online store, got {config.online_store.type!r}")
        self.service_name = service_name
        self.project = config.project.encode()
        self.key_version = config.entity_key_serialization_version
        self.cluster = settings.redis_type == "redis_cluster"
        self.client = redis_client(settings.redis, cluster=self.cluster)
        service = feature_service(store, service_name)
        self.names: list[str] = []
        self.fields: list[bytes] = []
        self.ts_fields: list[bytes] = []
        self.extras: list[str] = []  # event-time support columns of the service's views: read, never model inputs
        extra_fields: list[bytes] = []
        self.fresh_index: int | None = None  # which ts field is the pushed view's
        for projection in service.feature_view_projections:
            view = store.get_feature_view(projection.name)
            view_name = _versioned_fv_name(view, config)
            for feature in projection.features:
                self.names.append(feature.name)
                self.fields.append(_mmh3(f"{view_name}:{feature.name}"))
            support = [f.name for f in view.features if f.name in TIMES_COLUMNS]
            if support:
                self.fresh_index = len(self.ts_fields)
            for name in support:
                self.extras.append(name)
                extra_fields.append(_mmh3(f"{view_name}:{name}"))
            self.ts_fields.append(f"_ts:{view_name}".encode())
        self.fields += extra_fields
        self._all_fields = self.fields + self.ts_fields
        self.kinds = feature_kinds(self.names, service)
        # One connection of our own per thread for single reads: no pool or retry layers per call, and never
        # shared between the event loop and a worker thread.
        self._local = threading.local()

    def _hmget_one(self, key: bytes) -> list[bytes | None]:
        """One HMGET on this thread's own connection.

        A connection that worked before and now fails is most likely stale (Redis restarted or failed over,
        an idle socket was cut): it is reopened and the read tried once more at once, so a store that is back
        costs no 503. Only a fresh connection failing means the store is down.
        """
        if self.cluster:  # the cluster client finds the key's node; it keeps one connection per node
            return list(self.client.hmget(key, self._all_fields))
        local = self._local
        if getattr(local, "conn", None) is None:
            local.conn = self.client.connection_pool.make_connection()
            local.proven = False
        proven = local.proven
        try:
            return self._hmget_on(local.conn, key)
        except redis.ConnectionError:
            if not proven:
                raise
        return self._hmget_on(local.conn, key)

    def _hmget_on(self, conn: Any, key: bytes) -> list[bytes | None]:
        try:
            conn.send_command("HMGET", key, *self._all_fields)
            reply = list(conn.read_response())
        except BaseException:
            conn.disconnect()  # the next call reconnects
            self._local.proven = False
            raise
        self._local.proven = True
        return reply

    def _key(self, customer_id: str) -> bytes:
        return entity_key(customer_id, self.key_version) + self.project

    def read_rows(self, customer_ids: Sequence[str]) -> list[OnlineRow | None]:
        """Per customer: (feature values by name, event time in seconds) or None if the store has no row."""
        try:
            if len(customer_ids) == 1:
                replies = [self._hmget_one(self._key(str(customer_ids[0])))]
            else:
                pipe = self.client.pipeline(transaction=False)
                for cid in customer_ids:
                    pipe.hmget(self._key(str(cid)), self._all_fields)
                replies = pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as err:
            raise StoreUnavailable(f"online store unavailable ({err.__class__.__name__}: {err})") from None
        n = len(self.fields)
        names = self.names + self.extras
        out: list[OnlineRow | None] = []
        for reply in replies:
            stamps = [0.0 if not raw_ts else _seconds(raw_ts) for raw_ts in reply[n:]]
            latest = max(stamps, default=0.0)
            if latest <= 0:
                out.append(None)
                continue
            values: dict[str, Any] = {}
            if self.fresh_index is not None:
                mark_pushed(values, stamps, self.fresh_index)
            for name, raw in zip(names, reply[:n], strict=True):
                if not raw:
                    values[name] = None
                    continue
                proto = Value.FromString(raw)
                kind = proto.WhichOneof("val")
                values[name] = None if kind in (None, "null_val") else getattr(proto, kind)
            out.append((values, latest))
        return out

    def read(self, customer_ids: Sequence[str]) -> OnlineFeatures:
        """The same :class:`~store.online.OnlineFeatures` as Feast's reader gives."""
        ids = [str(c) for c in customer_ids]
        return rows_to_online_features(ids, self.read_rows(ids), self.names, self.kinds)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False
