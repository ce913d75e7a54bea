"""Every command the README shows must exist: `churn` lines parse against the CLI, make targets exist,
files and folders it names are there. Commands that run here are exercised by the other tests."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
CHURN_LINES = [
    line.split("#")[0].strip()
    for block in BLOCKS
    for raw in block.replace("\\\n", " ").splitlines()
    for line in raw.split("&&")
    if re.search(r"(^|\s|/)churn\s", line.split("#")[0])
]


def _argv(line: str) -> list[str]:
    words = shlex.split(line.replace('"$(', " ").replace(')"', " "))
    start = next(i for i, w in enumerate(words) if w.endswith("churn"))
    return [w for w in words[start + 1 :] if not w.startswith(("&", "|"))]


def test_the_readme_shows_every_command_of_the_cli() -> None:
    group = typer.main.get_command(app)
    shown = {_argv(line)[0] for line in CHURN_LINES}
    assert shown == set(group.commands), set(group.commands) ^ shown  # type: ignore[attr-defined]


@pytest.mark.parametrize("line", CHURN_LINES)
def test_each_churn_line_parses_against_the_cli(line: str) -> None:
    command = typer.main.get_command(app)
    argv = _argv(line)
    ctx = command.make_context("churn", list(argv), resilient_parsing=False)
    while hasattr(command, "get_command"):  # a group (typer vendors its own click classes)
        words = [*ctx._protected_args, *ctx.args]
        if not words and command.invoke_without_command:  # `churn simulate ...`: the group's own command
            break
        name, *rest = words
        command = command.get_command(ctx, name)
        assert command is not None, f"{line}: no command {name!r}"
        ctx = command.make_context(name, rest, parent=ctx)


def test_make_targets_and_paths_the_readme_names_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"`make ([a-z-]+)`", README)):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    for path in set(re.findall(r"`((?:infra|docs|benchmarks|churn|flows|feature_repo)/[\w./-]+)`", README)):
        assert (ROOT / path.rstrip("/")).exists(), path
    assert (ROOT / ".env.example").exists() and (ROOT / "prefect.yaml").exists()


@pytest.mark.slow
def test_the_customers_the_readme_names_are_active_in_the_demo_data() -> None:
    """`make demo`'s data (its Makefile sizes, the demo's seed): every id the README uses is scored there."""
    from churn.schema import PARTITION
    from churn.simulate import SimulationConfig, simulate
    from churn.temporal import build_snapshots

    make = (ROOT / "Makefile").read_text()
    customers = int(re.search(r"^DEMO_CUSTOMERS \?= (\d+)", make, flags=re.M).group(1))  # type: ignore[union-attr]
    months = int(re.search(r"^DEMO_MONTHS \?= (\d+)", make, flags=re.M).group(1))  # type: ignore[union-attr]
    ids = set(re.findall(r"\bC\d{7}\b", README))
    assert ids, "the README names no example customer"
    features = build_snapshots(simulate(SimulationConfig(customers=customers, months=months, seed=42))).features
    active = set(features.loc[features[PARTITION] == features[PARTITION].max(), "customer_id"])
    assert ids <= active, sorted(ids - active)
