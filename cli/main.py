"""`churn`: one thin command per verb. Frameworks are imported inside commands so `--help` stays fast."""

from __future__ import annotations

import typer

from churn.console_warnings import silence_dependency_warnings
from cli import campaign, data, decisions, events, features, models, operations, serve

app = typer.Typer(
    help="Churn prediction and retention platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.simulate_app, name="simulate")
app.add_typer(data.ingest_app, name="ingest")
app.command("build")(data.build_cmd)
app.command("validate")(data.validate_cmd)
app.command("summary")(data.summary_cmd)
app.command("forget")(data.forget_cmd)
app.add_typer(data.consent_app, name="consent")
app.command("retention")(data.retention_cmd)
app.add_typer(features.app, name="features")
app.add_typer(events.app, name="events")
app.add_typer(campaign.app, name="campaign")
app.command("train")(models.train_cmd)
app.add_typer(models.models_app, name="models")
app.add_typer(models.benchmark_app, name="benchmark")
app.command("serve")(serve.serve_cmd)
app.command("package")(serve.package_cmd)
app.command("console")(serve.console_cmd)
keys_app = typer.Typer(help="API keys for the HTTP service.", no_args_is_help=True)
keys_app.command("new")(serve.keys_new_cmd)
app.add_typer(keys_app, name="keys")
app.command("score")(decisions.score_cmd)
app.command("decide")(decisions.decide_cmd)
app.command("evaluate-policy")(decisions.evaluate_policy_cmd)
app.command("drift")(decisions.drift_cmd)
app.command("demo")(operations.demo_cmd)
app.command("replay")(operations.replay_cmd)


def main() -> None:
    silence_dependency_warnings()
    app()


if __name__ == "__main__":
    main()
