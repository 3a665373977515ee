"""Test support for the MongoDB backend: mongomock made to behave like a server,
fault injection, and the targets every MongoDB test runs against.

mongomock has no sessions and no transactions. `MockServer` adds them the way
a test needs them: a transaction holds the server's one lock from
`start_transaction` to commit/abort (so transactions are serialisable and
nothing outside sees their writes before commit), records the before-image of
every document it touches, and restores them on abort. Single operations
outside a transaction take the same lock, so they only ever see committed
state. `hello` reports a replica set (or, with `replica_set=False`, a
standalone server that refuses transactions as a real one does) and the
server's `localTime` (with an adjustable skew).

mongomock checks unique indexes and evaluates every query by scanning the
whole collection. The accelerator below keeps hash maps for indexed fields
and narrows queries to candidate documents before mongomock's own matcher
runs on them: the same results, without the quadratic cost that would make
eventsourcing's concurrency tests (10,000 events) take many minutes.

`FaultyClient` wraps any client (this adapter or a real pymongo MongoClient)
and raises chosen errors before or after chosen operations: transient errors,
lost acknowledgements, or a cut connection (a process that died).

Targets: `mongomock-rs` (transactions), `mongomock-standalone` (head-pointer
commits) and, when EVENTSTATE_TEST_MONGODB_URI is set, `real` and
`real-standalone-mode` (the head-pointer design forced on the real server).
"""

from __future__ import annotations

import bisect
import copy
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock as _mongomock
import pytest
from mongomock import collection as _mm_collection
from mongomock import store as _mm_store
from pymongo.errors import AutoReconnect, DuplicateKeyError, InvalidOperation, OperationFailure
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

# mongomock has no type hints: its modules are used as Any.
mongomock: Any = _mongomock
mm_collection: Any = _mm_collection
mm_store: Any = _mm_store

URI_VAR = "EVENTSTATE_TEST_MONGODB_URI"
REAL_URI = os.environ.get(URI_VAR, "")

# --- the accelerator -------------------------------------------------------------------

_HASHABLE = (str, int, float, bool, bytes, type(None))


