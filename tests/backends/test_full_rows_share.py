"""The reads one share of `verify` makes, on every backend: `iter_full_rows_share` returns
exactly the full rows `share_rows` picks (a span of positions, plus the streams of one
partition), in position order and across pages; `hash_before` finds the row before a
position, also across deleted ones."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from eventstate.backends import sqlite as sqlite_module
from eventstate.backends.base import NewRow, share_rows
from eventstate.backends.sqlite import SQLiteBackend
from eventstate.gating import APPEND_GUARD
from tests.backends.mongomock_adapter import TARGET_NAMES, make_target, open_backend

# Stream ids of every shape a partition must place: model, machine and unit streams of
# models whose uuids start with different characters, an upgrade stream, and malformed
# ids (no colon, nothing after it, a colon first, a character beyond ASCII).
STREAMS = [
    "model:0f1e",
    "machine:0f1e:0",
    "unit:0f1e:mysql/0",
    "model:a1b2",
    "machine:a1b2:1/lxd/0",
    "model:7c7c",
    "unit:7c7c:wordpress/1",
    "machine:e5e5:3",
    "upgrade:42",
    "nocolon",
    "empty:",
    ":leading",
    "machine:é-uuid:0",
    "",
]
EVENTS = 60


def appended(backend: Any) -> None:
    """EVENTS events, the streams interleaved, a few per append."""
    versions = dict.fromkeys(STREAMS, 0)
    rows: list[NewRow] = []
    for n, stream in zip(range(EVENTS), itertools.cycle(STREAMS[::-1][:9] + STREAMS[:8])):
        versions[stream] += 1
        rows.append((stream, versions[stream], "T", 1, 1_000_000 + n, f"{stream}/{n}".encode()))
    for start in range(0, len(rows), 7):
        backend.append(rows[start : start + 7], APPEND_GUARD)


@pytest.fixture(params=["sqlite", *TARGET_NAMES])
def backend(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "sqlite":
        made: Any = SQLiteBackend(":memory:", initial_release="3.0")
        appended(made)
        yield made
        made.close()
        return
    target = make_target(request.param)
    try:
        made = open_backend(target)
        appended(made)
        yield made
        made.close()
    finally:
        target.cleanup()


def test_a_share_reads_its_span_and_its_partition(backend: Any) -> None:
    full = list(backend.iter_full_rows())
    assert len(full) == EVENTS
    spans = [(1, EVENTS), (1, 0), (10, 25), (59, 60), (61, 60), (30, 30)]
    for parts, span, after, upto in itertools.product((1, 2, 3, 4), spans, (0, 17), (EVENTS, 44)):
        for part in range(parts):
            expected = list(share_rows((r for r in full if r[0] > after), upto, span, part, parts))
            got = [tuple(r) for r in backend.iter_full_rows_share(after, upto, span, part, parts)]
            assert got == expected, (parts, part, span, after, upto)
    # Every row is someone's: the partitions (with empty spans) cover the log once.
    for parts in (2, 3):
        parted = [backend.iter_full_rows_share(0, EVENTS, (1, 0), p, parts) for p in range(parts)]
        assert sorted(r[0] for rows in parted for r in rows) == list(range(1, EVENTS + 1))


def test_a_share_of_a_large_log_is_read_in_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = SQLiteBackend(":memory:", initial_release="3.0")
    appended(backend)
    monkeypatch.setattr(sqlite_module, "_PAGE", 4)
    full = list(backend.iter_full_rows())
    assert len(full) == EVENTS
    for part in range(3):
        expected = list(share_rows(iter(full), EVENTS, (20, 31), part, 3))
        assert list(backend.iter_full_rows_share(0, EVENTS, (20, 31), part, 3)) == expected
    backend.close()


def test_hash_before_is_the_previous_stored_row(backend: Any) -> None:
    hashes = dict(backend.iter_hashes())
    assert backend.hash_before(1) is None
    assert backend.hash_before(2) == (1, hashes[1])
    assert backend.hash_before(31) == (30, hashes[30])
    assert backend.hash_before(EVENTS + 5) == (EVENTS, hashes[EVENTS])


def test_hash_before_skips_deleted_rows(tmp_path: Any) -> None:
    import sqlite3

    path = tmp_path / "log.db"
    backend = SQLiteBackend(str(path), initial_release="3.0")
    appended(backend)
    hashes = dict(backend.iter_hashes())
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM events WHERE position BETWEEN 28 AND 30 OR position = 1")
    conn.close()
    assert backend.hash_before(31) == (27, hashes[27])
    assert backend.hash_before(2) is None
    backend.close()
