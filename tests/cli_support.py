"""Running the CLI in tests: in process (click's runner) or as the console script in a
process of its own, with no EVENTSTATE_* setting of the caller's leaking in."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from click.testing import CliRunner

from eventstate.cli.main import cli


def run(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `eventstate ARGS`, in this process."""
    result = CliRunner().invoke(cli, list(args), prog_name="eventstate")
    return result.exit_code, result.stdout, result.stderr


def console(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    entry: Sequence[str] = ("-m", "eventstate.cli"),
    **options: Any,
) -> subprocess.CompletedProcess[str]:
    """`python -m eventstate.cli ARGS` as a process of its own (signals, pipes, what the
    console prints before click runs); `entry` replaces `-m eventstate.cli` (a `-c`
    script that wraps it); `options` go to subprocess.run (cwd, input...)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EVENTSTATE_")}
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **options}
    return subprocess.run(
        [sys.executable, *entry, *args],
        text=True,
        env={**clean, **(env or {})},
        timeout=timeout,
        check=False,
        **options,
    )


def one_line(err: str) -> str:
    """The single `error: ...` line stderr must be."""
    assert err.startswith("error: ") and err.count("\n") == 1 and err.endswith("\n"), err
    return err.rstrip("\n")


def stored_events(url: str) -> int:
    """How many events the SQLite store at `url` holds, read with sqlite3 itself."""
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        count: int = db.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        db.close()
    return count