class _Index:
    """Hash maps over one mongomock collection's indexed fields."""

    def __init__(self, signature: tuple[Any, ...], documents: Any) -> None:
        self.signature = signature
        self.fields: set[str] = set()
        self.uniques: list[tuple[str, tuple[str, ...], bool]] = []
        self.usable = True
        for name, keys, unique, sparse, partial in signature:
            self.fields.update(keys)
            if unique:
                self.uniques.append((name, keys, sparse))
            if partial:
                self.usable = False
        self.eq: dict[str, dict[Any, set[Any]]] = {f: {} for f in self.fields}
        self.unique_maps: dict[str, dict[tuple[Any, ...], set[Any]]] = {
            name: {} for name, _, _ in self.uniques
        }
        self.values: dict[Any, dict[str, Any]] = {}
        self.int_ids: list[int] = []
        for doc in documents:
            self.add(doc)

    def add(self, doc: dict[str, Any]) -> None:
        key = doc.get("_id")
        if key in self.values:
            self.remove(key)
        values = {f: doc.get(f) for f in self.fields}
        self.values[key] = values
        for f, v in values.items():
            if isinstance(v, _HASHABLE):
                self.eq[f].setdefault(v, set()).add(key)
        for name, keys, _ in self.uniques:
            self.unique_maps[name].setdefault(_key(values, keys), set()).add(key)
        if type(key) is int:
            bisect.insort(self.int_ids, key)

    def remove(self, key: Any) -> None:
        values = self.values.pop(key, None)
        if values is None:
            return
        for f, v in values.items():
            if isinstance(v, _HASHABLE):
                ids = self.eq[f].get(v)
                if ids is not None:
                    ids.discard(key)
        for name, keys, _ in self.uniques:
            ids = self.unique_maps[name].get(_key(values, keys))
            if ids is not None:
                ids.discard(key)
        if type(key) is int:
            i = bisect.bisect_left(self.int_ids, key)
            if i < len(self.int_ids) and self.int_ids[i] == key:
                del self.int_ids[i]

    def candidates(self, spec: Any) -> set[Any] | None:
        """A superset of the ids matching spec, or None when it cannot narrow."""
        if not isinstance(spec, dict) or not self.usable:
            return None
        found: list[set[Any]] = []
        for name, cond in spec.items():
            narrowed: set[Any] | None = None
            if name == "$and" and isinstance(cond, list):
                parts = [self.candidates(c) for c in cond]
                known = [p for p in parts if p is not None]
                narrowed = set.intersection(*known) if known else None
            elif name == "$or" and isinstance(cond, list):
                parts = [self.candidates(c) for c in cond]
                if parts and all(p is not None for p in parts):
                    narrowed = set().union(*[p for p in parts if p is not None])
            elif name == "_id":
                narrowed = self._ids(cond)
            elif name in self.fields:
                narrowed = self._field(name, cond)
            if narrowed is not None:
                found.append(narrowed)
        if not found:
            return None
        found.sort(key=len)
        return set.intersection(*found) if len(found) > 1 else found[0]

    def _field(self, name: str, cond: Any) -> set[Any] | None:
        if isinstance(cond, _HASHABLE) and cond is not None:
            return set(self.eq[name].get(cond, ()))
        if isinstance(cond, dict) and set(cond) == {"$in"}:
            out: set[Any] = set()
            for value in cond["$in"]:
                if not isinstance(value, _HASHABLE) or value is None:
                    return None
                out |= self.eq[name].get(value, set())
            return out
        return None

    def _ids(self, cond: Any) -> set[Any] | None:
        if isinstance(cond, _HASHABLE) and cond is not None:
            return {cond} if cond in self.values else set()
        if not isinstance(cond, dict) or not cond:
            return None
        if set(cond) == {"$in"}:
            return {v for v in cond["$in"] if v in self.values}
        if not set(cond) <= {"$gt", "$gte", "$lt", "$lte"}:
            return None
        if not all(type(v) is int for v in cond.values()):
            return None
        lo, hi = 0, len(self.int_ids)
        if "$gt" in cond:
            lo = max(lo, bisect.bisect_right(self.int_ids, cond["$gt"]))
        if "$gte" in cond:
            lo = max(lo, bisect.bisect_left(self.int_ids, cond["$gte"]))
        if "$lt" in cond:
            hi = min(hi, bisect.bisect_left(self.int_ids, cond["$lt"]))
        if "$lte" in cond:
            hi = min(hi, bisect.bisect_right(self.int_ids, cond["$lte"]))
        return set(self.int_ids[lo:hi]) if lo < hi else set()


def _key(values: dict[str, Any], keys: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(_freeze(values.get(k)) for k in keys)


def _freeze(value: Any) -> Any:
    return value if isinstance(value, _HASHABLE) else repr(value)


def _index_of(store: Any) -> _Index:
    signature = tuple(
        sorted(
            (
                name,
                tuple(k for k, _ in spec["key"]),
                bool(spec.get("unique")),
                bool(spec.get("sparse")),
                spec.get("partialFilterExpression") is not None,
            )
            for name, spec in store.indexes.items()
        )
    )
    index: _Index | None = store.__dict__.get("_es_index")
    if index is None or index.signature != signature:
        index = _Index(signature, list(store._documents.values()))
        store.__dict__["_es_index"] = index
    return index


def _install_accelerator() -> None:
    cls = mm_store.CollectionStore
    if getattr(cls, "_es_accelerated", False):
        return
    original_set, original_del = cls.__setitem__, cls.__delitem__
    original_drop = cls.drop

    def setitem(self: Any, key: Any, value: Any) -> None:
        original_set(self, key, value)
        _index_of(self).add(value)

    def delitem(self: Any, key: Any) -> None:
        original_del(self, key)
        _index_of(self).remove(key)

    def drop(self: Any) -> None:
        original_drop(self)
        self.__dict__.pop("_es_index", None)

    coll = mm_collection.Collection
    original_iter = coll._iter_documents
    original_uniques = coll._ensure_uniques

    def iter_documents(self: Any, spec: Any) -> Iterator[Any]:
        store = self._store
        if not store._documents:
            return iter(original_iter(self, spec))
        ids = _index_of(store).candidates(spec)
        if ids is None:
            return iter(original_iter(self, spec))
        documents = store._documents
        ordered = sorted(ids) if all(type(i) is int for i in ids) else list(ids)
        matches = mm_collection.filter_applies
        return (documents[i] for i in ordered if i in documents and matches(spec, documents[i]))

    def ensure_uniques(self: Any, new_data: Any) -> None:
        index = _index_of(self._store)
        if not index.usable:
            original_uniques(self, new_data)
            return
        index.add(new_data)  # updates change documents in place: re-index this one
        for name, keys, sparse in index.uniques:
            values = {k: new_data.get(k) for k in keys}
            if sparse and all(v is None for v in values.values()):
                continue
            if len(index.unique_maps[name].get(_key(values, keys), ())) > 1:
                raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)

    cls.__setitem__ = setitem
    cls.__delitem__ = delitem
    cls.drop = drop
    coll._iter_documents = iter_documents
    coll._ensure_uniques = ensure_uniques
    cls._es_accelerated = True


