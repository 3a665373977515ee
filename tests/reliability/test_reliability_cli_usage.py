"""Wrong CLI arguments give usage errors (issue 8, item 3): exit code 2, one "error:"
line naming the problem (and the --help to read), no traceback, and nothing run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CASES: list[tuple[list[str], str]] = [
    (["no-such-command"], "No such command 'no-such-command'"),
    (["--no-such-option", "status"], "No such option '--no-such-option'"),
    (["status", "--bogus"], "No such option '--bogus'"),
    (["import"], "Missing argument 'FILE'"),
    (["import", "a.jsonl", "b.jsonl"], "Got unexpected extra argument (b.jsonl)"),
    (["upgrade", "--to"], "Option '--to' requires an argument"),
    (["machines", "--model"], "Option '--model' requires an argument"),
    (["machine", "add"], "Missing argument 'MODEL'"),
    (["machine", "add", "M", "--container", "docker"], "'docker' is not one of"),
    (["machine", "add", "M", "--job", "JobNope"], "'JobNope' is not one of"),
    (["model", "create", "x"], "Missing option '--provider'"),
    (["model", "config", "M", "--set", "novalue"], "'novalue' is not KEY=VALUE"),
    (["projections", "frobnicate"], "No such command 'frobnicate'"),
    (["history", "--since"], "Option '--since' requires an argument"),
    (["--store"], "Option '--store' requires an argument"),
]


def _run(tmp_path: Path, args: list[str], store: str = "store.db") -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTSTATE_")}
    env["EVENTSTATE_STORE"] = f"sqlite:///{tmp_path / store}"
    return subprocess.Popen(
        [sys.executable, "-m", "eventstate.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


@pytest.mark.timeout(120)
def test_wrong_arguments_are_usage_errors(tmp_path: Path) -> None:
    # All at once: a dozen interpreters starting in turn would take most of a minute.
    running = [
        (args, expected, _run(tmp_path, args, f"store-{n}.db"))
        for n, (args, expected) in enumerate(CASES)
    ]
    failures = []
    for args, expected, proc in running:
        out, err = proc.communicate(timeout=100)
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        ok = (
            proc.returncode == 2
            and len(errors) == 1
            and len(err.splitlines()) == 1
            and expected in errors[0]
            and "Traceback" not in err
            and not out
        )
        if not ok:
            failures.append(f"{args}: exit {proc.returncode}, stderr {err!r}")
    assert not failures, "\n".join(failures)
    # A usage error runs nothing: no store is opened, so none is created.
    assert not list(tmp_path.glob("store-*.db"))


@pytest.mark.timeout(60)
def test_a_bad_key_value_option_creates_no_store(tmp_path: Path) -> None:
    """KEY=VALUE options are checked inside the command: before the store is opened
    (it was opened, and created, first when this test was written)."""
    proc = _run(tmp_path, ["model", "config", "M", "--set", "novalue"])
    assert proc.wait(timeout=50) == 2
    assert not (tmp_path / "store.db").exists()
