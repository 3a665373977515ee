"""Aggregate snapshots in the SQLite store's own database file (sqlite:/// and memory://).

One table beside the event log, created by the first snapshot written:
`aggregate_snapshots (stream, fingerprint) -> version, position, state`, WITHOUT ROWID
so a snapshot is one B-tree entry found by its key. Reads and writes go through the
backend's own connection (`read_cursor`, `write_transaction`), so a write takes the
store's write lock like an append and is one short transaction of its own.
"""

from __future__ import annotations

from eventstate.backends.sqlite import SQLiteBackend
from eventstate.snapshots.base import StoredSnapshot

TABLE = "aggregate_snapshots"
_CREATE = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    stream TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (stream, fingerprint)) WITHOUT ROWID"""
# Only a newer snapshot replaces the stored one (two writers may race).
_UPSERT = f"""INSERT INTO {TABLE} (stream, fingerprint, version, position, state)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (stream, fingerprint) DO UPDATE SET
        version = excluded.version, position = excluded.position, state = excluded.state
    WHERE excluded.version > {TABLE}.version"""
_SELECT = f"SELECT version, position, state FROM {TABLE} WHERE stream = ? AND fingerprint = ?"
_TABLE_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"


class SQLiteSnapshotStorage:
    def __init__(self, backend: SQLiteBackend) -> None:
        self.backend = backend
        # Until the table exists (no snapshot written yet, perhaps a read-only file) a
        # read asks the schema instead of failing on the missing table.
        self._table_exists = False

    def read(self, stream: str, fingerprint: str) -> StoredSnapshot | None:
        with self.backend.read_cursor() as c:
            if not self._table_exists:
                if c.execute(_TABLE_EXISTS, (TABLE,)).fetchone() is None:
                    return None
                self._table_exists = True
            row = c.execute(_SELECT, (stream, fingerprint)).fetchone()
        if row is None:
            return None
        return StoredSnapshot(int(row[0]), int(row[1]), bytes(row[2]))

    def write(self, stream: str, fingerprint: str, snapshot: StoredSnapshot) -> None:
        with self.backend.write_transaction() as c:
            if not self._table_exists:
                c.execute(_CREATE)
            c.execute(
                _UPSERT, (stream, fingerprint, snapshot.version, snapshot.position, snapshot.state)
            )
        self._table_exists = True
