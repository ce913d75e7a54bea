"""Declared features as a user meets them: a cross-section in a public mobile-telecom layout (synthetic, drawn by
harness/mobile_cs.py), its plans and usage declared as features, trained end to end and set in a what-if through
the real HTTP service."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from churn.cross_section import ingest_cross_section
from churn.declared import features_of
from churn.mapping import load_mapping
from churn.raw import save_raw
from harness.homes import settings_env
from harness.mobile_cs import write_mobile
from harness.process import serving
from harness.settings import make_settings, unique_project
from store.feast_store import apply, service_features
from store.materialize import materialize
from store.offline_build import build_offline
from training import registry
from training.config import DEFAULT_GRID, TrainConfig
from training.train import train

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_cross_section_trains_on_declared_features_and_serves_them_in_a_what_if(tmp_path: Path) -> None:
    mapping_path = write_mobile(tmp_path / "data", n=1500)
    settings = make_settings(tmp_path / "home", unique_project("declared"))
    raw = ingest_cross_section(load_mapping(mapping_path), mapping_path.parent).raw
    save_raw(raw, settings.raw_dir)
    declared = features_of(raw.manifest)
    build_offline(settings)
    applied = apply(settings)
    assert f"FeatureService:{declared.service_name}" in applied.applied
    assert applied.declaration == {"service": declared.service_name, "added": sorted(declared.declared_names),
                                   "removed": [], "changed": []}  # fmt: skip
    assert apply(settings).declaration == {"service": declared.service_name, "added": [], "removed": [],
                                           "changed": []}  # fmt: skip
    from store.feast_store import get_store

    assert service_features(get_store(settings), declared.service_name) == list(declared.model_features)
    materialize(settings)
    config = TrainConfig(bootstrap=5, grid=DEFAULT_GRID[:1], report=False, cv_folds=3, cv_repeats=1)
    result = train(settings, config)
    assert result.promoted
    model = registry.load_champion(settings)
    assert model.metadata["feature_service"] == declared.service_name
    assert model.metadata["evaluation"]["mode"] == "kfold"
    for name in ("international_plan", "day_minutes", "service_calls", "state"):
        assert name in model.features, model.features
    assert model.encoder.categories["state"] == ("CA", "KS", "NJ", "OH", "TX")
    assert set(model.metadata["leakage"]["declared_bounds"]) == set(declared.declared_names)

    customer = str(raw.tables["customers"]["customer_id"].iloc[0])
    with serving(settings_env(settings), tmp_path / "serve.log") as (url, _):
        risky = {"international_plan": True, "service_calls": 7, "day_minutes": 320.0, "state": "NJ"}
        status, high = _post(url + "/predict_churn", {"customer_id": customer, "features": risky, "explain": True})
        assert status == 200 and high["what_if"] is True, high
        calm = {"international_plan": False, "service_calls": 0, "day_minutes": 90.0, "state": "NJ"}
        status, low = _post(url + "/predict_churn", {"customer_id": customer, "features": calm})
        assert status == 200 and low["probability"] < high["probability"]  # the model reads the declared features
        named = {f["feature"] for f in high["factors"]}  # explanations name the declared features
        assert named & set(declared.declared_names), high["factors"]
        for bad, field, problem in (
            ({"service_calls": "many"}, "features.service_calls", "number"),
            ({"international_plan": 1}, "features.international_plan", "true or false"),
            ({"state": "ZZ"}, "features.state", "one of"),
            ({"servce_calls": 1}, "features.servce_calls", "unknown feature"),
        ):
            status, refused = _post(url + "/predict_churn", {"customer_id": customer, "features": bad})
            assert status == 422, refused
            assert refused["detail"][0]["field"] == field and problem in refused["detail"][0]["problem"], refused