_install_accelerator()

# --- the server: sessions and transactions over mongomock ------------------------------


class MockServer:
    """One in-process 'server' that several clients (think: processes) share."""

    def __init__(self, *, replica_set: bool = True) -> None:
        self.mongo = mongomock.MongoClient()
        self.replica_set = replica_set
        self.clock_skew = timedelta(0)
        self.commits = 0
        self.aborts = 0
        self._lock = threading.RLock()
        self._txn_thread: int | None = None

    def client(self) -> MockClient:
        return MockClient(self)

    def begin(self) -> None:
        self._lock.acquire()
        self._txn_thread = threading.get_ident()

    def end(self) -> None:
        self._txn_thread = None
        self._lock.release()

    @contextmanager
    def operation(self, session: MockSession | None) -> Iterator[bool]:
        """Yields whether the operation runs inside the session's transaction."""
        if session is not None and session.in_transaction:
            assert self._txn_thread == threading.get_ident(), "transaction used on another thread"
            yield True
            return
        assert self._txn_thread != threading.get_ident(), (
            "an operation outside the transaction this thread has open: real MongoDB "
            "would not see the transaction's writes"
        )
        with self._lock:
            yield False


class MockClient:
    def __init__(self, server: MockServer) -> None:
        self.server = server
        self.write_concern = WriteConcern()
        self.read_concern = ReadConcern()
        self.admin = _MockAdmin(server)

    def get_database(self, name: str, **_options: Any) -> MockDatabase:
        return MockDatabase(self.server, name)

    def __getitem__(self, name: str) -> MockDatabase:
        return self.get_database(name)

    def start_session(self, **_options: Any) -> MockSession:
        return MockSession(self.server)

    def drop_database(self, name: str) -> None:
        with self.server.operation(None):
            self.server.mongo.drop_database(name)

    def close(self) -> None:
        pass


