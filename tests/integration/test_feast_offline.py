"""Training sets through Feast's offline stores (DuckDB, Spark): the point-in-time join equals the snapshot table."""

from __future__ import annotations

import pandas as pd
import pytest

from churn.schema import FEATURES, MODEL_FEATURES
from store.feast_store import apply, get_store, service_features
from store.training_sets import build_training_set

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["local", "spark"])
def store(request, feast_home, small_snapshots):
    """The same tests on the DuckDB offline store and on Feast's Spark offline store (local[2])."""
    if request.param == "local":
        return get_store(feast_home)
    from churn.offline import write_offline
    from tests.conftest import make_settings, unique_project

    settings = make_settings(request.getfixturevalue("tmp_path_factory").mktemp("spark-home"),
                             unique_project("spark"), profile="spark")  # fmt: skip
    write_offline(small_snapshots, settings.snapshots_dir, settings.labels_path)
    apply(settings)
    return get_store(settings)


def test_feature_service_lists_exactly_the_model_inputs(store) -> None:
    assert service_features(store) == list(MODEL_FEATURES)
    assert service_features(store, "churn_model_v1") == [
        f.name for group in ("profile", "billing", "behaviour") for f in FEATURES if f.group == group
    ]


def test_training_set_equals_the_snapshot_table(store, small_snapshots) -> None:
    labels = small_snapshots.labels
    joined = build_training_set(store, labels)
    assert len(joined) == len(labels)
    pd.testing.assert_frame_equal(joined[labels.columns], labels)
    expected = labels.merge(small_snapshots.features, on=["customer_id", "event_timestamp"], how="left")
    for name in MODEL_FEATURES:
        got, want = joined[name], expected[name]
        if want.dtype.kind in "biuf" or str(want.dtype) == "Int64":
            pd.testing.assert_series_equal(got.astype("float64"), want.astype("float64"), check_names=False, obj=name)
        else:
            assert (got.astype(str) == want.astype(str)).all(), name


def test_a_later_snapshot_is_never_joined_and_ttl_gives_nulls(store, small_snapshots) -> None:
    snaps = small_snapshots.features
    last_month = snaps.snapshot_month.max()
    stayer = snaps[snaps.snapshot_month == last_month].customer_id.iloc[0]
    rows = snaps[snaps.customer_id == stayer].sort_values("event_timestamp")
    second, third = rows.iloc[1], rows.iloc[2]
    first_ts = rows.event_timestamp.iloc[0]
    entity = pd.DataFrame(
        {
            "customer_id": [stayer, stayer, stayer],
            "event_timestamp": [
                third.event_timestamp - pd.Timedelta(seconds=1),  # just before month 3's snapshot: month 2's
                first_ts - pd.Timedelta(days=1),  # before any snapshot: nothing to join
                snaps.event_timestamp.max() + pd.Timedelta(days=40),  # beyond the 31-day TTL: nulls
            ],
        }
    )
    out = build_training_set(store, entity)
    assert out.total_charges_to_date.iloc[0] == pytest.approx(second.total_charges_to_date)
    assert out.tenure_months.iloc[0] == second.tenure_months
    assert out[list(MODEL_FEATURES)].iloc[1].isna().all()
    assert out[list(MODEL_FEATURES)].iloc[2].isna().all()


def test_entity_rows_keep_their_order_and_extra_columns(store, small_snapshots) -> None:
    labels = small_snapshots.labels.sample(frac=1.0, random_state=3).head(500)
    out = build_training_set(store, labels.assign(weight=1.5))
    assert list(out.customer_id) == list(labels.customer_id)
    assert (out.weight == 1.5).all()


def test_duplicate_entity_rows_are_refused(store, small_snapshots) -> None:
    from churn.errors import InputError

    labels = small_snapshots.labels.head(3)
    with pytest.raises(InputError, match="duplicate"):
        build_training_set(store, pd.concat([labels, labels]))


def test_the_training_set_is_read_back_from_the_cache_until_the_data_changes(feast_home, small_snapshots) -> None:
    import os

    from training.train import load_training_frame

    built, names, hit = load_training_frame(feast_home, "churn_model_v2")
    again, names_again, hit_again = load_training_frame(feast_home, "churn_model_v2")
    assert not hit and hit_again and names == names_again
    pd.testing.assert_frame_equal(again, built)
    assert "month" in again and len(again) > 0
    # an erasure, an ingest or a rebuild rewrites a snapshot file: the cache is missed, never trusted stale
    part = sorted(feast_home.snapshots_dir.rglob("*.parquet"))[-1]
    stat = part.stat()
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    _, _, hit_after = load_training_frame(feast_home, "churn_model_v2")
    assert not hit_after
