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
from rich.text import Text

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


def _fault(err: BaseException) -> str | None:
    """One line for a fault of the machine or of a data file (a full disk, a truncated Parquet), else None."""
    if isinstance(err, OSError):
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        return f"{err.strerror or err}{where} — check the disk and the file, then run the command again"
    if type(err).__module__.startswith("pyarrow"):  # pyarrow's ArrowInvalid & co, without importing pyarrow here
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"a data file is unreadable ({type(err).__name__}: {first}) — rebuild it (`churn build`) or restore it"
    return None


def _say_error(message: str) -> None:
    """``error: <message>`` on stderr; the message is text, never read as rich markup (it may hold brackets)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Bad input, a full disk or a damaged file ends in one readable line and exit code 2, never a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except InputError as err:
            _say_error(str(err))
            raise typer.Exit(code=2) from None
        except (OSError, ValueError) as err:
            message = _fault(err)
            if message is None:
                raise
            _say_error(message)
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