class _MockAdmin:
    def __init__(self, server: MockServer) -> None:
        self.server = server

    def command(self, name: str, *_args: Any, **_kwargs: Any) -> dict[str, Any]:
        if name in ("hello", "isMaster", "ismaster"):
            now = datetime.now(UTC).replace(tzinfo=None) + self.server.clock_skew
            reply: dict[str, Any] = {
                "isWritablePrimary": True,
                "maxWireVersion": 21,
                "logicalSessionTimeoutMinutes": 30,
                "localTime": now.replace(microsecond=now.microsecond // 1000 * 1000),
                "ok": 1.0,
            }
            if self.server.replica_set:
                reply["setName"] = "rs0"
            return reply
        if name == "ping":
            return {"ok": 1.0}
        raise OperationFailure(f"no such command: '{name}'", 59)


class MockDatabase:
    def __init__(self, server: MockServer, name: str) -> None:
        self.server = server
        self.name = name

    def get_collection(self, name: str, **_options: Any) -> MockCollection:
        return MockCollection(self.server, self.server.mongo[self.name][name])

    def __getitem__(self, name: str) -> MockCollection:
        return self.get_collection(name)

    def list_collection_names(self) -> list[str]:
        with self.server.operation(None):
            return list(self.server.mongo[self.name].list_collection_names())

    def drop_collection(self, name: str) -> None:
        with self.server.operation(None):
            self.server.mongo[self.name].drop_collection(name)


class MockSession:
    def __init__(self, server: MockServer) -> None:
        self.server = server
        self.in_transaction = False
        self.state = "none"
        self.cluster_time: Any = None
        self.operation_time: Any = None
        self._undo: list[tuple[Any, Any, dict[str, Any] | None]] = []
        self._touched: set[tuple[str, Any]] = set()

    def start_transaction(self, **_options: Any) -> MockSession:
        if not self.server.replica_set:
            raise OperationFailure(
                "Transaction numbers are only allowed on a replica set member or mongos", 20
            )
        if self.in_transaction:
            raise InvalidOperation("Transaction already in progress")
        self.server.begin()
        self.in_transaction = True
        self.state = "started"
        self._undo, self._touched = [], set()
        return self

    def commit_transaction(self) -> None:
        if self.in_transaction:
            self.in_transaction = False
            self.state = "committed"
            self._undo = []
            self.server.commits += 1
            self.server.end()
            return
        if self.state == "committed":
            return  # a repeated commit answers with the first one's outcome
        raise InvalidOperation("No transaction started")

    def abort_transaction(self) -> None:
        if not self.in_transaction:
            raise InvalidOperation("No transaction started")
        try:
            for raw, key, before in reversed(self._undo):
                raw.delete_one({"_id": key})
                if before is not None:
                    raw.insert_one(before)
        finally:
            self.in_transaction = False
            self.state = "aborted"
            self.server.aborts += 1
            self.server.end()

    def remember(self, raw: Any, keys: list[Any]) -> None:
        """Keep the before-image of each document a transaction is about to touch."""
        for key in keys:
            mark = (raw.full_name, _freeze(key))
            if mark in self._touched:
                continue
            self._touched.add(mark)
            self._undo.append((raw, key, raw.find_one({"_id": key})))

    def end_session(self) -> None:
        if self.in_transaction:
            self.abort_transaction()

    def advance_cluster_time(self, _value: Any) -> None:
        pass

    def advance_operation_time(self, _value: Any) -> None:
        pass

    def __enter__(self) -> MockSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.end_session()


class MockCollection:
    """A mongomock collection that takes `session=` as pymongo's does."""

    def __init__(self, server: MockServer, raw: Any) -> None:
        self.server = server
        self.raw = raw
        self.name = raw.name

    def _read(self, session: MockSession | None, fn: Callable[[], Any]) -> Any:
        with self.server.operation(session):
            return fn()

    def _write(
        self,
        session: MockSession | None,
        fn: Callable[[], Any],
        touched: Callable[[], list[Any]],
        upsert: bool = False,
    ) -> Any:
        with self.server.operation(session) as in_txn:
            if not in_txn:
                return fn()
            assert session is not None
            session.remember(self.raw, touched())
            before = {d["_id"] for d in self.raw.find({}, {"_id": 1})} if upsert else set()
            try:
                return fn()
            finally:
                if upsert:  # an upserted document did not exist before
                    after = {d["_id"] for d in self.raw.find({}, {"_id": 1})}
                    session.remember(self.raw, [k for k in after - before])

    def _ids(self, spec: Any) -> list[Any]:
        return [d["_id"] for d in self.raw.find(spec, {"_id": 1})]

    # reads
    def find(
        self, spec: Any = None, projection: Any = None, *, session: Any = None, **kw: Any
    ) -> Any:
        return self._read(session, lambda: self._find(spec or {}, projection, **kw))

    def _find(self, spec: Any, projection: Any, **kw: Any) -> list[Any]:
        # Fast path for the log's paging (sort by position, limit): walk the
        # candidates in position order and stop at the limit, rather than let
        # mongomock match and sort the whole collection for ten rows.
        limit = kw.get("limit") or 0
        if limit and set(kw) <= {"sort", "limit"} and kw.get("sort") == [("_id", 1)]:
            store = self.raw._store
            ids = _index_of(store).candidates(spec) if store._documents else None
            if ids is not None and all(type(i) is int for i in ids):
                picked: list[Any] = []
                documents = store._documents
                for key in sorted(ids):
                    doc = documents.get(key)
                    if doc is not None and mm_collection.filter_applies(spec, doc):
                        picked.append(key)
                        if len(picked) == limit:
                            break
                return list(self.raw.find({"_id": {"$in": picked}}, projection, sort=kw["sort"]))
        return list(self.raw.find(spec, projection, **kw))

    def find_one(
        self, spec: Any = None, projection: Any = None, *, session: Any = None, **kw: Any
    ) -> Any:
        return self._read(session, lambda: self.raw.find_one(spec, projection, **kw))

    def count_documents(self, spec: Any, *, session: Any = None, **kw: Any) -> int:
        return int(self._read(session, lambda: self.raw.count_documents(spec, **kw)))

    def aggregate(self, pipeline: list[dict[str, Any]], *, session: Any = None, **_: Any) -> Any:
        def run() -> list[Any]:
            # Start from an (accelerated) find for a leading $match.
            if pipeline and "$match" in pipeline[0]:
                docs = list(self.raw.find(pipeline[0]["$match"]))
                rest = pipeline[1:]
            else:
                docs, rest = list(self.raw.find()), pipeline
            from mongomock import aggregate

            run_pipeline: Any = aggregate.process_pipeline
            return list(run_pipeline(docs, self.raw.database, rest, None))

        return self._read(session, run)

    # writes
    def insert_one(self, doc: dict[str, Any], *, session: Any = None, **kw: Any) -> Any:
        doc.setdefault("_id", uuid.uuid4().hex)
        return self._write(session, lambda: self.raw.insert_one(doc, **kw), lambda: [doc["_id"]])

    def insert_many(self, docs: list[dict[str, Any]], *, session: Any = None, **kw: Any) -> Any:
        for doc in docs:
            doc.setdefault("_id", uuid.uuid4().hex)
        return self._write(
            session, lambda: self.raw.insert_many(docs, **kw), lambda: [d["_id"] for d in docs]
        )

    def update_one(self, spec: Any, update: Any, *, session: Any = None, **kw: Any) -> Any:
        return self._write(
            session,
            lambda: self.raw.update_one(spec, update, **kw),
            lambda: self._ids(spec)[:1],
            upsert=bool(kw.get("upsert")),
        )

    def replace_one(self, spec: Any, doc: Any, *, session: Any = None, **kw: Any) -> Any:
        return self._write(
            session,
            lambda: self.raw.replace_one(spec, doc, **kw),
            lambda: self._ids(spec)[:1],
            upsert=bool(kw.get("upsert")),
        )

    def update_many(self, spec: Any, update: Any, *, session: Any = None, **kw: Any) -> Any:
        return self._write(
            session,
            lambda: self.raw.update_many(spec, update, **kw),
            lambda: self._ids(spec),
            upsert=bool(kw.get("upsert")),
        )

    def find_one_and_update(self, spec: Any, update: Any, *, session: Any = None, **kw: Any) -> Any:
        return self._write(
            session,
            lambda: self.raw.find_one_and_update(spec, update, **kw),
            lambda: self._ids(spec)[:1],
            upsert=bool(kw.get("upsert")),
        )

    def delete_many(self, spec: Any, *, session: Any = None, **kw: Any) -> Any:
        return self._write(
            session, lambda: self.raw.delete_many(spec, **kw), lambda: self._ids(spec)
        )

    def delete_one(self, spec: Any, *, session: Any = None, **kw: Any) -> Any:
        return self._write(
            session, lambda: self.raw.delete_one(spec, **kw), lambda: self._ids(spec)[:1]
        )

    def create_index(self, keys: Any, **kw: Any) -> Any:
        with self.server.operation(None):
            return self.raw.create_index(keys, **kw)

    def index_information(self) -> dict[str, Any]:
        with self.server.operation(None):
            return dict(self.raw.index_information())

    def drop(self, **_: Any) -> None:
        with self.server.operation(None):
            self.raw.drop()


# --- fault injection (any client: this adapter or a real MongoClient) --------------------


@dataclass
class Fault:
    op: str  # "events.insert_many", "meta.update_one", "commit_transaction", "*"
    error: Callable[[], Exception | None]  # None: no error (a hook that pauses, counts...)
    times: int = 1
    after: bool = False  # the operation happens, then the error: a lost acknowledgement
    skip: int = 0  # let this many matching calls through first
    hits: int = 0


@dataclass
class Faults:
    faults: list[Fault] = field(default_factory=list)
    cut: bool = False  # every operation fails: the process's connection is gone
    calls: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: str, error: Callable[[], Exception | None], **kw: Any) -> Fault:
        fault = Fault(op, error, **kw)
        with self._lock:
            self.faults.append(fault)
        return fault

    def check(self, op: str, after: bool) -> None:
        chosen: Fault | None = None
        with self._lock:
            if not after:
                self.calls.append(op)
            if self.cut:
                raise AutoReconnect(f"connection cut before {op}")
            for fault in self.faults:
                if fault.after != after or fault.op not in (op, "*"):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.hits < fault.times:
                    fault.hits += 1
                    chosen = fault
                    break
        if chosen is not None:  # outside the lock: a hook may pause this thread
            exc = chosen.error()
            if exc is not None:
                raise exc


