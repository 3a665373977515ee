"""Export and import through the CLI when things go wrong: a failed or interrupted export
keeps the earlier backup, unwritable output and damaged rows are one-line errors naming
them, import reads pipes, and an import interrupted after its commit says it imported."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from eventstate.api import open_store
from tests.cli_support import console, one_line, run, stored_events
from tests.golden import FIXTURES

LEGACY = FIXTURES / "legacy-1.14.jsonl"
LEGACY_EVENTS = 140  # event lines after the header
UNKNOWN_STREAM = "machine:11111111-1111-4111-8111-111111111111:0"


def _sql(url: str, statement: str) -> Any:
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        with db:
            return db.execute(statement).fetchall()
    finally:
        db.close()


def _stream_at(url: str, position: int) -> tuple[str, int]:
    stream, version = _sql(url, f"SELECT stream, version FROM events WHERE position = {position}")[
        0
    ]
    return stream, version


# --- export -o: all or nothing ---------------------------------------------------------------


def test_a_failed_export_leaves_the_earlier_backup_and_no_temporary_file(
    legacy_url: str, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    target = backups / "backup.jsonl"
    assert run("--store", legacy_url, "export", "-o", str(target))[0] == 0
    good = target.read_bytes()
    assert good.count(b"\n") == LEGACY_EVENTS + 1
    assert target.stat().st_mode & 0o777 == 0o600

    _sql(legacy_url, "UPDATE events SET state = x'c1' WHERE position = 50")
    stream, version = _stream_at(legacy_url, 50)
    code, out, err = run("--store", legacy_url, "export", "-o", str(target))
    assert code == 1 and out == ""
    assert one_line(err).startswith(f"error: {stream} version {version} (position 50): ")
    assert target.read_bytes() == good
    assert [p.name for p in backups.iterdir()] == ["backup.jsonl"]


def test_an_interrupted_export_leaves_the_earlier_backup(
    legacy_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventstate.cli.commands import store as commands

    target = tmp_path / "backup.jsonl"
    target.write_bytes(b"the earlier backup\n")
    real = commands.export_jsonl

    def interrupted(store: Any, out: Any, **options: Any) -> int:
        real(store, out, **options)  # everything written, then Ctrl-C before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "export_jsonl", interrupted)
    code, _, err = run("--store", legacy_url, "export", "-o", str(target))
    assert (code, err) == (130, "error: interrupted\n")
    assert target.read_bytes() == b"the earlier backup\n"
    assert [p.name for p in tmp_path.iterdir() if p.name != "store.db"] == ["backup.jsonl"]


def test_export_replaces_through_a_symlink_and_matches_stdout(
    legacy_url: str, tmp_path: Path
) -> None:
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    assert run("--store", legacy_url, "export", "-o", str(link))[0] == 0
    assert link.is_symlink()
    code, out, _ = run("--store", legacy_url, "export")
    assert code == 0 and real.read_text() == out


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_output_is_one_line_naming_it(legacy_url: str, tmp_path: Path) -> None:
    done = console("--store", legacy_url, "export", "-o", "/dev/full")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "error: cannot write /dev/full: No space left on device\n"
    with open("/dev/full", "w") as full:
        done = console("--store", legacy_url, "export", stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 1
    assert done.stderr == "error: cannot write standard output: No space left on device\n"


def test_an_unwritable_folder_is_one_line(legacy_url: str, tmp_path: Path) -> None:
    code, _, err = run("--store", legacy_url, "export", "-o", str(tmp_path / "no" / "x.jsonl"))
    assert code == 1
    assert (
        one_line(err)
        == f"error: cannot write {tmp_path / 'no' / 'x.jsonl'}: No such file or directory"
    )


# --- export --stream: as history checks it ---------------------------------------------------


@pytest.mark.parametrize("stream", ["garbage", "machine:", UNKNOWN_STREAM])
def test_export_of_a_bad_or_unknown_stream_is_an_error_like_history(
    legacy_url: str, tmp_path: Path, stream: str
) -> None:
    target = tmp_path / "one.jsonl"
    code, out, err = run("--store", legacy_url, "export", "--stream", stream, "-o", str(target))
    line = one_line(err)
    assert code == 1 and out == ""
    assert not target.exists()
    if stream == UNKNOWN_STREAM:
        assert line == f"error: stream {stream} has no events"
        assert run("--store", legacy_url, "history", stream)[2] == err
    else:
        assert line.startswith(f"error: malformed stream id {stream!r}")


def test_export_of_one_stream(legacy_url: str) -> None:
    stream, _ = _stream_at(legacy_url, 5)
    code, out, _ = run("--store", legacy_url, "export", "--stream", stream)
    lines = out.splitlines()
    assert code == 0 and len(lines) > 1
    assert all(f'"stream":"{stream}"' in line for line in lines[1:])


# --- damaged recorded_at ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"), [("-99999999999999999", "-99999999999999999"), ("'abc'", "'abc'")]
)
@pytest.mark.parametrize(
    "args",
    [["history"], ["history", "--json"], ["history", "--until", "2100-01-01"], ["export"]],
    ids=" ".join,
)
def test_a_damaged_recorded_at_names_the_event(
    legacy_url: str, args: list[str], value: str, shown: str
) -> None:
    _sql(legacy_url, f"UPDATE events SET recorded_at = {value} WHERE position = 5")
    stream, version = _stream_at(legacy_url, 5)
    code, _, err = run("--store", legacy_url, *args)
    assert code == 1
    assert one_line(err) == (
        f"error: {stream} version {version} (position 5): recorded_at {shown} is not a time "
        "in the years 1 to 9999"
    )


def test_a_damaged_recorded_at_leaves_no_export_file(legacy_url: str, tmp_path: Path) -> None:
    _sql(legacy_url, "UPDATE events SET recorded_at = 'abc' WHERE position = 5")
    code, _, err = run("--store", legacy_url, "export", "-o", str(tmp_path / "b.jsonl"))
    assert code == 1 and "(position 5): recorded_at 'abc'" in one_line(err)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("store.db")] == []


# --- import from a pipe ----------------------------------------------------------------------


def test_import_from_a_pipe(store_url: str) -> None:
    done = console("--store", store_url, "import", "/dev/stdin", input=LEGACY.read_text())
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"imported {LEGACY_EVENTS} events in ")
    assert stored_events(store_url) == LEGACY_EVENTS
    exported = run("--store", store_url, "export")[1].splitlines()
    assert [line.split(', "position"')[0] for line in exported][:1] == [
        LEGACY.read_text().splitlines()[0].replace(" ", "")
    ]


def test_a_bad_line_from_a_pipe_imports_nothing(store_url: str) -> None:
    lines = LEGACY.read_text().splitlines(keepends=True)
    broken = "".join([*lines[:100], "not json\n", *lines[100:]])
    done = console("--store", store_url, "import", "/dev/stdin", input=broken)
    assert done.returncode == 1
    assert one_line(done.stderr).startswith("error: /dev/stdin:101: not valid JSON")
    assert stored_events(store_url) == 0


# --- Ctrl-C around the import's commit -------------------------------------------------------

# Runs the CLI with a real SIGINT raised at one of the SQLite backend's crash points
# (eventstate/faults.py): `sqlite:before-commit` or `sqlite:after-commit`.
_SIGINT_AT = """
import signal, sys
from eventstate.backends import sqlite

