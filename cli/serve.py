"""`churn serve`: the HTTP service under `bentoml serve`, after checking it can start."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import typer

from churn.console_warnings import PYTHONWARNINGS
from churn.settings import get_settings
from cli.common import err_console, handle_errors

ROOT = Path(__file__).resolve().parents[1]


@handle_errors
def serve_cmd(
    port: int = typer.Option(3000, min=1, max=65535, help="TCP port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 to serve beyond this machine."),
    workers: int = typer.Option(0, min=0, max=64, help="Worker processes (0: CHURN_SERVE_WORKERS, default 2)."),
) -> None:
    """Serve POST /predict_churn, /predict_churn/batch, GET /model-info and /health with the champion model."""
    from serving.auth import service_keys
    from training import registry

    settings = get_settings().model_copy(update={"serve_host": host})
    service_keys(settings, host)  # refuses to serve beyond loopback without API keys, before anything starts
    champion = registry.read_pointer(settings).get("champion")
    if not champion:
        raise registry.RegistryError("registry: no champion model yet — run `churn train` before serving")
    env = {
        **os.environ,
        **settings.to_env(),
        "CHURN_SERVE_WORKERS": str(workers or settings.serve_workers),
        # BentoML's own home for this server alone: it wipes its Prometheus folder there at every start, which must
        # never zero another running server's /metrics. The registry passes its model store explicitly.
        "BENTOML_HOME": str(Path(tempfile.gettempdir()) / f"churn-serve-{os.getuid()}-{port}"),
        "BENTOML_DO_NOT_TRACK": "true",  # no usage telemetry
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": PYTHONWARNINGS,
    }
    err_console.print(f"serving {champion} on http://{host}:{port} ({env['CHURN_SERVE_WORKERS']} workers)")
    cmd = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:ChurnService",
        "--host",
        host,
        "--port",
        str(port),
    ]
    os.chdir(ROOT)
    os.execve(sys.executable, cmd, env)


@handle_errors
def console_cmd(
    port: int = typer.Option(3030, min=1, max=65535, help="TCP port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; behind a TLS proxy to serve beyond this machine."),
) -> None:
    """The retention console: at-risk customers, a customer's reasons and what-ifs, the plan at a budget, models.

    People sign in with a key of CHURN_API_KEYS; keys with the admin scope may promote and roll back.
    """
    import uvicorn

    from console.app import create_app

    app = create_app(get_settings())  # refuses to start without keys, before binding
    err_console.print(f"console on http://{host}:{port} (sign in with a key of CHURN_API_KEYS)")
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True, server_header=False)


@handle_errors
def package_cmd(as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object.")) -> None:
    """Build a Bento of the service with the churn and lifetime champions inside (`bentoml build` packs no model)."""
    from cli.common import emit
    from operations.package import package

    with err_console.status("bentoml build (packing the champions)"):
        result = package(get_settings())
    emit(result, as_json, "package")


@handle_errors
def keys_new_cmd(
    scopes: str = typer.Option("predict", help="What the key may do, joined with +: predict, explain, admin."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object on stdout."),
) -> None:
    """Make an API key: the key for the client, and its hashed entry for CHURN_API_KEYS.

    Keys are 32 random bytes (URL-safe base64), far above the service's entropy floor;
    the entry holds only the key's SHA-256, so the server's configuration never holds a usable secret;
    it is parsed back before it is printed, so what you paste is what the service accepts.
    """
    import secrets

    from cli.common import emit
    from serving.auth import KeyRing, digest

    key = secrets.token_urlsafe(32)
    entry = f"{scopes}:sha256:{digest(key)}"
    KeyRing.parse(entry)  # an unknown scope ends here with its name
    title = "new API key (give `key` to the client; put `entry` in CHURN_API_KEYS)"
    emit({"key": key, "entry": entry, "scopes": scopes}, as_json, title)