def transient(label: str = "", code: int | None = None) -> Callable[[], Exception]:
    """An error factory: AutoReconnect, or an OperationFailure with a code and label."""

    def make() -> Exception:
        if code is None:
            exc: Exception = AutoReconnect("injected network error")
        else:
            exc = OperationFailure("injected failure", code)
        if label:
            exc._add_error_label(label)  # type: ignore[attr-defined]
        return exc

    return make


def _unwrap(session: Any) -> Any:
    return session.inner if isinstance(session, FaultySession) else session


class FaultyClient:
    def __init__(self, inner: Any, faults: Faults | None = None) -> None:
        self.inner = inner
        self.faults = faults or Faults()
        self.write_concern = inner.write_concern
        self.read_concern = inner.read_concern
        self.admin = _FaultyAdmin(self)

    def get_database(self, name: str, **options: Any) -> _FaultyDatabase:
        return _FaultyDatabase(self, self.inner.get_database(name, **options))

    def start_session(self, **options: Any) -> FaultySession:
        self.faults.check("start_session", False)
        return FaultySession(self, self.inner.start_session(**options))

    def close(self) -> None:
        pass


class _FaultyAdmin:
    def __init__(self, client: FaultyClient) -> None:
        self.client = client

    def command(self, name: str, *args: Any, **kw: Any) -> Any:
        self.client.faults.check(f"admin.{name}", False)
        return self.client.inner.admin.command(name, *args, **kw)


