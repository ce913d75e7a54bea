"""The model registry: versions in BentoML's model store, and a champion pointer with its full history.

The pointer (``CHURN_HOME/registry/champion.json``) decides what serving and
batch scoring load. It is rewritten atomically, and only after the new
champion's artifact has been loaded successfully, so a corrupt or missing
artifact never replaces a working champion.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bentoml
from bentoml._internal.models.model import ModelStore

from churn.errors import InputError
from churn.io import write_json
from churn.settings import Settings
from training.artifact import ChurnModel, artifact_digests

MODEL_NAME = "churn_model"
# Each kind of model has its own versions and its own champion: the churn model, and the lifetime (CLV) model.
KINDS = {"churn": MODEL_NAME, "clv": "clv_model"}


class RegistryError(InputError):
    """A registry operation that cannot be done; the message says why and what to do."""


def packed(settings: Settings) -> bool:
    """Serving from a Bento of `churn package` with no registry in CHURN_HOME: the Bento's own models are used."""
    return bool(settings.packed_champion) and not pointer_path(settings).exists()


def model_store(settings: Settings) -> Any:
    """BentoML's model store under CHURN_HOME/bentoml, passed explicitly to every call.

    BentoML resolves its home once per process; passing the store keeps tests
    and profiles with different homes apart. Processes we start (`churn serve`)
    get ``BENTOML_HOME`` in their own environment. In a Bento built by
    `churn package` and started without a registry, the store is BentoML's
    active one: the Bento's, where the packed champions are.
    """
    if packed(settings):
        from bentoml._internal.configuration.containers import BentoMLContainer

        return BentoMLContainer.model_store.get()
    folder = settings.bentoml_home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return ModelStore(str(folder))


def pointer_path(settings: Settings, kind: str = "churn") -> Path:
    name = "champion.json" if kind == "churn" else f"{kind}_champion.json"
    return settings.home_dir / "registry" / name


def read_pointer(settings: Settings, kind: str = "churn") -> dict[str, Any]:
    path = pointer_path(settings, kind)
    if not path.exists():
        if packed(settings):  # the versions packed in this Bento are the champions
            return {"champion": settings.packed_champion if kind == "churn" else settings.packed_lifetime,
                    "history": [], "packed": True}  # fmt: skip
        return {"champion": None, "history": []}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RegistryError(f"registry: {path} is not valid JSON ({err}); restore it from its history") from None


def save_model(settings: Settings, model: ChurnModel, metadata: dict[str, Any], kind: str = "churn") -> str:
    """Store the artifact and its metadata with each file's SHA-256; returns the version (``churn_model:<tag>``).

    The files are written first, so their digests go into the metadata BentoML
    keeps beside them; every load (serving, scoring, a promotion) checks them.
    """
    labels = {"feature_service": str(metadata.get("feature_service", "")), "source": str(metadata.get("source", ""))}
    with tempfile.TemporaryDirectory(prefix="churn-artifact-") as staging:
        digests = model.save(Path(staging))
        with bentoml.models.create(
            KINDS[kind],
            metadata=_jsonable({**metadata, "artifact_sha256": digests}),
            labels=labels,
            _model_store=model_store(settings),
        ) as bento_model:
            for name in digests:
                shutil.copyfile(Path(staging) / name, Path(bento_model.path) / name)
    return str(bento_model.tag)


