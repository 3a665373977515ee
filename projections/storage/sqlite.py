"""Projection copies in the SQLite store's own database file.

Two tables beside the event log:

- `projection_copies`: one row per copy (id, fingerprint, store release, generation,
  state, position, owner, times). A partial unique index allows one `ready` copy per
  (fingerprint, store release): the pointer readers follow.
- `projection_documents`: (copy id, kind, key) -> the document as orjson bytes
  (encrypted when the store is: storage.codec). A rowid table with the key as a unique
  index: a machine document (~1 KB) then sits on its table page. In a WITHOUT ROWID
  table (an index B-tree, which keeps at most ~1,000 bytes of an entry on a 4 KB page)
  each one spilled into an overflow page of its own: a rebuild wrote and later deleted
  three times the pages. Stores made with that layout move to this one at their next
  build (`_upgrade_layout`); the columns and key are the same, so older code reads
  and writes either.

Every write goes through the backend's `write_transaction()`, i.e. `BEGIN IMMEDIATE` on
the store's connection: it holds the same write lock as appends, so a catch-up reads the
log and the copy's position, folds and saves in a state no other process can change
(exactly once, across processes), and a rebuild's switch sees the true log head.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from eventstate.backends.base import Row
from eventstate.backends.sqlite import LOG_COLUMNS, PARTITION_SQL, SQLiteBackend
from eventstate.streams import KINDS as STREAM_KINDS
from eventstate.timeutil import now_us
from projections.documents import Document
from projections.storage.base import (
    BUILDING,
    KINDS,
    READY,
    RETIRED,
    CopyGoneError,
    CopyInfo,
    CopyKey,
    Progress,
    advanced,
    document_key,
    partition_of,
)
from projections.storage.cache import DocumentCache, SessionDocuments
from projections.storage.codec import DocumentCodec

_DOCUMENTS_TABLE = """CREATE TABLE IF NOT EXISTS {name} (
        copy_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        doc BLOB NOT NULL,
        PRIMARY KEY (copy_id, kind, key))"""
# The first layout, moved to the current one by `_upgrade_layout`.
_OLD_LAYOUT_MARK = "WITHOUT ROWID"

SCHEMA_STATEMENTS = (
    # AUTOINCREMENT: a copy id is never reused, so a process holding a stale id (or a
    # cache keyed by it) can never mistake a newer copy for the one it knew.
    """CREATE TABLE IF NOT EXISTS projection_copies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint TEXT NOT NULL,
        store_release TEXT NOT NULL,
        generation INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('building', 'ready', 'retired')),
        position INTEGER NOT NULL DEFAULT 0,
        owner TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        ready_at INTEGER,
        UNIQUE (fingerprint, store_release, generation))""",
    "CREATE UNIQUE INDEX IF NOT EXISTS projection_copies_live "
    "ON projection_copies (fingerprint, store_release) WHERE state = 'ready'",
    _DOCUMENTS_TABLE.format(name="projection_documents"),
)

_COPY_COLUMNS = (
    "id, fingerprint, store_release, generation, state, position, owner, "
    "created_at, updated_at, ready_at"
)
_UPSERT_DOC = (
    "INSERT OR REPLACE INTO projection_documents (copy_id, kind, key, doc) VALUES (?, ?, ?, ?)"
)
_NEXT_STREAM = "SELECT stream FROM events WHERE stream >= ? AND stream < ? ORDER BY stream LIMIT 1"
_COUNT_STREAMS = "SELECT COUNT(*) FROM events WHERE stream >= ? AND stream < ?"
_LOAD_DOC = "SELECT doc FROM projection_documents WHERE copy_id = ? AND kind = ? AND key = ?"
# Above every character a key can hold: the upper bound of a prefix range.
_KEY_CEILING = "\U0010ffff"
# Documents between two `on_written` calls of a bulk write.
_TICK = 1024
# SQLite's `PRAGMA synchronous` levels.
_SYNC_NORMAL = 1


def _copy(row: tuple[Any, ...]) -> CopyInfo:
    return CopyInfo(*row)


def _after_first_character(stream: str, prefix: str) -> str:
    """The lowest stream id above every one that starts like `stream` does: `prefix`
    and the character after it."""
    first = stream[len(prefix) : len(prefix) + 1]
    if not first:
        return prefix + "\x00"  # the stream is `prefix` itself
    following = ord(first) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates: no character of a stored id
        following = 0xE000
    return prefix + chr(min(following, 0x10FFFF))


def _upgrade_layout(c: sqlite3.Cursor) -> None:
    """Move the documents of a store made with the first layout (WITHOUT ROWID) into the
    current one, in the caller's write transaction. Only builds call it: they write
    anyway, and a store that is only read (perhaps read-only) keeps working as it is."""
    row = c.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'projection_documents'"
    ).fetchone()
    if row is None or _OLD_LAYOUT_MARK not in row[0].upper():
        return
    c.execute(_DOCUMENTS_TABLE.format(name="projection_documents_new"))
    c.execute(
        "INSERT INTO projection_documents_new (copy_id, kind, key, doc) "
        "SELECT copy_id, kind, key, doc FROM projection_documents ORDER BY copy_id, kind, key"
    )
    c.execute("DROP TABLE projection_documents")
    c.execute("ALTER TABLE projection_documents_new RENAME TO projection_documents")


class SQLiteProjectionStorage:
    """`ProjectionStorage` on a `SQLiteBackend` (files and `memory://`)."""

    def __init__(self, backend: SQLiteBackend, codec: DocumentCodec | None = None) -> None:
        self._backend = backend
        self._codec = codec or DocumentCodec()
        self._caches: dict[int, DocumentCache] = {}
        self._cache_lock = threading.Lock()
        self._sync_level = self._read_sync_level()
        self._create_schema()

    # --- setup -------------------------------------------------------------------------

    def _create_schema(self) -> None:
        with self._backend.read_cursor() as c:
            found = c.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                "('projection_copies', 'projection_documents', 'projection_copies_live')"
            ).fetchone()[0]
        if found == 3:
            return  # no write lock needed on every open
        with self._backend.write_transaction() as c:
            for statement in SCHEMA_STATEMENTS:
                c.execute(statement)

    def _read_sync_level(self) -> int:
        with self._backend.read_cursor() as c:
            return int(c.execute("PRAGMA synchronous").fetchone()[0])

    @contextmanager
    def _projection_transaction(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction whose commit is not fsynced (synchronous=NORMAL).

        A projection is derivable from the log: if power fails right after this commit,
        WAL mode loses at most the last projection commits, whole (position and
        documents together), and the next catch-up folds those events again. The log
        itself keeps the backend's setting: the pragma is restored before the lock is
        released, and the next FULL commit fsyncs every earlier WAL frame too.
        """
        relax = self._sync_level > _SYNC_NORMAL
        # The backend's connection lock (re-entrant) keeps other threads of this process
        # from committing an append while the connection runs with the relaxed setting.
        lock = getattr(self._backend, "_lock", None) if relax else None
        with lock if lock is not None else nullcontext():
            relaxed = lock is not None and self._set_sync(_SYNC_NORMAL)
            try:
                with self._backend.write_transaction() as c:
                    yield c
            finally:
                if relaxed:
                    self._set_sync(self._sync_level)

    def _set_sync(self, level: int) -> bool:
        """Set `PRAGMA synchronous`; False (and nothing set) inside an open transaction,
        where SQLite refuses to change it (a caller's transaction: commit as it says)."""
        with self._backend.read_cursor() as c:
            if c.connection.in_transaction:
                return False
            c.execute(f"PRAGMA synchronous={int(level)}")
            return True

    # --- the registry ------------------------------------------------------------------

    def copies(self) -> list[CopyInfo]:
        with self._backend.read_cursor() as c:
            rows = c.execute(f"SELECT {_COPY_COLUMNS} FROM projection_copies ORDER BY id")
            return [_copy(row) for row in rows.fetchall()]

    def live_copy(self, key: CopyKey) -> CopyInfo | None:
        with self._backend.read_cursor() as c:
            row = c.execute(
                f"SELECT {_COPY_COLUMNS} FROM projection_copies "
                "WHERE fingerprint = ? AND store_release = ? AND state = 'ready'",
                (key.fingerprint, key.store_release),
            ).fetchone()
        return None if row is None else _copy(row)

    def copy(self, copy_id: int) -> CopyInfo | None:
        with self._backend.read_cursor() as c:
            row = c.execute(
                f"SELECT {_COPY_COLUMNS} FROM projection_copies WHERE id = ?", (copy_id,)
            ).fetchone()
        return None if row is None else _copy(row)

    def begin_build(self, key: CopyKey, owner: str) -> CopyInfo:
        now = now_us()
        with self._projection_transaction() as c:
            _upgrade_layout(c)
            generation = c.execute(
                "SELECT COALESCE(MAX(generation), 0) + 1 FROM projection_copies "
                "WHERE fingerprint = ? AND store_release = ?",
                (key.fingerprint, key.store_release),
            ).fetchone()[0]
            row = c.execute(
                "INSERT INTO projection_copies (fingerprint, store_release, generation, state, "
                "position, owner, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?) "
                f"RETURNING {_COPY_COLUMNS}",
                (key.fingerprint, key.store_release, generation, BUILDING, owner, now, now),
            ).fetchone()
        return _copy(row)

    def heartbeat(self, copy_id: int, position: int) -> None:
        with self._projection_transaction() as c:
            c.execute(
                "UPDATE projection_copies SET updated_at = ?, position = ? "
                "WHERE id = ? AND state = 'building'",
                (now_us(), position, copy_id),
            )

    def drop_copy(self, copy_id: int) -> None:
        with self._cache_lock:
            self._caches.pop(copy_id, None)
        with self._projection_transaction() as c:
            c.execute("DELETE FROM projection_documents WHERE copy_id = ?", (copy_id,))
            c.execute("DELETE FROM projection_copies WHERE id = ?", (copy_id,))

    # --- sessions ----------------------------------------------------------------------

    @contextmanager
    def catch_up(self, copy: CopyInfo) -> Iterator[_CatchUp]:
        copy_id = copy.copy_id
        # Taken out for the session and put back only after a successful commit: a
        # failed session may have changed cached documents in place.
        with self._cache_lock:
            cache = self._caches.pop(copy_id, None)
        with self._projection_transaction() as c:
            row = c.execute(
                "SELECT state, position FROM projection_copies WHERE id = ?", (copy_id,)
            ).fetchone()
            if row is None or row[0] != READY:
                raise CopyGoneError(f"projection copy {copy_id} is no longer live")
            position = int(row[1])
            if cache is None or not cache.valid_at(position):
                cache = DocumentCache(position)  # someone else moved the copy on
            session = _CatchUp(c, copy_id, position, cache, self._codec)
            yield session
            session.save()
        cache.position = session.saved_position
        with self._cache_lock:
            self._caches[copy_id] = cache

    @contextmanager
    def publish(self, copy: CopyInfo) -> Iterator[_Publish]:
        with self._projection_transaction() as c:
            row = c.execute(
                "SELECT state, position FROM projection_copies WHERE id = ?", (copy.copy_id,)
            ).fetchone()
            if row is None or row[0] != BUILDING:
                raise CopyGoneError(
                    f"projection copy {copy.copy_id} is no longer being built "
                    "(dropped as abandoned?)"
                )
            yield _Publish(c, copy, int(row[1]), self._codec)

    def write_documents(
        self,
        copy: CopyInfo,
        docs: Iterable[tuple[str, Document]],
        on_written: Progress | None = None,
    ) -> int:
        counted = _Counted(docs, on_written, self._codec.dumps)
        with self._projection_transaction() as c:
            row = c.execute(
                "SELECT state FROM projection_copies WHERE id = ?", (copy.copy_id,)
            ).fetchone()
            if row is None or row[0] != BUILDING:
                raise CopyGoneError(f"projection copy {copy.copy_id} is no longer being built")
            # Rows are serialised lazily, so only one document's bytes exist at a time;
            # in key order (as BulkDocuments gives them) the B-tree fills page by page.
            c.executemany(_UPSERT_DOC, counted.rows(copy.copy_id))
        return counted.done

    def iter_partition(self, after: int, upto: int, part: int, parts: int) -> Iterator[Row]:
        # The filter runs inside SQLite: other partitions' rows never become Python
        # objects. Same function as base.partition_of.
        where = "position > ? AND position <= ?"
        params: tuple[int, ...] = (upto,)
        if parts > 1:
            where += f" AND {PARTITION_SQL} % ? = ?"
            params = (upto, parts, part)
        select = f"SELECT {LOG_COLUMNS} FROM events WHERE {where}"
        rows: Iterator[Row] = self._backend.paged(select, after, params)
        return rows

    def partition_sizes(self, parts: int) -> list[int] | None:
        # Range counts on the (stream, version) index, one per stream kind and first
        # character after its colon: no function call per row, unlike the filter above.
        sizes = [0] * parts
        with self._backend.read_cursor() as c:
            for kind in STREAM_KINDS:
                prefix = f"{kind}:"
                low, ceiling = prefix, prefix + _KEY_CEILING
                while (row := c.execute(_NEXT_STREAM, (low, ceiling)).fetchone()) is not None:
                    high = _after_first_character(row[0], prefix)
                    (count,) = c.execute(_COUNT_STREAMS, (low, high)).fetchone()
                    sizes[partition_of(row[0], parts)] += count
                    low = high
        return sizes

    # --- reads -------------------------------------------------------------------------

    @contextmanager
    def _snapshot(self, copy: CopyInfo) -> Iterator[sqlite3.Cursor]:
        """A read transaction on a copy that is READY in it (one consistent snapshot)."""
        with self._backend.read_cursor() as c:
            own = not c.connection.in_transaction  # else: inside the caller's transaction
            if own:
                c.execute("BEGIN")
            try:
                row = c.execute(
                    "SELECT state FROM projection_copies WHERE id = ?", (copy.copy_id,)
                ).fetchone()
                if row is None or row[0] != READY:
                    raise CopyGoneError(f"projection copy {copy.copy_id} is no longer live")
                yield c
            finally:
                if own and c.connection.in_transaction:
                    c.execute("COMMIT")

    def read_documents(self, copy: CopyInfo, kind: str, prefix: str = "") -> list[Document]:
        with self._snapshot(copy) as c:
            rows = c.execute(
                "SELECT doc FROM projection_documents WHERE copy_id = ? AND kind = ? "
                "AND key >= ? AND key < ? ORDER BY key",
                (copy.copy_id, kind, prefix, prefix + _KEY_CEILING),
            ).fetchall()
        loads = self._codec.loads
        return [loads(row[0]) for row in rows]

    def read_document_blobs(
        self, copy: CopyInfo, kind: str, prefix: str = ""
    ) -> list[tuple[str, bytes]]:
        with self._snapshot(copy) as c:
            rows: list[tuple[str, bytes]] = c.execute(
                "SELECT key, doc FROM projection_documents WHERE copy_id = ? AND kind = ? "
                "AND key >= ? AND key < ? ORDER BY key",
                (copy.copy_id, kind, prefix, prefix + _KEY_CEILING),
            ).fetchall()
        if not self._codec.encrypted:
            return rows
        plain = self._codec.plain
        return [(key, plain(blob)) for key, blob in rows]

    def read_document(self, copy: CopyInfo, kind: str, key: str) -> Document | None:
        with self._snapshot(copy) as c:
            row = c.execute(_LOAD_DOC, (copy.copy_id, kind, key)).fetchone()
        return None if row is None else self._codec.loads(row[0])

    def count_documents(self, copy: CopyInfo) -> dict[str, int]:
        with self._backend.read_cursor() as c:
            rows = c.execute(
                "SELECT kind, COUNT(*) FROM projection_documents WHERE copy_id = ? GROUP BY kind",
                (copy.copy_id,),
            ).fetchall()
        counts = dict.fromkeys(KINDS, 0)
        counts.update({kind: int(n) for kind, n in rows})
        return counts


