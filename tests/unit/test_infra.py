"""What can be validated of infra/ without a container engine: files parse, and every image, port, variable,
path and command they reference exists in the project. `bentoml build` runs for real."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from churn.settings import Settings, env_example

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
COMPOSE = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
K8S = {p.name: list(yaml.safe_load_all(p.read_text())) for p in (INFRA / "k8s").glob("*.yaml")}
SETTINGS = {f"CHURN_{name.upper()}" for name in Settings.model_fields}
OTHER_CHURN_VARS = {"CHURN_SECRETS_DIR", "CHURN_PROJECT_DIR"}  # read by get_settings / prefect.yaml's pull step
PLATFORM_IMAGE = "churn-platform"


def _cli_verbs() -> set[str]:
    import typer.main

    from cli.main import app

    group = typer.main.get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


def _check_command(argv: list[str]) -> None:
    """A command a container runs must exist here: `churn <verb>`, `prefect ...`, or a shell of those."""
    if argv[:2] == ["sh", "-c"]:
        for part in re.split(r"&&|\|\||;|\(|\)", argv[2]):
            words = shlex.split(part.replace("exec ", ""))
            if words:
                _check_command(words)
        return
    tool = argv[0]
    assert tool in {"churn", "prefect", "redis-server", "python", "redis-cli"}, argv
    if tool == "churn":
        assert argv[1] in _cli_verbs(), argv
    if tool == "prefect":
        assert argv[1] in {"server", "worker", "work-pool", "deploy", "--no-prompt", "deployment"}, argv


def test_dockerfile_is_pinned_non_root_and_copies_only_what_exists() -> None:
    text = (INFRA / "Dockerfile").read_text()
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11\.\d+-slim", text)  # pinned, slim
    assert "USER churn" in text and "--uid 10001" in text
    assert "HEALTHCHECK" in text and "/livez" in text
    assert "EXPOSE 3000" in text and '"--port", "3000"' in text
    for line in text.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert "requirements/base.txt" in text  # the locked tree, not a loose install


def test_compose_images_are_pinned_and_services_reference_what_exists() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"redis", "postgres", "prefect-server", "bootstrap", "prefect-worker", "api", "console"}
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), (name, image)
        if image.startswith(PLATFORM_IMAGE):
            assert service["build"]["dockerfile"] == "infra/Dockerfile"
            assert (INFRA / service["build"]["context"] / service["build"]["dockerfile"]).exists()
            _check_command(service["command"])
            for key in service.get("environment", {}):
                if key.startswith("CHURN_"):
                    assert key in SETTINGS | OTHER_CHURN_VARS, (name, key)
    # Redis keeps its data across a restart and asks for a password; the platform passes it in CHURN_REDIS
    redis = " ".join(services["redis"]["command"])
    assert (
        "--appendonly yes" in redis and "--requirepass" in redis and "redis-data:/data" in services["redis"]["volumes"]
    )
    assert services["redis"]["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert "password=${REDIS_PASSWORD" in services["api"]["environment"]["CHURN_REDIS"]
    api = services["api"]
    assert api["ports"] == ["127.0.0.1:3000:3000"]  # published on this machine only
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert api["environment"]["CHURN_PROFILE"] == "shared" and "CHURN_API_KEYS" in api["environment"]
    for mount in services["postgres"]["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (INFRA / source).exists(), source
    console = services["console"]  # the retention console: keys required (it refuses to start without), loopback
    assert console["ports"] == ["127.0.0.1:3030:3030"] and "/livez" in " ".join(console["healthcheck"]["test"])
    assert "CHURN_API_KEYS" in console["environment"] and console["command"][:2] == ["churn", "console"]
    # every platform container shares CHURN_HOME: promotions reach the API through it
    assert all("churn-data:/data" in services[s]["volumes"] for s in ("api", "console", "prefect-worker", "bootstrap"))


def test_no_secret_value_is_committed() -> None:
    env = COMPOSE["services"]["api"]["environment"]
    assert env["CHURN_API_KEYS"].startswith("${CHURN_API_KEYS:?")  # comes from the environment, required
    assert "${POSTGRES_PASSWORD:?" in env["CHURN_REGISTRY_URL"]
    [secret] = K8S["secret.yaml"]
    assert all("replace" in value for value in secret["stringData"].values())
    [kustomization] = K8S["kustomization.yaml"]
    assert "secret.yaml" not in kustomization["resources"]  # applying placeholders would overwrite the real secret


def test_kustomization_resources_and_cross_references() -> None:
    [kustomization] = K8S["kustomization.yaml"]
    templates = {"kustomization.yaml", "secret.yaml"}
    assert sorted(kustomization["resources"]) == sorted(n for n in K8S if n not in templates)
    objects = {(o["kind"], o["metadata"]["name"]): o for docs in K8S.values() for o in docs if "metadata" in o}
    api = objects[("Deployment", "churn-api")]["spec"]
    container = api["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["ports"][0]["containerPort"] == 3000 and container["resources"]["limits"]
    _check_command(container["command"])
    assert api["selector"]["matchLabels"].items() <= api["template"]["metadata"]["labels"].items()
    service = objects[("Service", "churn-api")]["spec"]
    assert service["selector"].items() <= api["template"]["metadata"]["labels"].items()
    hpa = objects[("HorizontalPodAutoscaler", "churn-api")]["spec"]
    assert (hpa["scaleTargetRef"]["kind"], hpa["scaleTargetRef"]["name"]) in objects
    worker = objects[("Deployment", "churn-prefect-worker")]["spec"]["template"]["spec"]
    _check_command(worker["containers"][0]["command"])
    assert worker["containers"][0]["command"][-1] == yaml.safe_load((ROOT / "prefect.yaml").read_text())[
        "deployments"][0]["work_pool"]["name"]  # fmt: skip
    settings = objects[("ConfigMap", "churn-settings")]["data"]
    secret = next(o for o in K8S["secret.yaml"] if o["kind"] == "Secret")["stringData"]
    for key in [*settings, *secret]:
        if key.startswith("CHURN_"):
            assert key in SETTINGS | OTHER_CHURN_VARS, key
    for pod in (api["template"]["spec"], worker):
        claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
        assert claims == {"churn-data"} and ("PersistentVolumeClaim", "churn-data") in objects
        secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert secrets == {"churn-secrets"}
        mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert settings["CHURN_SECRETS_DIR"] in mounts and settings["CHURN_HOME"] in mounts and "/tmp" in mounts
        # hardened: no token, no privilege escalation, read-only root, no capabilities, the runtime's seccomp
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        context = pod["containers"][0]["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
    budget = objects[("PodDisruptionBudget", "churn-api")]["spec"]
    assert budget["selector"]["matchLabels"].items() <= api["template"]["metadata"]["labels"].items()
    policies = {o["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]: o for (kind, _), o in objects.items()
                if kind == "NetworkPolicy"}  # fmt: skip
    assert set(policies) == {"churn-api", "churn-prefect-worker"}
    assert policies["churn-api"]["spec"]["ingress"] == [{"ports": [{"port": 3000, "protocol": "TCP"}]}]


def test_env_example_is_generated_from_the_settings_class() -> None:
    assert (ROOT / ".env.example").read_text() == env_example(), "regenerate: python -m churn.settings > .env.example"
    assert {line.split("=")[0] for line in env_example().splitlines() if line.startswith("CHURN_")} == SETTINGS


def test_secrets_can_come_from_mounted_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from churn.settings import get_settings

    (tmp_path / "CHURN_API_KEYS").write_text("from-a-file")
    monkeypatch.setenv("CHURN_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("CHURN_API_KEYS", raising=False)
    get_settings.cache_clear()
    try:
        assert get_settings().api_keys.get_secret_value() == "from-a-file"
        monkeypatch.setenv("CHURN_API_KEYS", "from-the-environment")
        get_settings.cache_clear()
        assert get_settings().api_keys.get_secret_value() == "from-the-environment"
    finally:
        get_settings.cache_clear()


@pytest.mark.slow
def test_bentoml_build_packages_the_service(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "bentoml"), "build", "-f", "bentofile.yaml", "--output", "tag", "."],
        cwd=ROOT, env={"BENTOML_HOME": str(tmp_path / "bentoml"), "PATH": str(Path(sys.executable).parent)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [bento] = (tmp_path / "bentoml" / "bentos" / "churn").glob("*/bento.yaml")
    spec = yaml.safe_load(bento.read_text())
    assert spec["service"] == "serving.service:ChurnService"
    packaged = {p.relative_to(bento.parent / "src").as_posix() for p in (bento.parent / "src").rglob("*.py")}
    assert {"serving/service.py", "store/redis_online.py", "training/artifact.py", "churn/actions.py"} <= packaged
    assert "feature_repo/profiles/redis.yaml" in {
        p.relative_to(bento.parent / "src").as_posix() for p in (bento.parent / "src").rglob("*.yaml")
    }
    assert not any(p.startswith("tests/") for p in packaged)
