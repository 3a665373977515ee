"""The SQLite backend: the embedded default (`sqlite:///path.db`) and `memory://`.

One `events` table holds the log; its rowid is the global position, so positions
are gap-free and in commit order (writers take SQLite's write lock with
`BEGIN IMMEDIATE`, one at a time). `(stream, version)` is unique: the second of
two writers racing for the same version fails on it and gets a
ConcurrencyConflictError. The file runs in WAL mode so readers never block
the writer, with `synchronous=FULL` by default: an acknowledged append survives
power loss (`?synchronous=normal` trades that for speed).

The same class is eventsourcing's ProcessRecorder (AggregateRecorder,
ApplicationRecorder and TrackingRecorder), so eventsourcing applications and
eventsourcing's own recorder test cases run on it unchanged.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
)

from eventstate.backends.base import (
    NO_READS,
    LeaseState,
    NewRow,
    Row,
    StoreMeta,
    WriteGuard,
    check_unchanged,
)
from eventstate.errors import (
    ConcurrencyConflictError,
    EventStateError,
    FencingError,
    LeaseHeldError,
    StoreClosedError,
    StoreURLError,
    StreamVersionGapError,
)
from eventstate.faults import checkpoint
from eventstate.gating import APPEND_GUARD
from eventstate.hashing import GENESIS, chain
from eventstate.timeutil import format_us, now_us

# Rows per query of a read of the log. A page's rows should stay in the CPU's cache
# while they are decoded: 1,000 rows read a 1M-event log ~20% faster than 10,000, and a
# query per 1,000 rows costs nothing next to that.
_LOG_PAGE = 1_000
# Full rows (with the hash) per read of `verify`'s passes.
_PAGE = 20_000
# base.stream_partition in SQL, before the `% parts` (projections' rebuild partitions
# use it too): the code point of the character after the stream's first colon (0 when
# there is none). A substring to the end is a little cheaper than one of length 1, and
# this runs once per row of the log per partition.
PARTITION_SQL = "IFNULL(unicode(substr(stream, instr(stream, ':') + 1)), 0)"
_STREAM_VERSION_INDEX = "events_stream_version"
_CREATE_STREAM_VERSION_INDEX = (
    f"CREATE UNIQUE INDEX IF NOT EXISTS {_STREAM_VERSION_INDEX} ON events (stream, version)"
)

SCHEMA_STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS events (
        position INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        version INTEGER NOT NULL,
        type TEXT NOT NULL,
        schema INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        state BLOB NOT NULL,
        hash BLOB NOT NULL)""",
    _CREATE_STREAM_VERSION_INDEX,
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS lease (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        holder TEXT NOT NULL,
        token INTEGER NOT NULL,
        acquired_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tracking (
        application_name TEXT PRIMARY KEY,
        notification_id INTEGER NOT NULL) WITHOUT ROWID""",
)

_INSERT = (
    "INSERT INTO events (stream, version, type, schema, recorded_at, state, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SORT_THREADS = 2
LOG_COLUMNS = "position, stream, version, type, schema, recorded_at, state"
_META_KEYS = ("release", "status", "upgrade_id", "upgrade_holder", "upgrade_since", "head_hash")


def _refuse_foreign(conn: sqlite3.Connection, path: str) -> None:
    """Refuse another application's database: a store always has its `meta` table, so
    tables without it are someone else's (an empty database becomes a new store)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "meta" not in tables:
        conn.close()
        others = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreURLError(f"{path} is not an eventstate store (it holds tables {others})")


class SQLiteBackend(ProcessRecorder):
    """An eventstate backend and an eventsourcing ProcessRecorder on one SQLite database."""

    def __init__(
        self,
        path: str,
        *,
        initial_release: str,
        synchronous: str = "FULL",
        timeout_s: float = 30.0,
        url: str = "",
    ) -> None:
        self.path = path
        self.in_memory = path == ":memory:"
        self.url = url or ("memory://" if self.in_memory else f"sqlite:///{path}")
        self._lock = threading.RLock()
        self._head_hash = GENESIS  # the hash chain's end, read in each write transaction
        self._conn = self._connect(path, synchronous, timeout_s)
        self._create_schema(initial_release)

    # --- connection ----------------------------------------------------------

    def _connect(self, path: str, synchronous: str, timeout_s: float) -> sqlite3.Connection:
        if not self.in_memory:
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise StoreURLError(f"store folder {directory} does not exist")
            if not os.path.exists(path):
                # Created 0600 before SQLite opens it: the log holds credentials.
                # SQLite gives the -wal and -shm files the same mode.
                try:
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
                except OSError as exc:
                    raise StoreURLError(
                        f"cannot create store file {path}: {exc.strerror}"
                    ) from None
        try:
            conn = sqlite3.connect(
                path, timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
            _refuse_foreign(conn, path)  # before WAL mode: that pragma changes the file
            if not self.in_memory:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        except sqlite3.DatabaseError as exc:
            raise StoreURLError(f"cannot open store {path}: {exc}") from None
        return conn

    def _create_schema(self, initial_release: str) -> None:
        if self._has_schema():
            return  # opening an existing store writes nothing (a read-only file still reads)
        try:
            with self._write() as c:
                for statement in SCHEMA_STATEMENTS:
                    c.execute(statement)
                c.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('release', ?), "
                    "('status', 'available'), ('created_at', ?)",
                    (initial_release, format_us(now_us())),
                )
        except sqlite3.DatabaseError as exc:
            raise StoreURLError(f"{self.path} is not an eventstate store: {exc}") from None

    def _has_schema(self) -> bool:
        try:
            with self._lock:
                tables = {
                    row[0]
                    for row in self._conn.execute(
                        "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')"
                    )
                }
                wanted = {"events", "meta", "lease", "tracking", _STREAM_VERSION_INDEX}
                if not wanted <= tables:
                    return False
                return (
                    self._conn.execute("SELECT 1 FROM meta WHERE key = 'release'").fetchone()
                    is not None
                )
        except sqlite3.DatabaseError:
            return False  # not a store (yet): _create_schema says why

    def _cursor(self) -> sqlite3.Cursor:
        try:
            return self._conn.cursor()
        except sqlite3.ProgrammingError:  # the connection is closed
            raise StoreClosedError(f"store {self.path} is closed") from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction holding SQLite's write lock from its first statement."""
        with self._lock:
            c = self._cursor()
            try:
                c.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _translate(exc, self.path) from None
            try:
                yield c
                checkpoint("sqlite:before-commit")
                c.execute("COMMIT")
                checkpoint("sqlite:after-commit")
            except BaseException as exc:
                # A failed COMMIT may already have rolled back; ROLLBACK must not mask it.
                if self._conn.in_transaction:
                    self._conn.rollback()
                if isinstance(exc, sqlite3.IntegrityError):
                    raise IntegrityError(str(exc)) from exc
                if isinstance(exc, sqlite3.DatabaseError):
                    raise _translate(exc, self.path) from None
                raise
            finally:
                c.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            c = self._cursor()
            try:
                yield c
            except sqlite3.DatabaseError as exc:
                raise _translate(exc, self.path) from None
            finally:
                c.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def describe(self) -> dict[str, Any]:
        return {"backend": "sqlite", "path": self.path}

    # --- metadata ------------------------------------------------------------

    def _meta(self, c: sqlite3.Cursor) -> StoreMeta:
        values = dict(c.execute("SELECT key, value FROM meta").fetchall())
        extra = {k: str(v) for k, v in values.items() if k not in _META_KEYS}
        return StoreMeta(
            release=str(values.get("release", "")),
            status=str(values.get("status", "available")),
            upgrade_id=str(values.get("upgrade_id", "")),
            upgrade_holder=str(values.get("upgrade_holder", "")),
            upgrade_since=str(values.get("upgrade_since", "")),
            head_hash=bytes(values.get("head_hash", b"")),
            extra=extra,
        )

    @staticmethod
    def _save_meta(c: sqlite3.Cursor, meta: StoreMeta) -> None:
        values: dict[str, Any] = {
            "release": meta.release,
            "status": meta.status,
            "upgrade_id": meta.upgrade_id,
            "upgrade_holder": meta.upgrade_holder,
            "upgrade_since": meta.upgrade_since,
            **meta.extra,
        }
        c.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )

    def read_meta(self) -> StoreMeta:
        with self._read() as c:
            return self._meta(c)

    def write_meta(self, guard: WriteGuard) -> StoreMeta:
        with self._write() as c:
            meta = self._meta(c)
            new = guard.check(meta, self._lease(c), self._head(c))
            if new is not None:
                self._save_meta(c, new)
                return new
            return meta

    # --- appending -------------------------------------------------------------

    def append(
        self, rows: Sequence[NewRow], guard: WriteGuard, unchanged: Mapping[str, int] = NO_READS
    ) -> list[int]:
        with self._write() as c:
            first = self._guarded_head(c, guard, rows)
            if unchanged:  # writers are serialised (BEGIN IMMEDIATE): this read is current
                check_unchanged(unchanged, self._heads(c, list(unchanged)))
            self._insert(c, rows)
            return list(range(first + 1, first + 1 + len(rows)))

    def append_stream_of_batches(
        self,
        batches: Iterable[Sequence[NewRow]],
        guard: WriteGuard,
        *,
        trusted_versions: bool = False,
    ) -> int:
        batches = iter(batches)
        with self._write() as c:
            first = next(batches, None)
            head = self._guarded_head(c, guard, first or ())
            if first is None:
                return 0
            # The caller checked contiguity from version 1; with the log empty
            # inside this transaction, that check is complete.
            if trusted_versions and head == 0:
                return self._insert_trusted(c, itertools.chain([first], batches))
            self._insert(c, first)
            total = len(first)
            for rows in batches:
                self._check_versions(c, rows)
                self._insert(c, rows)
                total += len(rows)
        return total

    def _insert_trusted(self, c: sqlite3.Cursor, batches: Iterable[Sequence[NewRow]]) -> int:
        # Nothing reads the (stream, version) index until the commit: build it once
        # at the end, by sorting, instead of one random B-tree insert per row. DDL is
        # transactional, so a failure anywhere rolls the DROP back with the rows.
        c.execute(f"DROP INDEX {_STREAM_VERSION_INDEX}")
        total = 0
        for rows in batches:
            self._insert_rows(c, rows)
            total += len(rows)
        # The sort behind CREATE INDEX may use helper threads: nothing else runs now.
        threads = c.execute("PRAGMA threads").fetchone()[0]
        c.execute(f"PRAGMA threads = {_SORT_THREADS}")
        try:
            c.execute(_CREATE_STREAM_VERSION_INDEX)  # UNIQUE: a duplicate still fails here
        finally:
            c.execute(f"PRAGMA threads = {int(threads)}")
        self._save_head_hash(c)
        return total

    def _guarded_head(self, c: sqlite3.Cursor, guard: WriteGuard, rows: Sequence[NewRow]) -> int:
        meta = self._meta(c)
        head = self._head(c)
        new_meta = guard.check(meta, self._lease(c), head)
        if new_meta is not None:
            self._save_meta(c, new_meta)
        self._check_versions(c, rows)
        self._head_hash = meta.head_hash or GENESIS
        return head

    def _check_versions(self, c: sqlite3.Cursor, rows: Sequence[NewRow]) -> None:
        """Each stream's first new version must follow its last stored one."""
        firsts: dict[str, int] = {}
        lasts: dict[str, int] = {}
        for stream, version, *_ in rows:
            if stream not in firsts:
                firsts[stream] = version
            elif version != lasts[stream] + 1:
                raise StreamVersionGapError(
                    f"{stream}: version {version} does not follow {lasts[stream]} in the batch"
                )
            lasts[stream] = version
        if not firsts:
            return
        heads = self._heads(c, list(firsts))
        for stream, first in firsts.items():
            head = heads.get(stream, 0)
            if first <= head:
                raise ConcurrencyConflictError(stream, first, f"stream is at version {head}")
            if first != head + 1:
                raise StreamVersionGapError(
                    f"{stream}: version {first} would leave a gap after version {head}"
                )

    def _insert(self, c: sqlite3.Cursor, rows: Sequence[NewRow]) -> None:
        try:
            self._insert_rows(c, rows)
        except sqlite3.IntegrityError as exc:
            # Only reachable when a row appeared between the version check and
            # the insert, which the write lock rules out; kept as a backstop.
            stream, version = rows[0][0], rows[0][1]
            raise ConcurrencyConflictError(stream, version, str(exc)) from None
        self._save_head_hash(c)

    def _insert_rows(self, c: sqlite3.Cursor, rows: Sequence[NewRow]) -> None:
        """Insert rows after the chain's end, extending the hash chain (in memory)."""
        if not rows:
            return
        # bytearray, not bytes: CPython's sqlite3 binds a bytearray as it is but looks
        # for an adapter for every bytes object, which costs more than the insert.
        chained = chain(self._head_hash, rows, bytearray)
        c.executemany(_INSERT, chained)
        self._head_hash = bytes(chained[-1][-1])

    def _save_head_hash(self, c: sqlite3.Cursor) -> None:
        c.execute(
            "INSERT INTO meta (key, value) VALUES ('head_hash', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (self._head_hash,),
        )

    # --- reading -----------------------------------------------------------------

    @staticmethod
    def _head(c: sqlite3.Cursor) -> int:
        row = c.execute("SELECT MAX(position) FROM events").fetchone()
        return int(row[0] or 0)

    @staticmethod
    def _heads(c: sqlite3.Cursor, streams: list[str]) -> dict[str, int]:
        heads: dict[str, int] = {}
        for i in range(0, len(streams), 500):
            chunk = streams[i : i + 500]
            marks = ",".join("?" * len(chunk))
            heads.update(
                c.execute(
                    f"SELECT stream, MAX(version) FROM events WHERE stream IN ({marks}) "
                    "GROUP BY stream",
                    chunk,
                ).fetchall()
            )
        return heads

    def head(self) -> int:
        with self._read() as c:
            return self._head(c)

    def count(self) -> int:
        with self._read() as c:
            return int(c.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def stream_heads(self, streams: Iterable[str]) -> dict[str, int]:
        with self._read() as c:
            return self._heads(c, list(streams))

    def read_stream(self, stream: str, gt: int = 0, lte: int | None = None) -> list[Row]:
        with self._read() as c:
            if lte is None:
                return c.execute(
                    f"SELECT {LOG_COLUMNS} FROM events WHERE stream = ? AND version > ? "
                    "ORDER BY version",
                    (stream, gt),
                ).fetchall()
            return c.execute(
                f"SELECT {LOG_COLUMNS} FROM events WHERE stream = ? AND version > ? "
                "AND version <= ? ORDER BY version",
                (stream, gt, lte),
            ).fetchall()

    def iter_log(
        self,
        after: int = 0,
        upto: int | None = None,
        types: Sequence[str] = (),
        page: int = _LOG_PAGE,
    ) -> Iterator[Row]:
        where = "position > ?"
        tail: list[Any] = []
        if upto is not None:
            where += " AND position <= ?"
            tail.append(upto)
        if types:
            where += f" AND type IN ({','.join('?' * len(types))})"
            tail.extend(types)
        return self.paged(f"SELECT {LOG_COLUMNS} FROM events WHERE {where}", after, tail, page)

    def iter_streams_prefix(self, prefix: str, after: int = 0) -> Iterator[Row]:
        # Range scan on the (stream, version) index: every stream id that starts with prefix.
        high = prefix + "\U0010ffff"
        with self._read() as c:
            rows: list[Row] = c.execute(
                f"SELECT {LOG_COLUMNS} FROM events WHERE stream >= ? AND stream < ? "
                "AND position > ? ORDER BY position",
                (prefix, high, after),
            ).fetchall()
        yield from rows

    def list_streams(self, prefix: str) -> list[str]:
        with self._read() as c:
            rows = c.execute(
                "SELECT stream FROM events WHERE stream >= ? AND stream < ? AND version = 1 "
                "ORDER BY stream",
                (prefix, prefix + "\U0010ffff"),
            ).fetchall()
        return [r[0] for r in rows]

    def iter_hashes(self, after: int = 0) -> Iterator[tuple[int, bytes]]:
        return self.paged("SELECT position, hash FROM events WHERE position > ?", after, (), 50_000)

    def iter_full_rows(self, after: int = 0) -> Iterator[tuple[Any, ...]]:
        """Every column including the hash, for `verify` (raw, no conversion)."""
        statement = f"SELECT {LOG_COLUMNS}, hash FROM events WHERE position > ?"
        return self.paged(statement, after, (), _PAGE)

    def iter_full_rows_share(
        self, after: int, upto: int, span: tuple[int, int], part: int, parts: int
    ) -> Iterator[tuple[Any, ...]]:
        """Filtered inside SQLite: a row of another share costs no Python object."""
        where = "position > ? AND position <= ?"
        params: tuple[int, ...] = (upto,)
        if parts > 1:
            where += f" AND (position BETWEEN ? AND ? OR {PARTITION_SQL} % ? = ?)"
            params = (upto, *span, parts, part)
        return self.paged(
            f"SELECT {LOG_COLUMNS}, hash FROM events WHERE {where}", after, params, _PAGE
        )

    def paged(
        self, select: str, after: int, params: Sequence[Any] = (), page: int = _LOG_PAGE
    ) -> Iterator[Any]:
        """The rows of `select` in position order after `after`, a query per `page` rows
        (keyset paging). `select` selects position first and its WHERE starts with
        `position > ?`; `params` are its other parameters. Pages are chained in C: a row
        costs no Python frame on its way to the caller (the read paths' hot loop)."""
        return itertools.chain.from_iterable(self._pages(select, after, params, page))

    def _pages(
        self, select: str, after: int, params: Sequence[Any], page: int
    ) -> Iterator[list[Any]]:
        statement = f"{select} ORDER BY position LIMIT ?"
        while True:
            with self._read() as c:
                rows = c.execute(statement, (after, *params, page)).fetchall()
            yield rows
            if len(rows) < page:
                return
            after = rows[-1][0]

    def hash_before(self, position: int) -> tuple[int, bytes] | None:
        with self._read() as c:
            row = c.execute(
                "SELECT position, hash FROM events WHERE position < ? "
                "ORDER BY position DESC LIMIT 1",
                (position,),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    # --- the upgrade lease ---------------------------------------------------------

    @staticmethod
    def _lease(c: sqlite3.Cursor) -> LeaseState | None:
        row = c.execute(
            "SELECT holder, token, acquired_at, expires_at FROM lease WHERE id = 1"
        ).fetchone()
        if row is None:
            return None
        return LeaseState(holder=row[0], token=row[1], acquired_at_us=row[2], expires_at_us=row[3])

    def read_lease(self) -> LeaseState | None:
        with self._read() as c:
            return self._lease(c)

    def acquire_lease(self, holder: str, ttl_s: float, now_us: int) -> LeaseState:
        with self._write() as c:
            current = self._lease(c)
            if current is not None and current.holder and current.expires_at_us > now_us:
                raise LeaseHeldError(
                    current.holder,
                    format_us(current.acquired_at_us),
                    format_us(current.expires_at_us),
                )
            token = (current.token if current else 0) + 1
            lease = LeaseState(holder, token, now_us, now_us + int(ttl_s * 1_000_000))
            c.execute(
                "INSERT INTO lease (id, holder, token, acquired_at, expires_at) "
                "VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, "
                "token = excluded.token, acquired_at = excluded.acquired_at, "
                "expires_at = excluded.expires_at",
                (lease.holder, lease.token, lease.acquired_at_us, lease.expires_at_us),
            )
            return lease

    def renew_lease(self, token: int, ttl_s: float, now_us: int) -> LeaseState:
        with self._write() as c:
            current = self._lease(c)
            if current is None or current.token != token or not current.holder:
                raise FencingError(f"upgrade lease {token} was lost: another grant superseded it")
            lease = LeaseState(
                current.holder, token, current.acquired_at_us, now_us + int(ttl_s * 1_000_000)
            )
            c.execute("UPDATE lease SET expires_at = ? WHERE id = 1", (lease.expires_at_us,))
            return lease

    def release_lease(self, token: int) -> None:
        with self._write() as c:
            c.execute(
                "UPDATE lease SET holder = '', expires_at = 0 WHERE id = 1 AND token = ?", (token,)
            )

    # --- eventsourcing's recorder interface ----------------------------------------

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        """eventsourcing's insert: topic is stored as the type name, schema 1, time now.

        A clash on (stream, version) raises eventsourcing's IntegrityError, which is
        what eventsourcing applications and its test cases expect.
        """
        recorded_at = now_us()
        rows: list[NewRow] = [
            (_stream_id(s.originator_id), s.originator_version, s.topic, 1, recorded_at, s.state)
            for s in stored_events
        ]
        tracking: Tracking | None = kwargs.get("tracking")
        with self._write() as c:
            first = self._guarded_head_unchecked_versions(c, rows)
            self._insert(c, rows)
            if tracking is not None:
                self._insert_tracking(c, tracking)
        return list(range(first + 1, first + 1 + len(rows)))

    def _guarded_head_unchecked_versions(self, c: sqlite3.Cursor, rows: Sequence[NewRow]) -> int:
        # eventsourcing allows any starting version (its tests start streams at 1
        # but snapshots and some apps do not); only uniqueness is enforced.
        meta = self._meta(c)
        APPEND_GUARD.check(meta, None, 0)
        heads = self._heads(c, list({r[0] for r in rows}))
        for stream, version, *_ in rows:
            if version <= heads.get(stream, 0) and self._exists(c, stream, version):
                raise ConcurrencyConflictError(stream, version)
        self._head_hash = meta.head_hash or GENESIS
        return self._head(c)

    @staticmethod
    def _exists(c: sqlite3.Cursor, stream: str, version: int) -> bool:
        return (
            c.execute(
                "SELECT 1 FROM events WHERE stream = ? AND version = ?", (stream, version)
            ).fetchone()
            is not None
        )

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        statement = "SELECT stream, version, type, state FROM events WHERE stream = ?"
        params: list[Any] = [_stream_id(originator_id)]
        if gt is not None:
            statement += " AND version > ?"
            params.append(gt)
        if lte is not None:
            statement += " AND version <= ?"
            params.append(lte)
        statement += " ORDER BY version DESC" if desc else " ORDER BY version"
        if limit is not None:
            statement += " LIMIT ?"
            params.append(limit)
        with self._read() as c:
            rows = c.execute(statement, params).fetchall()
        return [
            StoredEvent(
                originator_id=_originator(originator_id, r[0]),
                originator_version=r[1],
                topic=r[2],
                state=r[3],
            )
            for r in rows
        ]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        statement = "SELECT position, stream, version, type, state FROM events WHERE 1 = 1"
        params: list[Any] = []
        if start is not None:
            statement += " AND position >= ?" if inclusive_of_start else " AND position > ?"
            params.append(start)
        if stop is not None:
            statement += " AND position <= ?"
            params.append(stop)
        if topics:
            statement += f" AND type IN ({','.join('?' * len(topics))})"
            params.extend(topics)
        statement += " ORDER BY position LIMIT ?"
        params.append(limit)
        with self._read() as c:
            rows = c.execute(statement, params).fetchall()
        return [
            Notification(
                id=r[0],
                originator_id=_parse_originator(r[1]),
                originator_version=r[2],
                topic=r[3],
                state=r[4],
            )
            for r in rows
        ]

    def max_notification_id(self) -> int | None:
        head = self.head()
        return head or None

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[Any]:
        raise NotImplementedError("the SQLite backend does not push; poll with iter_log")

    def insert_tracking(self, tracking: Tracking) -> None:
        with self._write() as c:
            self._insert_tracking(c, tracking)

    @staticmethod
    def _insert_tracking(c: sqlite3.Cursor, tracking: Tracking) -> None:
        row = c.execute(
            "INSERT INTO tracking (application_name, notification_id) VALUES (?, ?) "
            "ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = excluded.notification_id "
            "WHERE tracking.notification_id < excluded.notification_id RETURNING notification_id",
            (tracking.application_name, tracking.notification_id),
        ).fetchone()
        if row is None:
            raise IntegrityError(
                f"tracking {tracking.application_name} {tracking.notification_id} is not beyond "
                "the recorded position"
            )

    def max_tracking_id(self, application_name: str) -> int | None:
        with self._read() as c:
            row = c.execute(
                "SELECT notification_id FROM tracking WHERE application_name = ?",
                (application_name,),
            ).fetchone()
        return None if row is None else int(row[0])

    # Exposed for projection storage that must share this database's transactions.
    @contextmanager
    def write_transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._write() as c:
            yield c

    @contextmanager
    def read_cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._read() as c:
            yield c


def _stream_id(originator_id: UUID | str) -> str:
    return str(originator_id)


def _parse_originator(stream: str) -> UUID | str:
    # eventsourcing applications use UUID ids; eventstate's stream ids never parse as one.
    if len(stream) == 36:
        try:
            return UUID(stream)
        except ValueError:
            pass
    return stream


def _originator(asked: UUID | str, stored: str) -> UUID | str:
    return asked if isinstance(asked, UUID) else stored


def _translate(exc: sqlite3.DatabaseError, path: str) -> EventStateError:
    """SQLite's errors as one-line store errors naming the file."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return EventStateError(
            f"store {path} is busy (another process holds its write lock): {text}"
        )
    if "readonly" in text or "read-only" in text:
        return EventStateError(f"store {path} is read-only: nothing was written ({text})")
    if "full" in text:
        return EventStateError(f"store {path}: disk is full, nothing was written ({text})")
    if "malformed" in text or "not a database" in text:
        return EventStateError(f"store {path} is damaged: {text}")
    return EventStateError(f"store {path}: {text}")
