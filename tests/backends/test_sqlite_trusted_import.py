"""Trusted imports on SQLite (`append_stream_of_batches(..., trusted_versions=True)`
into an empty store): no per-batch version checks, and the (stream, version) index
dropped and built again at the end. What they store must equal what the checked path
stores, and any failure must leave the store as it was, index included."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from eventstate.backends.base import NewRow
from eventstate.backends.sqlite import SQLiteBackend
from eventstate.errors import EventStateError
from eventstate.gating import ImportGuard
from eventstate.hashing import GENESIS, chain, event_hash

GUARD = ImportGuard("3.0")


def backend(path: Path) -> SQLiteBackend:
    return SQLiteBackend(str(path), initial_release="3.0")


def rows(count: int, streams: int = 7) -> list[NewRow]:
    """Interleaved streams, each counting 1, 2, 3 ...; states of varied sizes."""
    made: list[NewRow] = []
    for i in range(count):
        stream = f"machine:m:{i % streams}"
        state = bytes([i % 251]) * (i % 97) + b"\x80"  # includes NULs and high bytes
        made.append((stream, i // streams + 1, "MachineAddressesSet", 3, 1_000_000 + i, state))
    return made


def in_batches(all_rows: Sequence[NewRow], size: int) -> Iterator[list[NewRow]]:
    for start in range(0, len(all_rows), size):
        yield list(all_rows[start : start + size])


def stored(db: SQLiteBackend) -> tuple[list[tuple[Any, ...]], bytes]:
    return list(db.iter_full_rows()), db.read_meta().head_hash


def sort_threads(db: SQLiteBackend) -> int:
    return int(db._conn.execute("PRAGMA threads").fetchone()[0])


def has_index(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        conn.close()
    return "events_stream_version" in names


def checked_copy(tmp_path: Path, all_rows: Sequence[NewRow], size: int) -> tuple[Any, bytes]:
    """The same rows through the checked path (versions checked, index kept)."""
    db = backend(tmp_path / "checked.db")
    try:
        db.append_stream_of_batches(in_batches(all_rows, size), GUARD, trusted_versions=False)
        return stored(db)
    finally:
        db.close()


@pytest.mark.parametrize("size", [1, 10, 333, 5000])
def test_a_trusted_import_stores_what_the_checked_path_stores(tmp_path: Path, size: int) -> None:
    all_rows = rows(2_000)
    db = backend(tmp_path / "trusted.db")
    threads = sort_threads(db)
    total = db.append_stream_of_batches(in_batches(all_rows, size), GUARD, trusted_versions=True)
    assert total == 2_000
    got = stored(db)
    assert sort_threads(db) == threads  # helper threads sorted the index, then no more
    db.close()
    assert got == checked_copy(tmp_path, all_rows, size)
    assert [r[0] for r in got[0]] == list(range(1, 2_001))  # positions in file order
    assert got[1] == got[0][-1][-1]  # the head hash is the last row's
    assert has_index(tmp_path / "trusted.db")


def test_an_error_in_the_callers_batches_writes_nothing(
    tmp_path: Path,
) -> None:
    db = backend(tmp_path / "store.db")
    before = stored(db)

    def failing() -> Iterator[list[NewRow]]:
        yield from in_batches(rows(3_000), 500)
        raise RuntimeError("bad line 3002")

    with pytest.raises(RuntimeError, match="bad line 3002"):
        db.append_stream_of_batches(failing(), GUARD, trusted_versions=True)
    assert stored(db) == before
    assert db.count() == 0
    assert has_index(tmp_path / "store.db")  # the dropped index came back with the rollback
    assert db.append_stream_of_batches(in_batches(rows(10), 5), GUARD, trusted_versions=True) == 10
    db.close()


def test_a_database_error_part_way_rolls_everything_back(tmp_path: Path) -> None:
    db = backend(tmp_path / "store.db")
    before = stored(db)
    db._conn.execute("PRAGMA max_page_count = 40")  # a disk that fills up part way
    many = [(f"unit:u:{i}", 1, "UnitAssignedToMachine", 2, i, b"x" * 300) for i in range(5_000)]
    with pytest.raises(EventStateError, match="disk is full"):
        db.append_stream_of_batches(in_batches(many, 200), GUARD, trusted_versions=True)
    assert stored(db) == before
    assert db.count() == 0
    assert has_index(tmp_path / "store.db")
    db.close()


def test_a_repeated_version_the_caller_missed_still_fails_and_writes_nothing(
    tmp_path: Path,
) -> None:
    db = backend(tmp_path / "store.db")
    threads = sort_threads(db)
    twice = [*rows(20), rows(20)[5]]
    with pytest.raises(Exception, match="UNIQUE"):
        db.append_stream_of_batches(in_batches(twice, 6), GUARD, trusted_versions=True)
    assert db.count() == 0
    assert sort_threads(db) == threads
    assert has_index(tmp_path / "store.db")
    db.close()


def test_a_store_that_is_not_empty_is_checked_row_by_row(tmp_path: Path) -> None:
    db = backend(tmp_path / "store.db")
    db.append_stream_of_batches(in_batches(rows(7), 7), GUARD)
    again = rows(14)[7:]  # version 2 of each stream: follows what is stored
    assert db.append_stream_of_batches(in_batches(again, 3), GUARD, trusted_versions=True) == 7
    got = stored(db)
    db.close()
    assert got == checked_copy(tmp_path, rows(14), 7)


def test_chain_appends_event_hash_row_after_row() -> None:
    all_rows = rows(50)
    previous = GENESIS
    expected = []
    for row in all_rows:
        previous = event_hash(previous, *row)
        expected.append((*row, previous))
    assert chain(GENESIS, all_rows, bytes) == expected
    start = b"\x01" * 32
    first = (*all_rows[0], event_hash(start, *all_rows[0]))
    assert chain(start, all_rows[:1], bytes) == [first]
    as_arrays = chain(start, all_rows[:1], bytearray)
    assert as_arrays == [(*first[:5], bytearray(first[5]), bytearray(first[6]))]
    assert type(as_arrays[0][6]) is bytearray
