"""The service's parts that need no server: feature checks, keys, token buckets, the prediction log, fast paths."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn.errors import InputError
from churn.feature_values import FeatureValueError, check_feature_values
from churn.prediction_log import FIELDS, make_record, read_prediction_log
from churn.schema import FEATURE_NAMES
from churn.temporal import Snapshots
from serving.auth import KeyRing, presented_key
from serving.prediction_writer import PredictionLogWriter
from serving.ratelimit import LocalBuckets, retry_after
from training.encoding import FeatureEncoder


def test_feature_checks_name_every_problem() -> None:
    with pytest.raises(FeatureValueError) as err:
        check_feature_values(
            {"tenure_months": 2.5, "gender": None, "contract_type": "Forever", "partner": "yes", "nope": 1}
        )
    names = dict(err.value.problems)
    assert set(names) == {"tenure_months", "gender", "contract_type", "partner", "nope"}
    assert "whole number" in names["tenure_months"] and "null" in names["gender"]
    assert check_feature_values({"tenure_months": 3.0, "monthly_charges": None}) == {
        "tenure_months": 3,
        "monthly_charges": None,
    }
    with pytest.raises(FeatureValueError, match="missing"):
        check_feature_values({"tenure_months": 3}, required=["tenure_months", "gender"])


def test_keyring_accepts_plain_and_hashed_keys_only() -> None:
    plain, hashed = "plain-key-0123456789", "hashed-key-0123456789"
    ring = KeyRing.parse(f" {plain} , sha256:{hashlib.sha256(hashed.encode()).hexdigest().upper()}")
    assert ring.identify(plain) and ring.identify(hashed) and ring.identify(plain) != ring.identify(hashed)
    assert ring.identify("other-key-0123456789") is None and ring.identify(None) is None
    assert not KeyRing.parse("").enabled
    with pytest.raises(InputError, match="entry 1 is shorter"):
        KeyRing.parse("short")
    with pytest.raises(InputError, match="64 hex"):
        KeyRing.parse("sha256:abc")
    assert presented_key([(b"authorization", b"Bearer abc")]) == "abc"
    assert presented_key([(b"x-api-key", b"xyz")]) == "xyz"
    assert presented_key([(b"authorization", b"Basic abc")]) is None


def test_local_bucket_allows_a_burst_then_refuses_with_a_wait() -> None:
    buckets = LocalBuckets(rate=10.0)
    waits = [buckets.take_now("k") for _ in range(25)]
    assert waits[:20] == [0.0] * 20 and all(w > 0 for w in waits[20:])
    assert buckets.take_now("other") == 0.0
    assert retry_after(0.01) == "1" and retry_after(2.2) == "3"
    time.sleep(0.25)
    assert buckets.take_now("k") == 0.0  # refilled


def test_prediction_log_round_trip_survives_a_torn_line(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, worker="w1", interval=0.05)
    base = {f: None for f in FIELDS}
    for i in range(3):
        writer.append(
            make_record(
                **{
                    **base,
                    "logged_at": "2026-11-26T10:00:00+00:00",
                    "request_id": f"r{i}",
                    "customer_id": f"C{i}",
                    "probability": 0.1 * i,
                    "features": {"tenure_months": i},
                }
            )
        )
    writer.close()
    path = tmp_path / "logs" / "predictions" / "2026-11-26" / "w1.jsonl"
    with path.open("a") as fh:
        fh.write('{"logged_at": "2026-11-26T10:00:01+00:00", "request_')  # a crash mid-line
    frame = read_prediction_log(tmp_path, start=date(2026, 11, 26), end=date(2026, 11, 26))
    assert list(frame.request_id) == ["r0", "r1", "r2"]
    assert list(frame["feature.tenure_months"]) == [0, 1, 2]
    assert read_prediction_log(tmp_path, start=date(2026, 11, 27)).empty
    with pytest.raises(ValueError, match="missing"):
        make_record(request_id="x")
    assert json.loads(path.read_text().splitlines()[0])["customer_id"] == "C0"


def test_row_encoding_equals_frame_encoding(small_snapshots: Snapshots) -> None:
    enc = FeatureEncoder.for_features(list(FEATURE_NAMES))
    frame = small_snapshots.features.head(200).copy()
    frame.loc[frame.index[:20], "monthly_charges"] = np.nan
    rows = [
        {k: (None if pd.isna(v) else v) for k, v in r.items()} for r in frame[list(FEATURE_NAMES)].to_dict("records")
    ]
    np.testing.assert_array_equal(enc.transform_rows(rows), enc.transform(frame))


def test_tree_walker_equals_xgboost(small_snapshots: Snapshots) -> None:
    import xgboost as xgb

    from training.treeeval import TreeEnsemble

    enc = FeatureEncoder.for_features(list(FEATURE_NAMES))
    frame = small_snapshots.features
    X = enc.transform(frame)
    rng = np.random.default_rng(0)
    y = rng.random(len(X)) < 0.2
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 1, "seed": 0},
        xgb.DMatrix(X, label=y),
        num_boost_round=60,
    )
    X[rng.random(X.shape) < 0.1] = np.nan  # missing values take each split's default branch
    np.testing.assert_allclose(TreeEnsemble(booster).predict(X), booster.inplace_predict(X), atol=1e-6)
