"""Bulk inserts for imports: SQLite inserts one batch while Python prepares the next.

CPython's sqlite3 lets go of the GIL only inside `sqlite3_step`. `executemany`
steps once per row and needs the GIL back between rows, so on a second thread it
would wait for the busy importing thread at every row. Here a batch is ONE
statement, `INSERT ... SELECT ... FROM json_each(?)`, and its single step inserts
the whole batch in C without the GIL: the importing thread parses, validates,
encodes and hashes batch k+1 on one core while SQLite inserts batch k on the other.

The caller owns the transaction: the writer thread only runs the inserts, and it
has stopped (joined) before `insert_batches` returns or raises, so the caller's
ROLLBACK or COMMIT never races it.
"""

from __future__ import annotations

import queue
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter

import orjson

from eventstate.backends.base import NewRow
from eventstate.hashing import chain_hashes

# ?1 is the batch's rows as JSON, each with the length of its state in place of
# the state; ?2 the states joined, ?3 the hashes joined. A row's state starts
# after the states of the rows before it: the running sum of their lengths.
_INSERT_JSON = (
    "INSERT INTO events (stream, version, type, schema, recorded_at, state, hash) "
    "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, "
    "substr(?2, sum(value ->> 5) OVER before - (value ->> 5) + 1, value ->> 5), "
    "substr(?3, key * 32 + 1, 32) "
    "FROM json_each(?1) WINDOW before AS (ORDER BY key ROWS UNBOUNDED PRECEDING) "
    "ORDER BY key"
)
INSERT_ROWS = (
    "INSERT INTO events (stream, version, type, schema, recorded_at, state, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# Batches prepared ahead of the writer: one being inserted, one or two waiting.
_AHEAD = 2
_HANDOVER_S = 0.0005
_NUL = b"\\u0000"
_STATE = itemgetter(5)

# One batch for the writer: (JSON rows, joined states, joined hashes), or the rows
# themselves when JSON cannot carry them faithfully (see `_prepare`).
_Batch = tuple[bytes, bytes, bytes] | list[tuple[str, int, str, int, int, bytes, bytes]]


def insert_batches(
    connection: sqlite3.Connection, batches: Iterable[Sequence[NewRow]], previous: bytes
) -> tuple[int, bytes]:
    """Insert every row of `batches` after the hash `previous`, on a writer thread.

    Returns (rows inserted, hash of the last row). Any error, raised by `batches`
    (a bad line) or by SQLite on the writer thread, stops the writer and is raised
    here, so the caller rolls back a transaction nobody else is using.
    """
    writer = _Writer(connection)
    total = 0
    with _prompt_handover():
        writer.start()
        try:
            for rows in batches:
                if not rows:
                    continue
                batch, previous = _prepare(rows, previous)
                writer.put(batch)
                total += len(rows)
            writer.finish()
        finally:
            writer.stop()
    return total, previous


@contextmanager
def _prompt_handover() -> Iterator[None]:
    """Hand the GIL to a waiting thread within 0.5 ms instead of CPython's 5 ms.

    The writer needs the GIL for a moment after each batch; the importing thread
    never blocks, so with the default interval the writer would sit idle for up to
    5 ms per batch, as long as it takes to insert one.
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, _HANDOVER_S))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def _prepare(rows: Sequence[NewRow], previous: bytes) -> tuple[_Batch, bytes]:
    hashes = chain_hashes(previous, rows)
    try:
        # Strict integers: SQLite's JSON reads every one orjson writes back exactly.
        text = orjson.dumps(rows, default=_state_size, option=orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError:
        text = _NUL
    if _NUL in text:
        # A text SQLite's JSON would cut or change (a NUL in a stream id, a huge or
        # odd value): bind the values as they are, row by row, like any insert.
        plain = [(*row, digest) for row, digest in zip(rows, hashes, strict=True)]
        return plain, hashes[-1]
    return (text, b"".join(map(_STATE, rows)), b"".join(hashes)), hashes[-1]


def _state_size(value: object) -> int:
    """orjson's fallback for the one column JSON has no type for: the state's length."""
    if type(value) is bytes:
        return len(value)
    raise TypeError(f"{type(value).__name__} is not a state")


class _Writer(threading.Thread):
    """Runs the inserts of queued batches, in order, on the caller's connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(name="eventstate-sqlite-bulk-insert", daemon=True)
        self._cursor = connection.cursor()
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=_AHEAD)
        self._error: BaseException | None = None
        self._stopping = False

    def run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self._error is not None or self._stopping:
                continue  # keep draining, so a blocked put() always returns
            try:
                if isinstance(batch, list):
                    self._cursor.executemany(INSERT_ROWS, batch)
                else:
                    self._cursor.execute(_INSERT_JSON, batch)
            except BaseException as exc:  # handed to the importing thread
                self._error = exc

    def put(self, batch: _Batch) -> None:
        self._raise_error()
        self._queue.put(batch)

    def finish(self) -> None:
        """Wait for every queued batch to be inserted; raise the writer's error."""
        self._queue.put(None)
        self.join()
        self._raise_error()

    def stop(self) -> None:
        """End the thread without inserting what is still queued (idempotent)."""
        if self.is_alive():
            self._stopping = True
            self._queue.put(None)
            self.join()
        self._cursor.close()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
