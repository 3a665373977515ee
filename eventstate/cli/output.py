"""Output for people (rich tables, progress bars on stderr) and tools (JSON)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

# Piped output is not squeezed into 80 columns: tables stay one row per record.
stdout = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True)


def emit_json(value: Any) -> None:
    sys.stdout.write(
        orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    )
    sys.stdout.write("\n")


def emit_jsonl(values: Iterable[Any]) -> None:
    write = sys.stdout.buffer.write
    for value in values:
        write(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
        write(b"\n")
    sys.stdout.flush()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    grid = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    stdout.print(grid)


def info(message: str) -> None:
    """A line for people, on stderr so that stdout stays data."""
    click.echo(message, err=True)


@contextmanager
def progress_bar(description: str, total: int | None, *, unit: str = "") -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal; silent otherwise.

    Yields a function `advance(completed)` taking the absolute amount done.
    """
    if not sys.stderr.isatty() or total == 0:
        yield lambda completed: None
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=stderr, transient=False) as bar:
        task = bar.add_task(description + (f" ({unit})" if unit else ""), total=total)
        yield lambda completed: bar.update(task, completed=completed)
