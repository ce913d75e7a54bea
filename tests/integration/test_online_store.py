"""Materialization into the online stores (real Redis, and SQLite) and online reads back.

Redis tests use database 11 and a project name unique to the run; Feast's
teardown plus a scan remove every key they wrote.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis

from churn.offline import write_offline
from churn.simulate import simulate
from churn.temporal import build_snapshots
from churn.timeutil import month_label, month_start, parse_month
from feature_repo.features import VIEWS
from harness.settings import make_settings, redis_available, unique_project
from store.feast_store import apply, get_store, private_registry, quiet_stdout, service_features
from store.materialize import materialize
from store.online import read_online
from tests.conftest import SMALL

pytestmark = pytest.mark.integration
REDIS_DB = 11
REDIS = f"127.0.0.1:6379,db={REDIS_DB}"


@pytest.fixture(scope="module")
def redis_client() -> redis.Redis:
    if not redis_available():
        pytest.fail("no Redis at 127.0.0.1:6379: .ci/run starts one; start it with redis-server --daemonize yes")
    return redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)


def _project_keys(client: redis.Redis, project: str) -> list[bytes]:
    return list(client.scan_iter(match=f"*{project}", count=1000))


@pytest.fixture
def store_settings(tmp_path: Path, request: pytest.FixtureRequest, redis_client: redis.Redis):
    profile = request.param
    settings = make_settings(tmp_path, unique_project(profile), profile=profile, redis=REDIS)
    yield settings
    if profile == "redis":
        store = get_store(settings)
        with quiet_stdout():
            store.teardown()
        for key in _project_keys(redis_client, settings.feast_project):
            redis_client.delete(key)
        assert _project_keys(redis_client, settings.feast_project) == []


def _assert_online_equals_offline(settings, snaps: pd.DataFrame, month: str) -> None:
    store = get_store(settings)
    expected = snaps[snaps.snapshot_month == month].set_index("customer_id")
    for service in ("churn_model_v2", "churn_model_v1"):  # the current service, and the monthly one older models read
        online = read_online(store, [*expected.index, "no-such-customer"], service)
        assert online.unknown == ["no-such-customer"]
        assert (online.event_timestamps == month_start(parse_month(month))).all()
        got = online.features.loc[expected.index]
        for name in service_features(store, service):
            want = expected[name]
            if want.dtype == object:
                assert (got[name] == want).all(), name
            else:
                np.testing.assert_allclose(
                    got[name].astype(float), want.astype(float), rtol=0, atol=0, equal_nan=True, err_msg=name
                )


@pytest.mark.parametrize("store_settings", ["redis", "local"], indirect=True)
def test_materialized_latest_snapshots_read_back_value_by_value(store_settings, small_snapshots) -> None:
    settings = store_settings
    write_offline(small_snapshots, settings.snapshots_dir, settings.labels_path)
    apply(settings)
    if settings.profile == "redis":  # Feast's parallel path here; the platform's writer is held to it below
        settings = settings.model_copy(update={"materialize_writer": "feast"})
    workers = 2 if settings.profile == "redis" else 1  # Redis takes parallel writers, SQLite does not
    steps: list[tuple[str, int, int]] = []
    result = materialize(settings, workers=workers, progress=lambda *step: steps.append(step))
    assert result.workers == workers
    # progress with a fraction: one step per view (one process) or per group of views (parallel), ending at its total
    total = len(VIEWS) if workers == 1 else workers
    assert [(done, n) for _, done, n in steps][-1] == (total, total) and {n for _, _, n in steps} == {total}
    assert [done for _, done, _ in steps] == sorted(done for _, done, _ in steps)
    latest = small_snapshots.features.snapshot_month.max()
    assert result.customers == (small_snapshots.features.snapshot_month == latest).sum()
    _assert_online_equals_offline(settings, small_snapshots.features, latest)
    store = get_store(settings)
    for view in (name for name, _, _ in VIEWS):  # no interval lost to the race
        assert store.get_feature_view(view).materialization_intervals == [(result.start, result.end)], view
    assert not list(settings.feast_dir().glob("worker-registry-*"))  # the workers' copies are gone


@pytest.mark.parametrize("store_settings", ["local"], indirect=True)
def test_a_worker_loads_through_its_own_registry_and_never_rewrites_the_shared_one(
    store_settings, small_snapshots
) -> None:
    """Feast rewrites a file registry in place after each view; a sibling reading it then finds no entity (a
    CI failure: "Entity customer does not exist"). Parallel workers must leave the shared file alone."""
    settings = store_settings
    write_offline(small_snapshots, settings.snapshots_dir, settings.labels_path)
    apply(settings)
    shared = settings.feast_dir() / "registry.db"
    before = shared.read_bytes()
    latest = month_start(parse_month(small_snapshots.features.snapshot_month.max())).to_pydatetime()
    with private_registry(settings) as store, quiet_stdout():
        assert Path(store.config.registry.path) != shared
        store.materialize(start_date=latest, end_date=latest + timedelta(seconds=1), feature_views=["customer_billing"])
        assert store.get_feature_view("customer_billing").materialization_intervals  # recorded in the copy
    assert shared.read_bytes() == before
    assert get_store(settings).get_feature_view("customer_billing").materialization_intervals == []
    assert not list(settings.feast_dir().glob("worker-registry-*"))


@pytest.mark.parametrize("store_settings", ["redis"], indirect=True)
def test_incremental_materialization_moves_only_the_new_month(store_settings) -> None:
    settings = store_settings
    short = build_snapshots(simulate(replace(SMALL, months=5, drift_start="2023-12")))
    longer = build_snapshots(simulate(replace(SMALL, months=6, drift_start="2023-12")))
    write_offline(short, settings.snapshots_dir, settings.labels_path)
    apply(settings)
    first = materialize(settings)  # the latest month of the short run: 2023-06
    write_offline(longer, settings.snapshots_dir, settings.labels_path)  # one more month: 2023-07
    new_end = month_start(parse_month("2023-07")).to_pydatetime() + timedelta(seconds=1)
    second = materialize(settings, end=new_end, incremental=True)
    store = get_store(settings)
    for view in ("customer_profile", "customer_billing", "customer_behaviour"):
        intervals = store.get_feature_view(view).materialization_intervals
        assert intervals[-1] == (first.end, new_end), view  # continues exactly where the last run ended
    assert second.incremental and second.end == new_end
    _assert_online_equals_offline(settings, longer.features, "2023-07")
    # a customer who left during June keeps June's vector: the incremental run did not touch it
    snaps = longer.features
    june = set(snaps[snaps.snapshot_month == "2023-06"].customer_id)
    july = set(snaps[snaps.snapshot_month == "2023-07"].customer_id)
    leavers = sorted(june - july)
    assert leavers
    online = read_online(store, leavers)
    assert (online.event_timestamps == month_start(parse_month("2023-06"))).all()


@pytest.mark.parametrize("store_settings", ["redis"], indirect=True)
def test_keys_expire_after_key_ttl_seconds(store_settings, small_snapshots, redis_client) -> None:
    settings = store_settings.model_copy(update={"online_key_ttl": 2})
    write_offline(small_snapshots, settings.snapshots_dir, settings.labels_path)
    apply(settings)
    materialize(settings)
    keys = _project_keys(redis_client, settings.feast_project)
    assert keys and all(0 < redis_client.ttl(k) <= 2 for k in keys[:20])
    customer = small_snapshots.features[
        small_snapshots.features.snapshot_month == small_snapshots.features.snapshot_month.max()
    ].customer_id.iloc[0]
    store = get_store(settings)
    assert read_online(store, [customer]).unknown == []
    deadline = time.monotonic() + 10
    while _project_keys(redis_client, settings.feast_project) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert read_online(store, [customer]).unknown == [customer]


@pytest.mark.parametrize("store_settings", ["redis", "local"], indirect=True)
def test_a_source_change_reloads_instead_of_writing_nothing(store_settings, small_raw, telco_csv) -> None:
    """Simulation loaded, then the Telco file ingested and built: `--incremental` must reload, not trust the
    old watermark (it used to write nothing and report thousands), and the simulated customers must go."""
    from churn.offline import write_offline_manifest
    from churn.telco import ingest_telco

    settings = store_settings
    sim = build_snapshots(small_raw)
    write_offline(sim, settings.snapshots_dir, settings.labels_path)
    write_offline_manifest(settings.offline_dir, small_raw.manifest, {})
    apply(settings)
    first = materialize(settings, incremental=True)
    assert first.mode == "reload" and "no marker" in str(first.reason)
    again = materialize(settings, incremental=True)
    assert again.mode == "incremental" and again.customers == 0  # nothing new: said, not pretended

    as_of = month_label(parse_month(sim.features.snapshot_month.max()) - 1)  # both end at the same clock month
    telco = ingest_telco(telco_csv, as_of)
    snaps = build_snapshots(telco.raw)
    write_offline(snaps, settings.snapshots_dir, settings.labels_path)
    write_offline_manifest(settings.offline_dir, telco.raw.manifest, {})
    switched = materialize(settings, incremental=True)
    latest = snaps.features.snapshot_month.max()
    assert switched.mode == "reload" and switched.source_changed
    assert "simulator" in str(switched.reason) and "telco" in str(switched.reason)
    assert switched.customers == (snaps.features.snapshot_month == latest).sum() > 0
    _assert_online_equals_offline(settings, snaps.features, latest)
    store = get_store(settings)
    simulated = sim.features.customer_id.unique()[:50].tolist()
    assert read_online(store, simulated).unknown == simulated


def test_the_platform_writer_writes_feasts_own_bytes(tmp_path: Path, small_snapshots, redis_client) -> None:
    """The platform's Redis writer against stock `feast materialize`, hash by hash and byte by byte: a range load,
    an older month over it (the stored rows are newer: both skip them) and an incremental run to the clock."""
    from churn.offline import snapshot_months

    homes = {}
    for writer in ("feast", "platform"):
        settings = make_settings(tmp_path / writer, unique_project(writer), profile="redis", redis=REDIS,
                                 materialize_writer=writer)  # fmt: skip
        write_offline(small_snapshots, settings.snapshots_dir, settings.labels_path)
        apply(settings)
        homes[writer] = settings
    months = snapshot_months(homes["feast"].snapshots_dir)
    first, last = month_start(parse_month(months[-5])), month_start(parse_month(months[-3]))

    def dump(settings) -> dict[bytes, tuple[dict[bytes, bytes], bool]]:  # type: ignore[no-untyped-def]
        project = settings.feast_project.encode()
        keys = [k for k in _project_keys(redis_client, settings.feast_project) if not k.startswith(b"churn:")]
        return {k[: -len(project)]: (redis_client.hgetall(k), redis_client.ttl(k) > 0) for k in keys}

    try:
        for step in (
            {"start": first.to_pydatetime(), "end": last.to_pydatetime() + timedelta(seconds=1)},
            {"start": first.to_pydatetime(), "end": first.to_pydatetime() + timedelta(seconds=1)},  # older rows
            {"incremental": True},
        ):
            results = {writer: materialize(settings, **step) for writer, settings in homes.items()}
            assert results["feast"].customers == results["platform"].customers > 0
            feast, ours = dump(homes["feast"]), dump(homes["platform"])
            assert len(ours) == len(feast) > 0 and ours == feast, step
            intervals = {w: get_store(s).get_feature_view("customer_profile").materialization_intervals
                         for w, s in homes.items()}  # fmt: skip
            assert intervals["feast"] == intervals["platform"]
        _assert_online_equals_offline(homes["platform"], small_snapshots.features, months[-1])
        # events: Feast's `store.push` against the platform's writer, from the same rows at the same clock
        from churn.events import parse_event
        from store.event_intake import EventIntake, intake_for
        from store.readers import online_reader

        latest = small_snapshots.features[small_snapshots.features.snapshot_month == months[-1]]
        who = latest.customer_id.astype(str).tolist()[:3]
        now = pd.Timestamp("2026-11-30T12:00:00Z")
        plan = [(who[0], "ticket_opened", 2), (who[0], "payment_late", 30), (who[1], "ticket_opened", 5),
                (who[2], "ticket_opened", 200)]  # fmt: skip
        events = [
            parse_event({"event_id": f"e{i}", "customer_id": c, "type": kind,
                         "at": (now - pd.Timedelta(days=d)).isoformat()}, now.to_pydatetime())
            for i, (c, kind, d) in enumerate(plan)
        ]  # fmt: skip
        for step in range(2):  # a first push, then one over it
            for writer, settings in homes.items():
                store = get_store(settings)
                reader = online_reader(settings, store)
                intake = (EventIntake(store, reader, settings.raw_dir) if writer == "feast"
                          else intake_for(settings, store, reader))  # fmt: skip
                assert (intake.writer is None) == (writer == "feast")
                intake.clock = lambda step=step: int(now.value) + step * 10**9
                outcomes = intake.take([replace(e, event_id=f"{e.event_id}-{step}") for e in events])
                assert [o.status for o in outcomes] == ["applied", "applied", "applied", "recorded"]
            feast, ours = dump(homes["feast"]), dump(homes["platform"])
            assert len(ours) == len(feast) > 0 and ours == feast, f"push {step}"
    finally:
        for settings in homes.values():
            for key in _project_keys(redis_client, settings.feast_project):
                redis_client.delete(key)
