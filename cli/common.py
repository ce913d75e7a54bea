"""What every `churn` command shares: JSON output, readable errors, progress on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from churn.errors import InputError

err_console = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")

JSON_OPTION = typer.Option(False, "--json", help="Print the result as one JSON object on stdout.")


def emit(result: dict[str, Any], as_json: bool, title: str) -> None:
    """One JSON object on stdout for scripts; a table on stderr-free stdout for people."""
    if as_json:
        sys.stdout.write(json.dumps(result, default=str, sort_keys=True) + "\n")
        return
    table = Table(title=title, show_header=False)
    for key, value in result.items():
        table.add_row(str(key), json.dumps(value, default=str) if isinstance(value, dict | list) else str(value))
    Console().print(table)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Bad input ends in one readable line and exit code 2, never a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except InputError as err:
            err_console.print(f"[bold red]error:[/] {err}")
            raise typer.Exit(code=2) from None

    return wrapper


@contextmanager
def progress_bar(description: str, total: float | None = None) -> Iterator[Callable[..., None]]:
    """Yield ``advance(done=None, description=None)``; the bar draws on stderr."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}" if total else ""),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(done: float | None = None, desc: str | None = None) -> None:
            if done is not None:
                bar.update(task, completed=done)
            else:
                bar.advance(task)
            if desc is not None:
                bar.update(task, description=f"{description}: {desc}")

        yield advance
        if total:
            bar.update(task, completed=total)
