"""Validation catches each kind of temporal violation; the offline store is atomic and reproducible."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest

from churn.io import replace_dir
from churn.offline import read_labels, read_snapshots, snapshot_months, write_offline
from churn.temporal import Snapshots
from churn.validate import validate_temporal_consistency


def _failed(report) -> set[str]:
    return {c.name.split(" (")[0] for c in report.checks if not c.passed}


def test_clean_build_validates(small_raw, small_snapshots) -> None:
    report = validate_temporal_consistency(small_snapshots.features, small_snapshots.labels, small_raw)
    assert report.ok, report.to_dict()


def test_a_leaked_feature_is_caught(small_raw, small_snapshots) -> None:
    features = small_snapshots.features.copy()
    # leak: every snapshot sees the customer's final total, as a public reconstruction once did
    final = features.groupby("customer_id").total_charges_to_date.transform("max")
    features["total_charges_to_date"] = final
    report = validate_temporal_consistency(features, small_snapshots.labels, small_raw, sample_customers=40)
    assert _failed(report) == {"features use only data known strictly before the snapshot"}


def test_duplicates_snapshots_after_churn_and_bad_labels_are_caught(small_raw, small_snapshots) -> None:
    f, labels = small_snapshots.features, small_snapshots.labels
    churner = labels[labels.churned == 1].iloc[0]
    ghost = f[(f.customer_id == churner.customer_id) & (f.event_timestamp == churner.event_timestamp)].copy()
    ghost["event_timestamp"] = ghost["event_timestamp"] + pd.DateOffset(months=1)
    ghost["created_timestamp"] = ghost["event_timestamp"]
    ghost["snapshot_month"] = ghost["event_timestamp"].dt.strftime("%Y-%m")
    ghost["tenure_months"] += 1
    broken = pd.concat([f, f.iloc[[0]], ghost], ignore_index=True)
    flipped = labels.copy()
    flipped.loc[flipped.index[0], "churned"] = 1 - flipped.loc[flipped.index[0], "churned"]
    report = validate_temporal_consistency(broken, flipped, small_raw, sample_customers=0)
    failed = _failed(report)
    assert "one row per customer-month" in failed
    assert "no snapshot after a known churn" in failed
    assert "labels: one per snapshot, fully observed month, window strictly after the snapshot" in failed


def _digest(folder: Path) -> dict[str, str]:
    """The logical tree (through the symlinked generations, without the generations' own hidden names)."""
    out = {}
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(f for f in files if not f.startswith(".")):
            path = Path(root) / name
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_rebuild_is_byte_identical_and_round_trips(tmp_path: Path, small_snapshots: Snapshots) -> None:
    write_offline(small_snapshots, tmp_path / "a" / "snapshots", tmp_path / "a" / "labels.parquet")
    write_offline(small_snapshots, tmp_path / "b" / "snapshots", tmp_path / "b" / "labels.parquet")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    months = snapshot_months(tmp_path / "a" / "snapshots")
    assert months == sorted(small_snapshots.features.snapshot_month.unique())
    back = read_snapshots(tmp_path / "a" / "snapshots").sort_values(["snapshot_month", "customer_id"])
    expected = small_snapshots.features
    pd.testing.assert_frame_equal(
        back.reset_index(drop=True)[expected.columns], expected.reset_index(drop=True), check_dtype=False
    )
    labels = read_labels(tmp_path / "a" / "labels.parquet")
    pd.testing.assert_frame_equal(labels, small_snapshots.labels)


def test_a_crash_while_writing_leaves_the_previous_store(tmp_path: Path, small_snapshots: Snapshots) -> None:
    target = tmp_path / "snapshots"
    write_offline(small_snapshots, target, tmp_path / "labels.parquet")
    before = _digest(target)

    def crash(folder: Path) -> None:
        (folder / "half.parquet").write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        replace_dir(target, crash)
    assert _digest(target) == before
    live = target.resolve()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == [live]  # nothing but the live generation


def test_a_kill_before_the_switch_leaves_the_old_folder_and_a_rerun_cleans_up(
    tmp_path: Path, small_snapshots: Snapshots, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the new generation is built, before the link is switched: the folder is still the old one (it
    used to vanish between two renames), and the next run removes what the killed one left."""
    target = tmp_path / "snapshots"
    write_offline(small_snapshots, target, tmp_path / "labels.parquet")
    before = _digest(target)
    real_replace = os.replace

    def killed(src: object, dst: object) -> None:
        if Path(str(dst)) == target:
            raise KeyboardInterrupt("killed")  # what a SIGINT at that instant looks like to the code
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        replace_dir(target, lambda folder: (folder / "new.parquet").write_bytes(b"new"))
    monkeypatch.setattr(os, "replace", real_replace)
    assert _digest(target) == before and len([p for p in tmp_path.iterdir() if p.name.startswith(".")]) == 3
    replace_dir(target, lambda folder: (folder / "next.parquet").write_bytes(b"next"))
    assert _digest(target) == {"next.parquet": hashlib.sha256(b"next").hexdigest()}
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == [target.resolve()]
