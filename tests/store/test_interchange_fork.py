"""Large imports into an empty store parse the file in a forked child process
(eventstate/interchange_fork.py). Forking must change nothing but the speed: the
same rows, the same first error with its line, all or nothing, and no child left
behind whatever happens on either side."""

from __future__ import annotations

import io
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventstate import interchange, interchange_fork
from eventstate.api import open_store
from eventstate.backends.base import NewRow
from eventstate.errors import EventStateError, InterchangeError
from eventstate.interchange import export_jsonl, import_jsonl
from eventstate.samples.builder import build_legacy_log, write_jsonl
from eventstate.store import EventStore

pytestmark = pytest.mark.skipif(not interchange_fork.can_fork(), reason="needs fork()")

HEADER = {"format": "eventstate-jsonl", "format_version": 1, "release": "1.14"}


@pytest.fixture
def always_fork(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Fork for any file, and record each child's pid."""
    children: list[int] = []
    enter = interchange_fork.ForkedParse.__enter__

    def recording_enter(self: interchange_fork.ForkedParse) -> interchange_fork.ForkedParse:
        entered = enter(self)
        children.append(self._pid)
        return entered

    monkeypatch.setattr(interchange_fork, "MIN_FORK_BYTES", 0)
    monkeypatch.setattr(interchange_fork.ForkedParse, "__enter__", recording_enter)
    yield children
    for pid in children:  # every child was reaped: it is no longer ours to wait for
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "log.jsonl"
    write_jsonl(path, build_legacy_log(seed=5, events=6_000))
    return path


def _export(store: EventStore) -> bytes:
    out = io.BytesIO()
    export_jsonl(store, out)
    return out.getvalue()


def _import_in_process(tmp_path: Path, path: Path) -> tuple[interchange.ImportResult, bytes]:
    store = open_store(f"sqlite:///{tmp_path / 'in-process.db'}")
    try:
        return import_jsonl(store, path), _export(store)
    finally:
        store.close()


def test_a_forked_import_stores_what_an_in_process_import_stores(
    tmp_path: Path, store: EventStore, log: Path, always_fork: list[int]
) -> None:
    seen: list[int] = []
    result = import_jsonl(store, log, progress=seen.append)
    assert len(always_fork) == 1
    expected_result, expected_export = _import_in_process(tmp_path, log)
    assert result == expected_result
    assert _export(store) == expected_export
    assert seen == sorted(seen) and seen[-1] == log.stat().st_size


def test_small_files_and_non_empty_stores_are_parsed_in_process(
    tmp_path: Path, store: EventStore, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forks: list[object] = []
    monkeypatch.setattr(interchange_fork.ForkedParse, "__enter__", forks.append)
    import_jsonl(store, log)  # 6,000 events: below the threshold
    assert forks == []
    monkeypatch.setattr(interchange_fork, "MIN_FORK_BYTES", 0)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    more = [lines[0], {**lines[1], "version": 2}]  # the store is not empty: checks read it
    again = tmp_path / "more.jsonl"
    again.write_text("".join(json.dumps(line) + "\n" for line in more))
    with pytest.raises(InterchangeError):
        import_jsonl(store, again)
    assert forks == []


@pytest.mark.parametrize("bad_at", [2, 3_000, 6_001])
def test_the_first_bad_line_is_reported_as_in_process_and_nothing_is_written(
    tmp_path: Path, store: EventStore, log: Path, always_fork: list[int], bad_at: int
) -> None:
    lines = log.read_text().splitlines()
    lines[bad_at - 1] = re.sub(r'"version":(\d+)', r'"version":"\1"', lines[bad_at - 1], count=1)
    lines.insert(bad_at - 1 + 5, "not json")  # a later problem stays unreported
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InterchangeError, match="version must be an integer") as forked:
        import_jsonl(store, bad)
    assert len(always_fork) == 1
    in_process = open_store(f"sqlite:///{tmp_path / 'in-process.db'}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(interchange, "can_fork", lambda: False)
        with pytest.raises(InterchangeError) as expected:
            import_jsonl(in_process, bad)
    in_process.close()
    assert (forked.value.line, str(forked.value)) == (expected.value.line, str(expected.value))
    assert forked.value.line == bad_at
    assert store.head() == 0 and store.backend.count() == 0
    assert store.meta().release == "3.0"


def test_any_other_error_in_the_child_is_raised_by_the_importer(
    store: EventStore, log: Path, always_fork: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = interchange._batches

    def failing(*args: object) -> Iterator[list[NewRow]]:
        for count, batch in enumerate(real(*args)):  # type: ignore[arg-type]
            if count == 1:
                raise OSError(5, "Input/output error")
            yield batch

    monkeypatch.setattr(interchange, "_batches", failing)
    with pytest.raises(OSError, match="Input/output error"):
        import_jsonl(store, log)
    assert store.backend.count() == 0


def test_a_child_that_dies_fails_the_import_and_writes_nothing(
    store: EventStore, log: Path, always_fork: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = interchange._batches

    def dying(*args: object) -> Iterator[list[NewRow]]:
        for count, batch in enumerate(real(*args)):  # type: ignore[arg-type]
            if count == 1:
                os.kill(os.getpid(), signal.SIGKILL)  # runs in the child
            yield batch

    monkeypatch.setattr(interchange, "_batches", dying)
    with pytest.raises(EventStateError, match="parsing the file ended before it finished"):
        import_jsonl(store, log)
    assert store.backend.count() == 0
    assert store.head() == 0


def test_a_failure_in_the_importer_stops_and_reaps_the_child(
    store: EventStore, log: Path, always_fork: list[int]
) -> None:
    store.backend._conn.execute("PRAGMA max_page_count = 30")  # type: ignore[attr-defined]
    with pytest.raises(EventStateError, match="disk is full"):
        import_jsonl(store, log)
    assert store.backend.count() == 0
    assert len(always_fork) == 1  # and the fixture checks it was reaped


def test_when_no_child_can_be_forked_the_file_is_parsed_here(
    tmp_path: Path, store: EventStore, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(interchange_fork, "MIN_FORK_BYTES", 0)
    monkeypatch.setattr(interchange_fork.os, "fork", no_fork)
    seen: list[int] = []
    result = import_jsonl(store, log, progress=seen.append)
    monkeypatch.undo()
    expected_result, expected_export = _import_in_process(tmp_path, log)
    assert result == expected_result
    assert _export(store) == expected_export
    assert seen == sorted(seen) and seen[-1] == log.stat().st_size


class _Stubborn(Exception):
    def __init__(self, code: int, detail: str) -> None:  # pickles, does not unpickle
        super().__init__(f"{code}: {detail}")


def test_an_error_that_cannot_cross_the_pipe_arrives_as_its_text(
    store: EventStore, log: Path, always_fork: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = interchange._batches

    def failing(*args: object) -> Iterator[list[NewRow]]:
        yield from real(*args)  # type: ignore[arg-type]
        raise _Stubborn(7, "odd failure")

    monkeypatch.setattr(interchange, "_batches", failing)
    with pytest.raises(EventStateError, match="import failed while parsing: 7: odd failure"):
        import_jsonl(store, log)
    assert store.backend.count() == 0