def _loader(
    c: sqlite3.Cursor, copy_id: int, codec: DocumentCodec
) -> Callable[[str, str], Document | None]:
    """Loads one document of the copy by (kind, key), in the session's transaction."""

    def load(kind: str, key: str) -> Document | None:
        row = c.execute(_LOAD_DOC, (copy_id, kind, key)).fetchone()
        return None if row is None else codec.loads(row[0])

    return load


class _Session:
    """What the catch-up and publish sessions share: documents loaded on demand from
    one copy inside the storage's write transaction, and changed ones saved there."""

    def __init__(
        self, c: sqlite3.Cursor, copy_id: int, cache: DocumentCache, codec: DocumentCodec
    ) -> None:
        self._c = c
        self._copy_id = copy_id
        self._codec = codec
        # A loader that does not hold the session: no reference cycle to outlive it.
        self._documents = SessionDocuments(cache, _loader(c, copy_id, codec))

    @property
    def documents(self) -> SessionDocuments:
        return self._documents

    def _save_documents(self) -> bool:
        dirty = self._documents.dirty
        if dirty:
            dumps, copy_id = self._codec.dumps, self._copy_id
            self._c.executemany(
                _UPSERT_DOC,
                [(copy_id, kind, key, dumps(doc)) for (kind, key), doc in dirty.items()],
            )
        return bool(dirty)


