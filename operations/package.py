"""`churn package`: a Bento of the service with the champion models inside, for a container without CHURN_HOME.

`bentoml build` alone packs the code (bentofile.yaml), not a model: the
service reads the champion from CHURN_HOME's registry, which every replica
shares. To ship a service that carries its models, this writes a copy of
bentofile.yaml that declares the churn champion and the lifetime champion as
the Bento's models (BentoML copies them from the registry's model store into
the Bento) and names them in the Bento's environment (``CHURN_PACKED_CHAMPION``,
``CHURN_PACKED_LIFETIME``), then runs `bentoml build` on it and exports the Bento, models included, to
``outputs/bentos/<name>-<version>.bento`` (`bentoml import` takes it anywhere). A server started
from that Bento with no champion in its CHURN_HOME loads the packed versions
from the Bento's own model store (:func:`training.registry.load_packed`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from churn.errors import InputError
from churn.settings import PROJECT_ROOT, Settings
from training import registry

PACKED_CHAMPION = "CHURN_PACKED_CHAMPION"
PACKED_LIFETIME = "CHURN_PACKED_LIFETIME"


def packed_bentofile(champion: str, lifetime: str | None, source: Path = PROJECT_ROOT / "bentofile.yaml") -> dict:
    """bentofile.yaml with the champions declared as the Bento's models and named in its environment."""
    spec: dict[str, Any] = yaml.safe_load(source.read_text())
    models = [champion, *([lifetime] if lifetime else [])]
    spec["models"] = models
    envs = [e for e in spec.get("envs", []) if e.get("name") not in (PACKED_CHAMPION, PACKED_LIFETIME)]
    envs.append({"name": PACKED_CHAMPION, "value": champion})
    if lifetime:
        envs.append({"name": PACKED_LIFETIME, "value": lifetime})
    spec["envs"] = envs
    spec.setdefault("labels", {})["champion"] = champion.replace(":", "-")
    return spec


def package(settings: Settings) -> dict[str, Any]:
    """Build the Bento; returns its tag, where it is, and the models it carries."""
    champion = registry.champion_version(settings, "before packaging")
    for version in (champion, registry.read_pointer(settings, "clv").get("champion")):
        if version:
            registry.load_model(settings, str(version))  # never pack what does not load or match its digests
    lifetime = registry.read_pointer(settings, "clv").get("champion")
    spec = packed_bentofile(champion, lifetime)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="bentofile-packed-", delete=False) as handle:
        yaml.safe_dump(spec, handle, sort_keys=False)
    try:
        env = {**os.environ, "BENTOML_HOME": str(settings.bentoml_home), "BENTOML_DO_NOT_TRACK": "true"}
        done = subprocess.run(
            [str(Path(sys.executable).parent / "bentoml"), "build", "-f", handle.name, "--output", "tag", "."],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    finally:
        Path(handle.name).unlink(missing_ok=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"package: bentoml build failed ({last})")
    tag = done.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    name, version = tag.split(":", 1)
    # the local Bento only references the models; the exported archive carries them (as a container build does)
    archive = settings.outputs_dir / "bentos" / f"{name}-{version}.bento"
    archive.parent.mkdir(parents=True, exist_ok=True)
    exported = subprocess.run([str(Path(sys.executable).parent / "bentoml"), "export", tag, str(archive)],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    if exported.returncode != 0:
        last = (exported.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"package: bentoml export failed ({last})")
    return {
        "bento": tag,
        "path": str(settings.bentoml_home / "bentos" / name / version),
        "archive": str(archive),
        "models": spec["models"],
        "bentoml_home": str(settings.bentoml_home),
        "next": f"BENTOML_HOME={settings.bentoml_home} bentoml containerize {tag}  (or import {archive} elsewhere)",
    }