class _FaultyDatabase:
    def __init__(self, client: FaultyClient, inner: Any) -> None:
        self.client = client
        self.inner = inner

    def get_collection(self, name: str, **options: Any) -> _FaultyCollection:
        return _FaultyCollection(self.client, self.inner.get_collection(name, **options))

    def drop_collection(self, name: str) -> None:
        self.client.faults.check(f"drop.{name}", False)
        self.inner.drop_collection(name)


class _FaultyCollection:
    def __init__(self, client: FaultyClient, inner: Any) -> None:
        self.client = client
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, method: str) -> Any:
        target = getattr(self.inner, method)
        op = f"{self.name}.{method}"
        faults = self.client.faults

        def call(*args: Any, **kw: Any) -> Any:
            if "session" in kw:
                kw["session"] = _unwrap(kw["session"])
            faults.check(op, False)
            result = target(*args, **kw)
            if method in ("find", "aggregate"):
                result = list(result)  # consume before the error a lost reply would raise
            faults.check(op, True)
            return result

        return call


class FaultySession:
    def __init__(self, client: FaultyClient, inner: Any) -> None:
        self.client = client
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def start_transaction(self, **kw: Any) -> Any:
        self.client.faults.check("start_transaction", False)
        return self.inner.start_transaction(**kw)

    def commit_transaction(self) -> None:
        self.client.faults.check("commit_transaction", False)
        self.inner.commit_transaction()
        self.client.faults.check("commit_transaction", True)

    def end_session(self) -> None:
        with suppress(Exception):  # a cut connection cannot end it: the server times it out
            self.inner.end_session()