class _CatchUp(_Session):
    """A CatchUpSession."""

    def __init__(
        self,
        c: sqlite3.Cursor,
        copy_id: int,
        position: int,
        cache: DocumentCache,
        codec: DocumentCodec,
    ) -> None:
        super().__init__(c, copy_id, cache, codec)
        self._position = position
        self.saved_position = position

    @property
    def position(self) -> int:
        return self._position

    def advance(self, position: int) -> None:
        self.saved_position = advanced(self.saved_position, position)

    def save(self) -> None:
        changed = self._save_documents()
        if self.saved_position != self._position or changed:
            self._c.execute(
                "UPDATE projection_copies SET position = ?, updated_at = ? WHERE id = ?",
                (self.saved_position, now_us(), self._copy_id),
            )


class _Publish(_Session):
    """A PublishSession."""

    def __init__(
        self, c: sqlite3.Cursor, copy: CopyInfo, position: int, codec: DocumentCodec
    ) -> None:
        super().__init__(c, copy.copy_id, DocumentCache(position), codec)
        self._copy = copy

    def make_live(self, position: int) -> CopyInfo:
        copy = self._copy
        self._save_documents()
        now = now_us()
        # Retire first: the partial unique index allows one ready copy per key.
        self._c.execute(
            "UPDATE projection_copies SET state = ?, updated_at = ? "
            "WHERE fingerprint = ? AND store_release = ? AND state = 'ready' AND id != ?",
            (RETIRED, now, copy.fingerprint, copy.store_release, copy.copy_id),
        )
        row = self._c.execute(
            "UPDATE projection_copies SET state = 'ready', position = ?, updated_at = ?, "
            f"ready_at = ? WHERE id = ? AND state = 'building' RETURNING {_COPY_COLUMNS}",
            (position, now, now, copy.copy_id),
        ).fetchone()
        if row is None:
            raise CopyGoneError(f"projection copy {copy.copy_id} is no longer being built")
        return _copy(row)


class _Counted:
    """(kind, document) pairs -> rows to insert, counting them for `on_written`."""

    def __init__(
        self,
        docs: Iterable[tuple[str, Document]],
        on_written: Progress | None,
        dumps: Callable[[Document], bytes],
    ) -> None:
        self._docs = docs
        self._on_written = on_written
        self._dumps = dumps
        self.done = 0

    def rows(self, copy_id: int) -> Iterator[tuple[int, str, str, bytes]]:
        on_written, dumps = self._on_written, self._dumps
        done = 0
        for kind, doc in self._docs:
            yield (copy_id, kind, document_key(kind, doc), dumps(doc))
            done += 1
            if on_written is not None and not done % _TICK:
                on_written(done)
        self.done = done
        if on_written is not None:
            on_written(done)
