"""The online store on a real 3-node Redis Cluster the test starts on loopback: materialization, reads
(Feast's and ours agree), and the HTTP service serving from it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from churn.offline import read_snapshots, snapshot_months
from harness.homes import prepare_home, running_server
from harness.settings import make_settings, unique_project

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_pair() -> int:
    """A port whose cluster-bus twin (port + 10000) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        pytest.fail("redis-server and redis-cli are expected (Debian package redis-server)")
    folder = tmp_path_factory.mktemp("redis-cluster")
    ports = [_free_pair() for _ in range(3)]
    nodes = []
    for port in ports:
        nodes.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", f"nodes-{port}.conf", "--dir", str(folder), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
    try:
        for port in ports:
            for _ in range(100):
                ping = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True)
                if ping.stdout.strip() == b"PONG":
                    break
                time.sleep(0.05)
        create = subprocess.run(
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "0",
             "--cluster-yes"], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert create.returncode == 0, create.stdout[-2000:] + create.stderr[-2000:]
        for _ in range(200):
            info = subprocess.run(["redis-cli", "-p", str(ports[0]), "cluster", "info"], capture_output=True, text=True)
            if "cluster_state:ok" in info.stdout:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the cluster never reached state ok: {info.stdout}")
        yield ",".join(f"127.0.0.1:{p}" for p in ports)
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster_home(tmp_path_factory: pytest.TempPathFactory, cluster: str):
    settings = make_settings(tmp_path_factory.mktemp("cluster-home"), unique_project("cluster"), profile="redis",
                             redis=cluster, redis_type="redis_cluster")  # fmt: skip
    prepare_home(settings)  # simulate, build, apply, materialize into the cluster, train
    return settings


def test_materialization_spreads_customers_over_the_nodes_and_reads_agree(cluster_home, cluster: str) -> None:
    import redis

    from store.feast_store import get_store
    from store.marker import marker_key
    from store.materialize import online_health
    from store.online import read_online
    from store.redis_online import RedisOnlineReader

    suffix = b"*" + cluster_home.feast_project.encode()  # Feast's keys end with the project; rate-limit keys do not
    marker = marker_key(cluster_home.feast_project).encode()  # nor does the store's marker count as a customer
    per_node = []
    for node in cluster.split(","):
        with redis.Redis(port=int(node.split(":")[1])) as client:
            per_node.append(sum(1 for key in client.scan_iter(match=suffix, count=1000) if key != marker))
    month = snapshot_months(cluster_home.snapshots_dir)[-1]
    offline = read_snapshots(cluster_home.snapshots_dir, [month]).set_index("customer_id")
    assert sum(per_node) == len(offline) and min(per_node) > 0.2 * len(offline)  # every node holds its slots
    store = get_store(cluster_home)
    ids = [*offline.index[:200].astype(str), "nobody"]
    feast_read = read_online(store, ids)
    ours = RedisOnlineReader(store, cluster_home).read(ids)
    assert feast_read.unknown == ours.unknown == ["nobody"]
    for name in feast_read.features.columns:
        np.testing.assert_array_equal(
            feast_read.features[name].to_numpy(), ours.features.loc[feast_read.features.index, name].to_numpy()
        )
    np.testing.assert_allclose(
        ours.features.loc[ids[:-1], "monthly_charges"].to_numpy(np.float64),
        offline.loc[ids[:-1], "monthly_charges"].to_numpy(np.float64),
    )
    assert online_health(cluster_home)["fresh_share"] == 1.0


def test_the_service_serves_from_the_cluster(cluster_home, tmp_path: Path) -> None:
    month = snapshot_months(cluster_home.snapshots_dir)[-1]
    ids = read_snapshots(cluster_home.snapshots_dir, [month]).customer_id.astype(str).head(30).tolist()
    with running_server(
        cluster_home, tmp_path / "serve.log", CHURN_API_KEYS="predict+explain:cluster-key-0123456789"
    ) as server:
        status, _, one = server.request("POST", "/predict_churn", {"customer_id": ids[0], "explain": True})
        assert status == 200 and 0 < one["probability"] < 1 and one["factors"], one
        status, _, many = server.request("POST", "/predict_churn/batch", {"customer_ids": [*ids, "nobody"]})
        assert status == 200 and many["found"] == len(ids) and many["not_found"] == 1
        status, _, health = server.request("GET", "/health")
        assert status == 200 and health["store"]["ok"], health