# --- targets ---------------------------------------------------------------------------


@dataclass
class Target:
    """Where a test's stores live: a shared in-process server, or a real one."""

    name: str
    url: str
    mode: str  # the MongoBackend mode
    server: MockServer | None = None
    _clients: list[Any] = field(default_factory=list)
    _databases: list[str] = field(default_factory=list)

    @property
    def is_real(self) -> bool:
        return self.server is None

    def client(self) -> Any:
        """A new client on the same data (a new 'process' on mongomock)."""
        if self.server is not None:
            return self.server.client()
        import pymongo

        client: Any = pymongo.MongoClient(self.url, uuidRepresentation="standard")
        self._clients.append(client)
        return client

    def sibling(self, suffix: str) -> Target:
        """Another database on the same server (dropped with this one)."""
        from eventstate.backends.mongo.settings import parse_mongo_url, with_database

        database = f"{parse_mongo_url(self.url).database}_{suffix}"
        self._databases.append(database)
        url = with_database(self.url, database)
        return Target(self.name, url, self.mode, self.server, self._clients, self._databases)

    def cleanup(self) -> None:
        if self.server is None and self._clients:
            from eventstate.backends.mongo.settings import parse_mongo_url

            for database in [parse_mongo_url(self.url).database, *self._databases]:
                self._clients[0].drop_database(database)
        for client in self._clients:
            client.close()


TARGET_NAMES = ["mongomock-rs", "mongomock-standalone", "real", "real-standalone-mode"]


def make_target(name: str) -> Target:
    database = f"eventstate_test_{uuid.uuid4().hex[:16]}"
    if name.startswith("mongomock"):
        replica_set = name == "mongomock-rs"
        return Target(
            name,
            f"mongodb://localhost/{database}",
            "auto",
            MockServer(replica_set=replica_set),
        )
    if not REAL_URI:
        pytest.skip(f"{URI_VAR} is not set: no real MongoDB server to test against")
    from eventstate.backends.mongo.settings import with_database

    mode = "standalone" if name == "real-standalone-mode" else "auto"
    return Target(name, with_database(REAL_URI, database), mode)


def deep(doc: Any) -> Any:
    return copy.deepcopy(doc)


@pytest.fixture(params=TARGET_NAMES, name="target")
def target_fixture(request: pytest.FixtureRequest) -> Iterator[Target]:
    """Every MongoDB target in turn (the real ones skip without a server)."""
    made = make_target(request.param)
    yield made
    made.cleanup()


def open_backend(target: Target, client: Any = None, **options: Any) -> Any:
    """A MongoBackend on the target (a new client, i.e. a new 'process', unless given)."""
    from eventstate.backends.mongo.retry import RetryPolicy
    from eventstate.backends.mongodb import MongoBackend
    from eventstate.releases import CODE_RELEASE

    options.setdefault("mode", target.mode)
    options.setdefault("retry", RetryPolicy(base_s=0.001, max_wait_s=0.02))
    return MongoBackend(
        target.url,
        initial_release=options.pop("initial_release", CODE_RELEASE),
        client=client if client is not None else target.client(),
        **options,
    )
