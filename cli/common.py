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
    rows: list[tuple[str, str]] = []
    lists: list[tuple[str, list[dict[str, Any]]]] = []
    _flatten("", result, rows, lists)
    console = output_console()
    table = Table(title=title, show_header=False)
    for key, value in rows:
        table.add_row(key, value)
    if rows:
        console.print(table)
    for key, items in lists:  # a list of records (models, months, folds) reads best as a table of its own
        flat = []
        for item in items:
            item_rows: list[tuple[str, str]] = []
            _flatten("", item, item_rows, [])
            flat.append(dict(item_rows))
        columns = list(dict.fromkeys(c for row in flat for c in row))
        sub = Table(title=f"{title}: {key}")
        for column in columns:
            sub.add_column(column)
        for row in flat:
            sub.add_row(*(row.get(c, "") for c in columns))
        console.print(sub)


def _cell(value: Any) -> str:
    """A value as a person reads it: 4 significant digits, — for nothing, lists of plain values comma-joined."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple) and not any(isinstance(v, dict | list | tuple) for v in value):
        return ", ".join(_cell(v) for v in value) or "—"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]], lists: list[tuple[str, list[Any]]]) -> None:
    """Nested results as ``a.b`` rows; lists of records set aside for tables of their own."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, rows, lists)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        lists.append((prefix, value))
        rows.append((prefix, f"{len(value)} (table below)"))
    else:
        rows.append((prefix, _cell(value)))


def output_console() -> Console:
    """stdout for tables: a terminal's own width, and no width limit when piped or logged (rich would cut to 80
    columns there, and the paths these tables exist to print would be truncated)."""
    return Console() if sys.stdout.isatty() else Console(width=100_000, soft_wrap=True)


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
    """``error: <message>`` on stderr as one line (rich would break it at 80 columns in a log or a pipe); the
    message is text, never read as rich markup (it may hold brackets)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)


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
    """Yield ``advance(done=None, desc=None, total=None)``; the bar draws on stderr.

    A step that learns its total only once it runs (training: folds × grid) passes ``total`` with its first
    update; from then on the bar shows ``done/total``.
    """
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total, count=f"0/{total:.0f}" if total else "")

        def advance(done: float | None = None, desc: str | None = None, total: float | None = None) -> None:
            if total is not None:
                bar.update(task, total=total)
            if done is not None:
                bar.update(task, completed=done)
            else:
                bar.advance(task)
            known = bar.tasks[task]
            if known.total:
                bar.update(task, count=f"{known.completed:.0f}/{known.total:.0f}")
            if desc is not None:
                bar.update(task, description=f"{description}: {desc}")

        yield advance
        if bar.tasks[task].total:
            bar.update(
                task, completed=bar.tasks[task].total, count=f"{bar.tasks[task].total:.0f}/{bar.tasks[task].total:.0f}"
            )