point = sys.argv[1]

def checkpoint(name):
    if name == point:
        signal.raise_signal(signal.SIGINT)

sqlite.checkpoint = checkpoint
sys.argv = ["eventstate", *sys.argv[2:]]
from eventstate.cli.entry import main
main()
"""


def _import_interrupted_at(point: str, url: str, source: str, **options: Any) -> Any:
    open_store(url).close()  # the store exists: the import's is the first transaction
    entry = ("-c", _SIGINT_AT, point)
    return console("--store", url, "import", source, entry=entry, **options)


def test_ctrl_c_after_the_commit_reports_the_import(store_url: str) -> None:
    done = _import_interrupted_at("sqlite:after-commit", store_url, str(LEGACY))
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        f"imported {LEGACY_EVENTS} events from {LEGACY} (store release 1.14) into {store_url}; "
        "the interrupt came after the commit\n"
    )
    assert stored_events(store_url) == LEGACY_EVENTS


def test_ctrl_c_before_the_commit_reports_nothing_imported(store_url: str) -> None:
    done = _import_interrupted_at("sqlite:before-commit", store_url, str(LEGACY))
    assert done.returncode == 130
    assert done.stderr == "error: interrupted: nothing was imported (the store is as it was)\n"
    assert stored_events(store_url) == 0
    assert run("--store", store_url, "import", str(LEGACY))[0] == 0  # a retry just works


def test_ctrl_c_after_the_commit_of_a_pipe_says_what_it_knows(store_url: str) -> None:
    done = _import_interrupted_at(
        "sqlite:after-commit", store_url, "/dev/stdin", input=LEGACY.read_text()
    )
    assert done.returncode == 130
    assert one_line(done.stderr).startswith(
        f"error: interrupted: the store went from 0 to {LEGACY_EVENTS} events while /dev/stdin"
    )
    assert stored_events(store_url) == LEGACY_EVENTS
