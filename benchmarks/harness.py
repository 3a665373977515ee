"""Shared benchmark plumbing: alternating rounds and a ratio table.

These machines change speed by up to 2x from one second to the next, so a
figure alone means little: every benchmark times its subject and its baseline
in alternating rounds on the same data and reports the ratio of medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table


@dataclass
class Measure:
    name: str
    work: float  # units of work per run (events, commands)
    unit: str
    seconds: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.work / statistics.median(self.seconds)


def alternate(
    runs: Sequence[tuple[Measure, Callable[[], None]]],
    rounds: int,
    setup: Callable[[], None] | None = None,
) -> None:
    """Run each (measure, fn) once per round, in turn, timing fn alone."""
    for _ in range(rounds):
        for measure, fn in runs:
            if setup is not None:
                setup()
            start = time.perf_counter()
            fn()
            measure.seconds.append(time.perf_counter() - start)


@dataclass
class Comparison:
    title: str
    subject: Measure
    baseline: Measure
    target: float  # the ratio subject/baseline must reach (or, with at_most, stay under)
    at_most: bool = False

    @property
    def ratio(self) -> float:
        return self.subject.rate / self.baseline.rate

    @property
    def met(self) -> bool:
        return self.ratio <= self.target if self.at_most else self.ratio >= self.target


def report(title: str, comparisons: Sequence[Comparison], notes: Sequence[str] = ()) -> None:
    grid = Table(title=title, header_style="bold")
    for column in ("what", "eventstate", "baseline", "ratio", "target", "met"):
        grid.add_column(column)
    for c in comparisons:
        sign = "<=" if c.at_most else ">="
        grid.add_row(
            c.title,
            f"{c.subject.rate:,.0f} {c.subject.unit}/s ({c.subject.name})",
            f"{c.baseline.rate:,.0f} {c.baseline.unit}/s ({c.baseline.name})",
            f"{c.ratio:.2f}x",
            f"{sign} {c.target}x",
            "yes" if c.met else "NO",
        )
    console = Console(width=200)
    console.print(grid)
    for note in notes:
        console.print(note)