def _jsonable(obj: Any) -> Any:
    """Metadata as BentoML stores it: JSON types, and no None (which BentoML refuses); readers use ``.get``."""

    def drop_none(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: drop_none(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [drop_none(v) for v in value]
        return value

    return drop_none(json.loads(json.dumps(obj, default=str)))


def _stored(settings: Settings, version: str) -> Any:
    try:
        return bentoml.models.get(version, _model_store=model_store(settings))
    except Exception:  # BentoML raises its own NotFound
        raise RegistryError(f"registry: model {version!r} is not in the model store") from None


def artifact_folder(settings: Settings, version: str) -> Path:
    return Path(_stored(settings, version).path)


def load_model(settings: Settings, version: str, nthread: int = 1) -> ChurnModel:
    """Load a version with its files checked against the SHA-256 recorded at save, or raise RegistryError saying what
    is wrong with it."""
    stored = _stored(settings, version)
    metadata = dict(stored.info.metadata)
    try:
        return ChurnModel.load(
            Path(stored.path), metadata=metadata, nthread=nthread, digests=metadata.get("artifact_sha256")
        )
    except Exception as err:
        raise RegistryError(f"registry: model {version!r} is unreadable ({err.__class__.__name__}: {err})") from None


def verify_artifact(settings: Settings, version: str) -> str | None:
    """Why the version's files on disk no longer match their recorded digests, or None when they do."""
    try:
        stored = _stored(settings, version)
    except RegistryError as err:
        return str(err)
    recorded = dict(stored.info.metadata).get("artifact_sha256") or {}
    found = artifact_digests(Path(stored.path))
    changed = sorted(name for name in set(recorded) | set(found) if recorded.get(name) != found.get(name))
    return f"model {version}: {', '.join(changed)} differ from the SHA-256 recorded at save" if changed else None


def champion_version(settings: Settings, then: str = "", kind: str = "churn") -> str:
    """The champion's version, or a RegistryError saying to train one (``then``: what the caller was about to do)."""
    version = read_pointer(settings, kind).get("champion")
    if not version:
        raise RegistryError(f"registry: no champion model yet — run `churn train`{' ' + then if then else ''}")
    return str(version)


def load_champion(settings: Settings, nthread: int = 1) -> ChurnModel:
    return load_model(settings, champion_version(settings), nthread=nthread)


def list_models(settings: Settings, kind: str = "churn") -> list[dict[str, Any]]:
    champion = read_pointer(settings, kind).get("champion")
    rows = []
    try:
        stored = bentoml.models.list(KINDS[kind], _model_store=model_store(settings))
    except bentoml.exceptions.NotFound:
        stored = []
    for m in sorted(stored, key=lambda m: m.info.creation_time):
        meta: dict[str, Any] = dict(m.info.metadata)
        test: dict[str, Any] = meta.get("test") or {}
        rows.append(
            {
                "version": str(m.tag),
                "created": m.info.creation_time.isoformat(),
                "champion": str(m.tag) == champion,
                "feature_service": meta.get("feature_service"),
                "test": {k: test.get(k) for k in ("roc_auc", "pr_auc", "brier")},
            }
        )
    return rows


def kind_of(version: str) -> str:
    """The kind of a version, from its model name (``clv_model:<tag>`` is a lifetime model)."""
    name = version.split(":", 1)[0]
    return next((kind for kind, model in KINDS.items() if model == name), "churn")


def model_info(settings: Settings, version: str | None = None, kind: str | None = None) -> dict[str, Any]:
    pointer = read_pointer(settings, kind or (kind_of(version) if version else "churn"))
    version = version or pointer.get("champion")
    if not version:
        raise RegistryError("registry: no champion model yet — run `churn train`")
    stored = _stored(settings, version)
    return {
        "version": str(stored.tag),
        "created": stored.info.creation_time.isoformat(),
        "champion": pointer.get("champion"),
        "is_champion": str(stored.tag) == pointer.get("champion"),
        "metadata": dict(stored.info.metadata),
        "history": pointer.get("history", []),
    }


@dataclass
class Decision:
    promote: bool
    reasons: list[str]


@contextlib.contextmanager
def pointer_lock(settings: Settings, kind: str = "churn") -> Iterator[None]:
    """One writer of the champion pointer at a time, across processes (an exclusive lock on a file beside it).

    Without it, concurrent promotions each read the same history and the last
    write wins: updates were lost.
    """
    path = pointer_path(settings, kind).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _record(
    settings: Settings,
    action: str,
    version: str,
    reasons: list[str],
    champion: str | None = None,
    kind: str = "churn",
) -> str | None:
    """Append a decision to the history and set the champion (None: keep it), in one atomic write; the caller holds
    the pointer lock. Returns the champion before."""
    pointer = read_pointer(settings, kind)
    previous = pointer.get("champion")
    new = previous if champion is None else champion
    pointer["history"].append(
        {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "action": action,
            "version": version,
            "previous": previous,
            "champion": new,
            "reasons": reasons,
        }
    )
    pointer["champion"] = new
    write_json(pointer, pointer_path(settings, kind))
    return previous


def promote(
    settings: Settings, version: str, reasons: list[str], action: str = "promote", kind: str = "churn"
) -> str | None:
    """Make ``version`` the champion once its artifact loads and matches its digests; returns the one before."""
    load_model(settings, version)  # never point at something that does not load
    with pointer_lock(settings, kind):
        return _record(settings, action, version, reasons, champion=version, kind=kind)


def keep(settings: Settings, version: str, reasons: list[str], kind: str = "churn") -> None:
    with pointer_lock(settings, kind):
        _record(settings, "keep", version, reasons, kind=kind)


def rollback(settings: Settings, kind: str = "churn") -> tuple[str, str]:
    """Restore the champion before the current one; returns (from, to)."""
    with pointer_lock(settings, kind):
        pointer = read_pointer(settings, kind)
        current = pointer.get("champion")
        if not current:
            raise RegistryError("registry: no champion to roll back from")
        # walk the history backwards: the champion in force before `current` became champion
        previous = None
        for event in reversed(pointer["history"]):
            if event.get("champion") == current and event.get("previous") not in (None, current):
                previous = event["previous"]
                break
        if previous is None:
            raise RegistryError(f"registry: {current} has no earlier champion to roll back to")
        load_model(settings, previous)
        _record(settings, "rollback", previous, [f"rolled back from {current}"], champion=previous, kind=kind)
    return current, previous


def earlier_champions(settings: Settings) -> list[str]:
    """Every version that was champion before the current one, most recent first (for a fallback at start)."""
    pointer = read_pointer(settings)
    seen: list[str] = []
    for event in reversed(pointer.get("history", [])):
        for version in (event.get("champion"), event.get("previous")):
            if version and version != pointer.get("champion") and version not in seen:
                seen.append(version)
    return seen


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    leakage_passed: bool,
    margin: float,
    champion_error: str | None = None,
) -> Decision:
    """The promotion policy for automatic runs, with its reasons.

    The challenger must pass the leakage gate and, on the same recent labelled
    window, beat the champion's PR-AUC by ``margin`` without a worse Brier score.
    """
    if not leakage_passed:
        return Decision(False, ["challenger failed the leakage gate"])
    if champion is None:
        reason = f"no working champion ({champion_error})" if champion_error else "no champion yet"
        return Decision(True, [reason])
    reasons = []
    gain = challenger["pr_auc"] - champion["pr_auc"]
    pr_ok = gain >= margin
    brier_ok = challenger["brier"] <= champion["brier"]
    reasons.append(
        f"PR-AUC {challenger['pr_auc']:.4f} vs champion {champion['pr_auc']:.4f} "
        f"({gain:+.4f}, needs ≥ {margin:+.4f}): {'ok' if pr_ok else 'not enough'}"
    )
    reasons.append(
        f"Brier {challenger['brier']:.5f} vs champion {champion['brier']:.5f}: {'ok' if brier_ok else 'worse'}"
    )
    return Decision(pr_ok and brier_ok, reasons)
