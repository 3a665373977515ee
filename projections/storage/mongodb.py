"""Projection copies in the MongoDB store's own database.

- `projection_copies`: one document per copy (`_id` = copy id from the `counters`
  collection, never reused): fingerprint, store release, generation, position, owner,
  times, `published` and `redo` (see below).
- `projection_keys`: one pointer per key (`_id` = "fingerprint|release", `live` =
  copy id). The pointer IS the READY state: a copy is READY when its key's pointer
  names it, RETIRED when it was published but the pointer has moved on, BUILDING
  before it is published. One READY copy per key holds by construction, and the
  switch to a new generation is one atomic update of one document.
- `projection_<id>_machines`, `projection_<id>_models`, `projection_<id>_units`: the
  copy's documents as MongoDB documents, `{_id: storage key, pos, doc}`, where `pos`
  is the position the document was last written at. Dropping a copy drops them.

Catch-up commits work the same on a replica set and on a standalone server, without
a lock on the log: the session writes its changed documents to `projection_redo`
(invisible), then commits with ONE compare-and-set of the copy document (position S
-> U, `redo` = the batch; CatchUpConflictError when another process moved the copy
first), then applies the batch to the documents with version-guarded writes (only
over a document whose `pos` is older), clears `redo` and deletes the batch. Whoever
finds `redo` set (a reader, the next catch-up) applies it first: the commit is
exactly once even if its writer dies right after the compare-and-set, and a slow
writer can never overwrite a newer document.

Reads are validated like a seqlock: the copy's (pointer, position, redo) is read
before and after the documents and the read is repeated if they differ, so a read
returns one consistent state of the copy (what SQLite's one snapshot gives).

A build's documents are written into its BUILDING copy outside any transaction (a
build can be far larger than a transaction may be), tagged with the write they belong
to: a `write_documents` that fails removes its own documents again, and they are
invisible anyway until `make_live` swings the pointer. `publish` holds the store's
write lock (appends wait, as on SQLite), so the events appended during the build are
folded in up to the true head; `make_live` saves the session's documents and swings
the pointer (in a transaction with the copy's own update on a replica set).

Partitioned rebuilds (`iter_partition`) filter the log on the server with a regular
expression on the character after the stream's first colon (ASCII: one character
class per partition; anything else is fetched and decided here), and always apply
`partition_of` itself to what comes back.

Stored documents may contain keys with dots (model config): MongoDB 5.0+ stores them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from eventstate.backends.base import Row
from eventstate.backends.mongodb import MongoBackend, partition_filter
from eventstate.errors import EventStateError
from eventstate.timeutil import now_us
from projections.documents import Document
from projections.storage.base import (
    BUILDING,
    KINDS,
    MACHINE,
    MODEL,
    READY,
    RETIRED,
    CatchUpConflictError,
    CopyGoneError,
    CopyInfo,
    CopyKey,
    Progress,
    advanced,
    document_key,
    partition_of,
)
from projections.storage.cache import DocumentCache, SessionDocuments
from projections.storage.codec import dumps_json

Doc = dict[str, Any]
Session = ClientSession | None

_KEY_CEILING = "\U0010ffff"
_CHUNK = 1000  # documents per insert_many
_TICK = 1024  # documents between two on_written calls
_READ_ATTEMPTS = 50
_COLLECTION_SUFFIX = {MACHINE: "machines", MODEL: "models"}


def _key_id(fingerprint: str, store_release: str) -> str:
    return f"{fingerprint}|{store_release}"


def _info(doc: Doc, live: int | None) -> CopyInfo:
    if live == doc["_id"]:
        state = READY
    elif doc.get("published"):
        state = RETIRED
    else:
        state = BUILDING
    return CopyInfo(
        copy_id=int(doc["_id"]),
        fingerprint=doc["fingerprint"],
        store_release=doc["store_release"],
        generation=int(doc["generation"]),
        state=state,
        position=int(doc.get("position", 0)),
        owner=str(doc.get("owner", "")),
        created_at_us=int(doc["created_at"]),
        updated_at_us=int(doc["updated_at"]),
        ready_at_us=None if doc.get("ready_at") is None else int(doc["ready_at"]),
    )


class MongoProjectionStorage:
    """`ProjectionStorage` on a `MongoBackend`."""

    def __init__(self, backend: MongoBackend) -> None:
        self._backend = backend
        self._sessions = backend.sessions
        self._copies = backend.collection("projection_copies")
        self._keys = backend.collection("projection_keys")
        self._redo = backend.collection("projection_redo")
        self._counters = backend.collection("counters")
        self._caches: dict[int, DocumentCache] = {}
        self._cache_lock = threading.Lock()
        self._create_indexes()

    def _create_indexes(self) -> None:
        def create() -> None:
            self._copies.create_index(
                [("fingerprint", ASCENDING), ("store_release", ASCENDING), ("generation", 1)],
                unique=True,
                name="key_generation",
            )
            # Also creates `projection_keys` before a transaction writes it.
            self._keys.create_index([("live", ASCENDING)], name="live")
            self._redo.create_index([("batch", ASCENDING)], name="batch")
            self._redo.create_index([("copy", ASCENDING)], name="copy")

        self._sessions.policy.call("create projection indexes", create)

    def _documents(self, copy_id: int, kind: str) -> Collection[Doc]:
        return self._backend.collection(
            f"projection_{copy_id}_{_COLLECTION_SUFFIX.get(kind, kind + 's')}"
        )

    def _run(self, operation: str, fn: Any) -> Any:
        return self._sessions.run(operation, fn)

    # --- the registry ------------------------------------------------------------------

    def _live_of(self, doc: Doc, session: Session) -> int | None:
        pointer = self._keys.find_one(
            {"_id": _key_id(doc["fingerprint"], doc["store_release"])}, session=session
        )
        return None if pointer is None else int(pointer["live"])

    def copies(self) -> list[CopyInfo]:
        def read(session: Session) -> list[CopyInfo]:
            docs = list(self._copies.find({}, sort=[("_id", ASCENDING)], session=session))
            live = {p["_id"]: int(p["live"]) for p in self._keys.find({}, session=session)}
            return [_info(d, live.get(_key_id(d["fingerprint"], d["store_release"]))) for d in docs]

        result: list[CopyInfo] = self._run("list projection copies", read)
        return result

    def live_copy(self, key: CopyKey) -> CopyInfo | None:
        def read(session: Session) -> CopyInfo | None:
            pointer = self._keys.find_one(
                {"_id": _key_id(key.fingerprint, key.store_release)}, session=session
            )
            if pointer is None:
                return None
            doc = self._copies.find_one({"_id": pointer["live"]}, session=session)
            return None if doc is None else _info(doc, int(pointer["live"]))

        result: CopyInfo | None = self._run("read the live projection copy", read)
        return result

    def copy(self, copy_id: int) -> CopyInfo | None:
        def read(session: Session) -> CopyInfo | None:
            doc = self._copies.find_one({"_id": copy_id}, session=session)
            return None if doc is None else _info(doc, self._live_of(doc, session))

        result: CopyInfo | None = self._run("read a projection copy", read)
        return result

    def begin_build(self, key: CopyKey, owner: str) -> CopyInfo:
        copy_id = self._next_copy_id()

        def register(session: Session) -> CopyInfo:
            while True:
                last = self._copies.find_one(
                    {"fingerprint": key.fingerprint, "store_release": key.store_release},
                    sort=[("generation", DESCENDING)],
                    session=session,
                )
                if last is not None and last["_id"] == copy_id:
                    return _info(last, None)  # our own insert, acknowledged late
                now = now_us()
                doc: Doc = {
                    "_id": copy_id,
                    "fingerprint": key.fingerprint,
                    "store_release": key.store_release,
                    "generation": 1 if last is None else int(last["generation"]) + 1,
                    "published": False,
                    "position": 0,
                    "owner": owner,
                    "created_at": now,
                    "updated_at": now,
                    "ready_at": None,
                    "redo": None,
                }
                try:
                    self._copies.insert_one(doc, session=session)
                except DuplicateKeyError:
                    continue  # another builder took this generation: take the next
                return _info(doc, None)

        result: CopyInfo = self._run("register a projection build", register)
        return result

    def _next_copy_id(self) -> int:
        # $inc on a counter: an id is never handed out twice (a retried $inc may
        # skip one, which is harmless).
        def bump(session: Session) -> int:
            doc = self._counters.find_one_and_update(
                {"_id": "projection_copy"},
                {"$inc": {"seq": 1}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            assert doc is not None  # upsert with AFTER always returns the document
            return int(doc["seq"])

        result: int = self._run("number a projection copy", bump)
        return result

    def heartbeat(self, copy_id: int, position: int) -> None:
        self._run(
            "projection build heartbeat",
            lambda s: self._copies.update_one(
                {"_id": copy_id, "published": False},
                {"$set": {"updated_at": now_us(), "position": position}},
                session=s,
            ),
        )

    def drop_copy(self, copy_id: int) -> None:
        with self._cache_lock:
            self._caches.pop(copy_id, None)
        # The pointer first: from then on readers get CopyGoneError, never half a copy.
        self._run("drop a projection copy", lambda s: self._keys.delete_many({"live": copy_id}))
        self._drop_documents(copy_id)
        self._run("drop a projection copy", lambda s: self._redo.delete_many({"copy": copy_id}))
        self._run("drop a projection copy", lambda s: self._copies.delete_one({"_id": copy_id}))

    def _drop_documents(self, copy_id: int) -> None:
        for kind in KINDS:
            self._backend.drop_collection(self._documents(copy_id, kind).name)

    # --- catch-up ------------------------------------------------------------------------

    def _state(self, copy_id: int, session: Session) -> tuple[bool, int, Any]:
        """(is READY, position, pending redo batch) of a copy."""
        doc = self._copies.find_one({"_id": copy_id}, session=session)
        if doc is None:
            return False, 0, None
        return self._live_of(doc, session) == copy_id, int(doc["position"]), doc.get("redo")

    @contextmanager
    def catch_up(self, copy: CopyInfo) -> Iterator[_CatchUp]:
        copy_id = copy.copy_id
        # Taken out for the session and put back only after a successful commit: a
        # failed session may have changed cached documents in place.
        with self._cache_lock:
            cache = self._caches.pop(copy_id, None)
        live, position, redo = self._run(
            "read a projection copy", lambda s: self._state(copy_id, s)
        )
        if redo is not None:
            self._apply(copy_id, redo, position)
        if not live:
            raise CopyGoneError(f"projection copy {copy_id} is no longer live")
        if cache is None or not cache.valid_at(position):
            cache = DocumentCache(position)  # someone else moved the copy on
        session = _CatchUp(self, copy_id, position, cache)
        yield session
        self._commit(session)
        cache.position = session.saved_position
        with self._cache_lock:
            self._caches[copy_id] = cache

    def _load(self, copy_id: int, kind: str, key: str) -> Document | None:
        found = self._run(
            "read a projection document",
            lambda s: self._documents(copy_id, kind).find_one({"_id": key}, session=s),
        )
        return None if found is None else dict(found["doc"])

    def _commit(self, session: _CatchUp) -> None:
        copy_id, start, end = session.copy_id, session.position, session.saved_position
        dirty = session.documents.dirty
        if not dirty and end == start:
            return
        batch = uuid.uuid4().hex if dirty else None
        if batch is not None:
            redo = [
                {"_id": f"{batch}:{n}", "batch": batch, "copy": copy_id, "kind": kind,
                 "key": key, "pos": end, "doc": doc}
                for n, ((kind, key), doc) in enumerate(dirty.items())
            ]  # fmt: skip
            for start_at in range(0, len(redo), _CHUNK):
                self._insert_idempotent(self._redo, redo[start_at : start_at + _CHUNK])

        token = uuid.uuid4().hex

        def compare_and_set(s: Session) -> bool:
            result = self._copies.update_one(
                {"_id": copy_id, "position": start, "redo": None},
                {"$set": {"position": end, "updated_at": now_us(), "redo": batch,
                          "committer": token}},
                session=s,
            )  # fmt: skip
            if result.matched_count == 1:
                return True
            # Our own earlier attempt, whose reply was lost?
            doc = self._copies.find_one({"_id": copy_id}, session=s)
            return doc is not None and doc.get("committer") == token

        committed = self._run("save a projection catch-up", compare_and_set)
        if not committed:
            if batch is not None:
                self._run("discard a catch-up", lambda s: self._redo.delete_many({"batch": batch}))
            live, _, _ = self._run("read a projection copy", lambda s: self._state(copy_id, s))
            if not live:
                raise CopyGoneError(f"projection copy {copy_id} is no longer live")
            raise CatchUpConflictError(
                f"projection copy {copy_id} was caught up by another process first"
            )
        if batch is not None:
            self._apply(copy_id, batch, end)

    def _apply(self, copy_id: int, batch: str, position: int) -> None:
        """Apply a committed redo batch (idempotent; never over a newer document)."""

        def apply(s: Session) -> None:
            for entry in self._redo.find({"batch": batch}, session=s):
                target = self._documents(copy_id, entry["kind"])
                with suppress(DuplicateKeyError):  # already newer: leave it
                    target.replace_one(
                        {"_id": entry["key"], "pos": {"$lt": entry["pos"]}},
                        {"_id": entry["key"], "pos": entry["pos"], "doc": entry["doc"]},
                        upsert=True,
                        session=s,
                    )
            self._copies.update_one(
                {"_id": copy_id, "redo": batch}, {"$set": {"redo": None}}, session=s
            )
            self._redo.delete_many({"batch": batch}, session=s)

        self._run("apply a projection catch-up", apply)

    def _insert_idempotent(self, collection: Collection[Doc], docs: list[Doc]) -> None:
        attempts = 0

        def insert(s: Session) -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # a lost reply may have inserted some: start clean
                collection.delete_many({"_id": {"$in": [d["_id"] for d in docs]}}, session=s)
            collection.insert_many(docs, ordered=True, session=s)

        self._run(f"write {collection.name}", insert)

    # --- building and publishing ----------------------------------------------------

    def _require_building(self, copy_id: int) -> Doc:
        def read(session: Session) -> Doc | None:
            return self._copies.find_one({"_id": copy_id}, session=session)

        doc: Doc | None = self._run("read a projection copy", read)
        if doc is None or doc.get("published"):
            raise CopyGoneError(
                f"projection copy {copy_id} is no longer being built (dropped as abandoned?)"
            )
        return doc

    def _live_state(self, copy: CopyInfo) -> str | None:
        """None while the copy is BUILDING, else why it is not."""
        current = self.copy(copy.copy_id)
        if current is None:
            return "dropped"
        return None if current.state == BUILDING else current.state

    def write_documents(
        self,
        copy: CopyInfo,
        docs: Iterable[tuple[str, Document]],
        on_written: Progress | None = None,
    ) -> int:
        """Bulk-write (kind, document) pairs into a BUILDING copy: all or nothing (what
        a failed call wrote is removed again; a killed one leaves a BUILDING copy that
        cleanup drops)."""
        self._require_building(copy.copy_id)
        write = uuid.uuid4().hex
        pending: dict[str, list[Doc]] = {}
        done = ticked = 0
        try:
            for kind, doc in docs:
                part = pending.setdefault(kind, [])
                part.append({"_id": document_key(kind, doc), "pos": 0, "w": write, "doc": doc})
                if len(part) >= _CHUNK:
                    self._replace_all(self._documents(copy.copy_id, kind), part)
                    done += len(part)
                    pending[kind] = []
                    if on_written is not None and done - ticked >= _TICK:
                        on_written(done)
                        ticked = done
            for kind, part in pending.items():
                if part:
                    self._replace_all(self._documents(copy.copy_id, kind), part)
                    done += len(part)
            self._require_building(copy.copy_id)  # dropped while we wrote: undo, below
        except BaseException:
            with suppress(EventStateError):
                for kind in KINDS:
                    collection = self._documents(copy.copy_id, kind)
                    self._run(
                        "undo a projection write",
                        lambda s, c=collection: c.delete_many({"w": write}, session=s),
                    )
            raise
        if on_written is not None:
            on_written(done)
        return done

    def _replace_all(self, collection: Collection[Doc], docs: list[Doc]) -> None:
        """Insert, replacing documents with the same keys (SQLite's INSERT OR REPLACE);
        safe to repeat after a lost reply."""
        keys = [d["_id"] for d in docs]

        def write(s: Session) -> None:
            try:
                collection.insert_many(docs, ordered=True, session=s)
            except (BulkWriteError, DuplicateKeyError):
                collection.delete_many({"_id": {"$in": keys}}, session=s)
                collection.insert_many(docs, ordered=True, session=s)

        self._run(f"write {collection.name}", write)

    def partition_sizes(self, parts: int) -> list[int] | None:
        return None  # no cheap count per partition: they go out in number order

    def iter_partition(self, after: int, upto: int, part: int, parts: int) -> Iterator[Row]:
        if parts == 1:
            yield from self._backend.iter_log(after, upto)
            return
        for row in self._backend.iter_log_where(after, upto, partition_filter(part, parts)):
            if partition_of(row[1], parts) == part:
                yield row

    @contextmanager
    def publish(self, copy: CopyInfo) -> Iterator[_Publish]:
        # The store's write lock: the log head cannot move while the runner folds the
        # events appended during the build, so the copy goes live exactly at the head.
        with self._backend.exclusive("publish a projection copy"):
            doc = self._require_building(copy.copy_id)
            session = _Publish(self, copy, doc)
            yield session
            # Only now, the body done without an exception: save and switch.
            if session.going_live is not None:
                self._make_live(copy, session.going_live, session.token, session.documents.dirty)

    def _make_live(
        self,
        copy: CopyInfo,
        live: CopyInfo,
        token: str,
        dirty: dict[tuple[str, str], Document],
    ) -> CopyInfo:
        position = live.position
        # The session's documents first: the copy is still BUILDING, so nobody reads them.
        grouped: dict[str, list[Doc]] = {}
        for (kind, key), doc in dirty.items():
            grouped.setdefault(kind, []).append({"_id": key, "pos": position, "doc": doc})
        for kind, part in grouped.items():
            for start in range(0, len(part), _CHUNK):
                self._replace_all(self._documents(copy.copy_id, kind), part[start : start + _CHUNK])
        pointer_id = _key_id(copy.fingerprint, copy.store_release)

        def switch(s: Session) -> CopyInfo:
            now = live.updated_at_us  # the times make_live promised
            doc = self._copies.find_one_and_update(
                {"_id": copy.copy_id, "published": False},
                {"$set": {"published": True, "publisher": token, "position": position,
                          "updated_at": now, "ready_at": now}},
                return_document=ReturnDocument.AFTER,
                session=s,
            )  # fmt: skip
            if doc is None:
                doc = self._copies.find_one({"_id": copy.copy_id}, session=s)
                if doc is None or doc.get("publisher") != token:
                    raise CopyGoneError(f"projection copy {copy.copy_id} is no longer being built")
            # The switch: readers of the key follow this pointer from now on, and the
            # copy it named before is RETIRED by the same write.
            self._keys.update_one(
                {"_id": pointer_id},
                {"$set": {"live": copy.copy_id, "fingerprint": copy.fingerprint,
                          "store_release": copy.store_release}},
                upsert=True,
                session=s,
            )  # fmt: skip
            return _info(doc, copy.copy_id)

        if self._backend.transactions:
            result: CopyInfo = self._sessions.transaction("publish a projection copy", switch)
        else:
            # Two single-document writes: a crash between them leaves the copy
            # published but not pointed to, i.e. RETIRED, which cleanup drops.
            result = self._run("publish a projection copy", switch)
        return result

    # --- reads ---------------------------------------------------------------------------

    def _validated(self, copy: CopyInfo, operation: str, read: Any) -> Any:
        for _attempt in range(_READ_ATTEMPTS):
            before = self._run(operation, lambda s: self._state(copy.copy_id, s))
            if not before[0]:
                raise CopyGoneError(f"projection copy {copy.copy_id} is no longer live")
            if before[2] is not None:  # a committed catch-up not applied yet: apply it
                self._apply(copy.copy_id, before[2], before[1])
                continue
            result = self._run(operation, read)
            if self._run(operation, lambda s: self._state(copy.copy_id, s)) == before:
                return result
        raise EventStateError(f"projection copy {copy.copy_id} keeps changing under this read")

    def read_documents(self, copy: CopyInfo, kind: str, prefix: str = "") -> list[Document]:
        collection = self._documents(copy.copy_id, kind)

        def read(s: Session) -> list[Document]:
            cursor = collection.find(
                {"_id": {"$gte": prefix, "$lt": prefix + _KEY_CEILING}},
                sort=[("_id", ASCENDING)],
                session=s,
            )
            return [dict(found["doc"]) for found in cursor]

        result: list[Document] = self._validated(copy, "read projection documents", read)
        return result

    def read_document_blobs(
        self, copy: CopyInfo, kind: str, prefix: str = ""
    ) -> list[tuple[str, bytes]]:
        # Stored as MongoDB documents, not JSON: encoded here.
        return [
            (document_key(kind, doc), dumps_json(doc))
            for doc in self.read_documents(copy, kind, prefix)
        ]

    def read_document(self, copy: CopyInfo, kind: str, key: str) -> Document | None:
        collection = self._documents(copy.copy_id, kind)

        def read(s: Session) -> Document | None:
            found = collection.find_one({"_id": key}, session=s)
            return None if found is None else dict(found["doc"])

        result: Document | None = self._validated(copy, "read a projection document", read)
        return result

    def count_documents(self, copy: CopyInfo) -> dict[str, int]:
        def count(s: Session) -> dict[str, int]:
            return {
                kind: int(self._documents(copy.copy_id, kind).count_documents({}, session=s))
                for kind in KINDS
            }

        result: dict[str, int] = self._run("count projection documents", count)
        return result


class _CatchUp:
    """A CatchUpSession: documents loaded on demand, saved by a compare-and-set commit."""

    def __init__(
        self, storage: MongoProjectionStorage, copy_id: int, position: int, cache: DocumentCache
    ) -> None:
        self.copy_id = copy_id
        self._position = position
        self.saved_position = position
        self._documents = SessionDocuments(
            cache, lambda kind, key: storage._load(copy_id, kind, key)
        )

    @property
    def position(self) -> int:
        return self._position

    @property
    def documents(self) -> SessionDocuments:
        return self._documents

    def advance(self, position: int) -> None:
        self.saved_position = advanced(self.saved_position, position)


class _Publish:
    """A PublishSession: the building copy's documents on demand; `make_live` says
    where the copy goes live, and the publish context saves and switches on exit."""

    def __init__(self, storage: MongoProjectionStorage, copy: CopyInfo, doc: Doc) -> None:
        self._storage = storage
        self._copy = copy
        self._doc = doc
        self.token = uuid.uuid4().hex
        self.going_live: CopyInfo | None = None
        copy_id = copy.copy_id
        self._documents = SessionDocuments(
            DocumentCache(int(doc.get("position", 0))),
            lambda kind, key: storage._load(copy_id, kind, key),
        )

    @property
    def documents(self) -> SessionDocuments:
        return self._documents

    def write_documents(
        self, kind: str, docs: Iterable[Document], on_written: Progress | None = None
    ) -> int:
        """The earlier protocol's bulk write inside the publish session (kept while
        runners still call it): `ProjectionStorage.write_documents` for one kind."""
        pairs = ((kind, doc) for doc in docs)
        return self._storage.write_documents(self._copy, pairs, on_written)

    def make_live(self, position: int) -> CopyInfo:
        """The copy as it will be once the publish context exits without an error."""
        if self._storage._live_state(self._copy) is not None:
            raise CopyGoneError(f"projection copy {self._copy.copy_id} is no longer being built")
        now = now_us()
        self.going_live = replace(
            _info(self._doc, self._copy.copy_id),
            position=position,
            updated_at_us=now,
            ready_at_us=now,
        )
        return self.going_live
