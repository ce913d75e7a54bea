"""The service's guards that need no server: key parsing and scopes, the prediction log's failures, CSV cells."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from churn.errors import InputError
from churn.io import neutralise_formulas, write_csv
from serving.auth import HeaderError, KeyRing, presented_key
from serving.prediction_writer import PredictionLogWriter

STRONG = "q7Vn2Lx9Tr4Kp8Ws3Ym6Zc1"


def test_keys_carry_scopes_and_predict_is_the_default() -> None:
    ring = KeyRing.parse(f"admin+explain+predict:{STRONG},sha256:{hashlib.sha256(b'other-Key-9fXq2Lm7Rt').hexdigest()}")
    full = ring.identify(STRONG)
    assert full is not None and full.scopes == {"admin", "explain", "predict"}
    plain = ring.identify("other-Key-9fXq2Lm7Rt")
    assert plain is not None and plain.scopes == {"predict"} and not plain.may("explain")
    assert ring.identify("nope") is None and ring.identify(None) is None
    assert full.key_id == hashlib.sha256(STRONG.encode()).hexdigest()[:12]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("change-me-0123456789", "example key"),
        ("short-key", "shorter than 16"),
        ("aaaaaaaaaaaaaaaaaaaaaaaa", "too predictable"),
        ("abababababababababababab", "too predictable"),
        ("sha256:abc", "not 64 hex digits"),
        (f"predict+root:{STRONG}", r"unknown scope\(s\) \['root'\]"),
    ],
)
def test_weak_example_and_malformed_keys_are_refused(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        KeyRing.parse(spec)


def test_two_keys_in_one_request_are_refused() -> None:
    assert presented_key([(b"x-api-key", b"k1"), (b"x-api-key", b"")]) == "k1"
    assert presented_key([(b"authorization", b"Bearer k2")]) == "k2"
    with pytest.raises(HeaderError):
        presented_key([(b"x-api-key", b"k1"), (b"x-api-key", b"k2")])
    with pytest.raises(HeaderError):
        presented_key([(b"authorization", b"Bearer k1"), (b"x-api-key", b"k1")])


def _record(i: int) -> dict:
    return {"logged_at": "2026-11-30T10:00:00.000+00:00", "request_id": f"r{i}", "customer_id": f"C{i}"}


def test_a_failed_log_write_is_reported_and_leaves_no_torn_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk part-way through a write: the file is cut back to its last whole line, the failure is counted and
    said, and the next write lands on a clean line (it used to be glued onto the torn one and lost on read)."""
    writer = PredictionLogWriter(tmp_path, worker="w1", interval=3600)
    failures: list[int] = []
    writer.on_failure = lambda: failures.append(1)
    writer.append(_record(1))
    writer.flush()
    real_write = os.write

    def half(fd: int, data: bytes) -> int:
        return real_write(fd, data[: len(data) // 2])  # the disk filled up after half the bytes

    monkeypatch.setattr(os, "write", half)
    writer.append(_record(2))
    writer.flush()
    monkeypatch.setattr(os, "write", real_write)
    assert failures == [1] and writer.dropped == 1 and "ENOSPC" not in writer.problems()[0]
    assert "writes failing" in writer.problems()[0]
    writer.append(_record(3))
    writer.flush()
    writer.close()
    [path] = list(tmp_path.rglob("w1.jsonl"))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == ["r1", "r3"]
    assert writer.problems() == []  # the last write succeeded
    assert oct(path.stat().st_mode & 0o777) == oct(0o600) and (path.parent.stat().st_mode & 0o777) == 0o700


def test_an_unwritable_log_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where the folder should be")
    writer = PredictionLogWriter(tmp_path, worker="w1", interval=3600)
    writer.append(_record(1))
    writer.flush()
    writer.close()
    assert writer.failures == 1 and writer.problems() and writer.stats()["dropped"] == 1


def test_csv_cells_that_look_like_formulas_are_neutralised(tmp_path: Path) -> None:
    frame = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "note": ["=HYPERLINK(1)", "+1", "plain"],
                          "value": [-1.5, 2.0, 3.0]})  # fmt: skip
    assert neutralise_formulas(frame)["note"].tolist() == ["'=HYPERLINK(1)", "'+1", "plain"]
    write_csv(frame, tmp_path / "plan.csv")
    back = pd.read_csv(tmp_path / "plan.csv")
    assert back["note"].tolist() == ["'=HYPERLINK(1)", "'+1", "plain"] and back["value"].tolist() == [-1.5, 2.0, 3.0]


def test_the_openapi_document_has_one_key_per_status_and_every_route() -> None:
    from serving.openapi import document

    generated = {
        "info": {"title": "churn", "version": "None", "contact": {"name": "BentoML Team"}},
        "paths": {"/predict_churn": {"post": {"responses": {200: {"description": "ok"}, 400: {"description": "x"}}}}},
        "components": {"schemas": {}},
    }
    spec = document(generated)
    responses = spec["paths"]["/predict_churn"]["post"]["responses"]
    assert all(isinstance(code, str) for code in responses) and {"200", "400", "401", "429", "503"} <= set(responses)
    assert spec["info"]["title"] != "churn" and "contact" not in spec["info"]
    assert {"/model-info", "/health", "/admin/reload"} <= set(spec["paths"])
    assert generated["paths"]["/predict_churn"]["post"]["responses"].keys() == {200, 400}  # the input is untouched
