"""Labels of your own, as a user meets them: another company's exports with its own payment method and contract
kind, ingested by a mapping that declares them, trained on, and set in a what-if through the real HTTP service."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from churn.mapped_ingest import ingest_mapped
from churn.mapping import load_mapping
from churn.raw import save_raw
from churn.simulate import simulate
from harness.acme import acme_mapping, export_acme, seconds_only
from harness.homes import SERVE_SIM, SERVE_TRAIN, settings_env
from harness.process import serving
from harness.settings import make_settings, unique_project
from store.feast_store import apply
from store.materialize import materialize
from store.offline_build import build_offline
from training import registry
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


def test_a_declared_payment_method_and_contract_kind_reach_the_model_and_the_api(tmp_path: Path) -> None:
    native = seconds_only(simulate(SERVE_SIM))
    export_acme(native, tmp_path / "exports")
    document = acme_mapping(native)
    document["labels"] = {"payment_method": ["Direct debit"], "contract": {"Eighteen months": 18}}
    categories = document["tables"]["service_changes"]["categories"]
    categories["payment_method"]["direct debit"] = "Direct debit"
    categories["contract"]["annual-24"] = "Eighteen months"
    for spec in document["tables"].values():
        files = spec["files"] if isinstance(spec["files"], list) else [spec["files"]]
        spec["files"] = [f"exports/{f}" for f in files]
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    settings = make_settings(tmp_path / "home", unique_project("labels"))
    save_raw(ingest_mapped(load_mapping(tmp_path / "acme.yaml"), tmp_path).raw, settings.raw_dir)
    build_offline(settings)
    apply(settings)
    materialize(settings)
    result = train(settings, SERVE_TRAIN)
    assert result.promoted
    encoder = registry.load_champion(settings).encoder
    assert encoder.categories["payment_method"][-1] == "Direct debit"
    assert encoder.categories["contract_type"][-1] == "Eighteen months"

    with serving(settings_env(settings), tmp_path / "serve.log") as (url, _):
        customer = native.tables["customers"]["customer_id"].astype(str).iloc[0]
        what_if = {"payment_method": "Direct debit", "contract_type": "Eighteen months"}
        status, answer = _post(url + "/predict_churn", {"customer_id": customer, "features": what_if})
        assert status == 200 and answer["what_if"] is True, answer
        other = {"payment_method": "Electronic check", "contract_type": "Month-to-month"}
        status, baseline = _post(url + "/predict_churn", {"customer_id": customer, "features": other})
        assert status == 200 and baseline["probability"] != answer["probability"]  # the model reads the labels
        status, refused = _post(url + "/predict_churn", {"customer_id": customer,
                                                          "features": {"payment_method": "Cash"}})  # fmt: skip
        assert status == 422 and refused["detail"][0]["field"] == "features.payment_method"
        assert "Direct debit" in refused["detail"][0]["problem"]
