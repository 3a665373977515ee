"""The MongoDB backend (`mongodb://host1,host2,host3/dbname?replicaSet=rs0`).

State servers that outgrow one machine share a MongoDB replica set, as Juju's
controllers do. This backend gives everything SQLiteBackend gives, and is
eventsourcing's ProcessRecorder too.

Positions are gap-free and in commit order, so a catching-up reader never
skips an event that commits late (the "max + 1" bug):

- replica set / sharded cluster: each append is one multi-document
  transaction that also advances the log head in the store document; two
  appenders write-conflict on it and one retries (see mongo/writer.py);
- standalone server (no transactions): head-pointer commits under a write
  lock with expiry; rows above the head are invisible and a dead writer's
  leftovers are removed by the next writer;
- imports on either: the staged path, all or nothing at any size.

Readers only return rows at positions <= the head. Majority write and read
concerns by default (a `w=` or `readConcernLevel=` in the URL wins);
transient errors are retried with bounded jittered backoff (mongo/retry.py).
The lease and the write lock expire on the server's clock (mongo/clock.py).
See docs/mongodb.md for deployment.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any, Literal
from uuid import UUID

from eventsourcing.persistence import (
    Notification,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
)
from pymongo import ASCENDING, DESCENDING, MongoClient, ReadPreference
from pymongo.collection import Collection
from pymongo.errors import ConfigurationError, DuplicateKeyError, OperationFailure

from eventstate.backends.base import (
    NO_READS,
    FullRow,
    LeaseState,
    NewRow,
    Row,
    StoreMeta,
    WriteGuard,
    share_rows,
)
from eventstate.backends.mongo.clock import ServerClock
from eventstate.backends.mongo.context import Context, Session
from eventstate.backends.mongo.documents import (
    EVENTS,
    LEASE,
    META,
    ROW_FIELDS,
    STORE_ID,
    TRACKING,
    Doc,
    meta_from_doc,
    new_store_doc,
    to_row,
)
from eventstate.backends.mongo.lease import Leases
from eventstate.backends.mongo.lock import WriteLock
from eventstate.backends.mongo.retry import RetryPolicy, one_line
from eventstate.backends.mongo.sessions import Sessions
from eventstate.backends.mongo.settings import (
    effective_read_concern,
    effective_write_concern,
    parse_mongo_url,
)
from eventstate.backends.mongo.subscription import PollingSubscription
from eventstate.backends.mongo.writer import Writer
from eventstate.errors import EventStateError, StoreURLError
from eventstate.gating import APPEND_GUARD
from eventstate.timeutil import format_us, now_us

Mode = Literal["auto", "transactions", "standalone"]
_PAGE = 10_000
_HASH_PAGE = 50_000
_FULL_PAGE = 20_000  # rows with their hash, for verify
_FULL_FIELDS = {**ROW_FIELDS, "hash": 1}


class MongoBackend(ProcessRecorder):
    """An eventstate backend and an eventsourcing ProcessRecorder on one MongoDB database."""

    def __init__(
        self,
        url: str,
        *,
        initial_release: str,
        client: MongoClient[dict[str, Any]] | None = None,
        mode: Mode = "auto",
        retry: RetryPolicy | None = None,
        lock_ttl_s: float = 30.0,
        lock_timeout_s: float = 30.0,
        local_clock: Callable[[], int] = now_us,
        create_indexes: bool = True,
        chunk: int = 1000,
    ) -> None:
        self._url = parse_mongo_url(url)
        # As given: worker processes (parallel verify, partitioned rebuilds) reopen the
        # store from it. Everything this backend shows uses the redacted form.
        self.url = url
        self.database = self._url.database
        self._owns_client = client is None
        self._client = client if client is not None else self._connect()
        policy = replace(retry or RetryPolicy(), scrub=self._url.scrub)
        try:
            sent = local_clock()
            try:
                hello = policy.call("hello", self._hello)
            except EventStateError as exc:
                raise StoreURLError(f"cannot open store {self._url.redacted}: {exc}") from None
            received = local_clock()
            replicated = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
            self.transactions = replicated if mode == "auto" else mode == "transactions"
            self.write_concern = effective_write_concern(self._client.write_concern, replicated)
            self.read_concern = effective_read_concern(self._client.read_concern, replicated)
            db = self._client.get_database(
                self.database,
                write_concern=self.write_concern,
                read_concern=self.read_concern,
                read_preference=ReadPreference.PRIMARY,
            )
            self._db = db
            sessions = Sessions(self._client, policy, self.write_concern)
            # Re-measured now and then, from inside other operations: retried too.
            clock = ServerClock(lambda: policy.call("hello", self._hello), local_clock)
            clock.observe(hello, sent, received)
            meta = db.get_collection(META)
            self._ctx = Context(
                events=db.get_collection(EVENTS),
                meta=meta,
                lease=db.get_collection(LEASE),
                tracking=db.get_collection(TRACKING),
                sessions=sessions,
                lock=WriteLock(meta, sessions, clock, lock_ttl_s, lock_timeout_s),
                clock=clock,
                transactions=self.transactions,
                chunk=chunk,
            )
            self._writer = Writer(self._ctx)
            self._leases = Leases(self._ctx, self._writer.under_lock)
            if create_indexes:
                policy.call("create indexes", self._create_indexes)
            self._bootstrap(initial_release)
            self._writer.recover()  # a writer that died while this store was closed
        except BaseException:
            self.close()
            raise
        self._subscriptions: weakref.WeakSet[PollingSubscription] = weakref.WeakSet()
        self._subscriptions_lock = threading.Lock()

    # --- connection --------------------------------------------------------------

    def _connect(self) -> MongoClient[dict[str, Any]]:
        # An unreachable server fails in 5 s, not pymongo's 30 s, unless the URL says.
        timeouts: dict[str, Any] = {}
        if "serverselectiontimeoutms" not in self._url.raw.lower():
            timeouts["serverSelectionTimeoutMS"] = 5_000
        try:
            return MongoClient(
                self._url.raw,
                appname="eventstate",
                uuidRepresentation="standard",
                tz_aware=False,
                **timeouts,
            )
        except (ConfigurationError, ValueError) as exc:  # pymongo raises ValueError on bad ports
            raise StoreURLError(
                f"cannot open store {self._url.redacted}: {one_line(exc, self._url.scrub)}"
            ) from None

    def _hello(self) -> dict[str, Any]:
        try:
            return self._client.admin.command("hello")
        except OperationFailure:  # servers before 4.4.2 only know isMaster
            return self._client.admin.command("isMaster")

    def _create_indexes(self) -> None:
        events = self._ctx.events
        events.create_index(
            [("stream", ASCENDING), ("version", ASCENDING)], unique=True, name="stream_version"
        )
        events.create_index([("type", ASCENDING), ("_id", ASCENDING)], name="type_position")
        # Transactions write `tracking`: create it here, not implicitly inside one
        # (which servers before 4.4 refuse).
        self._ctx.tracking.create_index([("notification_id", ASCENDING)], name="notification_id")

    def _bootstrap(self, initial_release: str) -> None:
        ctx = self._ctx

        def create(session: Session) -> None:
            with suppress(DuplicateKeyError):  # another process created it first
                ctx.meta.update_one(
                    {"_id": STORE_ID},
                    {"$setOnInsert": new_store_doc(initial_release, format_us(now_us()))},
                    upsert=True,
                    session=session,
                )

        ctx.sessions.run("create the store", create)

    def close(self) -> None:
        if self._owns_client and getattr(self, "_client", None) is not None:
            self._client.close()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "mongodb",
            "url": self._url.redacted,
            "database": self.database,
            "commits": (
                "multi-document transactions" if self.transactions else "head-pointer commits"
            ),
            "write_concern": dict(self.write_concern.document) or "server default",
            "read_concern": self.read_concern.level or "server default",
            "lease_clock": self._ctx.clock.source,
        }

    # Exposed for projection storage in the same database (projections/storage/mongodb.py).
    @property
    def sessions(self) -> Sessions:
        return self._ctx.sessions

    def collection(self, name: str) -> Collection[Doc]:
        return self._db.get_collection(name)

    def drop_collection(self, name: str) -> None:
        self._ctx.sessions.policy.call(f"drop {name}", lambda: self._db.drop_collection(name))

    @contextmanager
    def exclusive(self, operation: str) -> Iterator[None]:
        """Hold the store's write lock: appends wait until the block ends (a
        projection's publish "serialises with appends", as SQLite's write lock does)."""
        lock = self._ctx.lock
        owner = lock.new_owner(operation.replace(" ", "-"))
        lock.take(owner, operation)
        try:
            yield
        finally:
            lock.release(owner)

    def iter_log_where(self, after: int, upto: int | None, where: Doc) -> Iterator[Row]:
        """iter_log narrowed by a server-side filter on the event documents (projection
        storage's partitioned rebuilds)."""
        for docs in self._pages("read the log", after, upto, where, ROW_FIELDS, _PAGE):
            yield from map(to_row, docs)

    # --- metadata ----------------------------------------------------------------------

    def read_meta(self) -> StoreMeta:
        ctx = self._ctx
        return meta_from_doc(ctx.sessions.run("read metadata", ctx.store_doc))

    def write_meta(self, guard: WriteGuard) -> StoreMeta:
        if self.transactions:
            return self._writer.transactional(
                "write metadata", [], guard, strict=True, extends_chain=False
            ).meta
        return self._writer.staged("write metadata", "metadata", [], guard, strict=True).meta

    # --- appending -----------------------------------------------------------------------

    def append(
        self, rows: Sequence[NewRow], guard: WriteGuard, unchanged: Mapping[str, int] = NO_READS
    ) -> list[int]:
        rows = list(rows)
        if self.transactions:
            outcome = self._writer.transactional(
                "append", rows, guard, strict=True, unchanged=unchanged
            )
        else:
            outcome = self._writer.staged(
                "append", "append", [rows], guard, strict=True, unchanged=unchanged
            )
        self._wake()
        return outcome.positions

    def append_stream_of_batches(
        self,
        batches: Iterable[Sequence[NewRow]],
        guard: WriteGuard,
        *,
        trusted_versions: bool = False,
    ) -> int:
        """The staged path (mongo/writer.py): all or nothing at any size. With
        trusted_versions (the caller checked every stream starts at 1 and is
        contiguous) and an empty log, only the first batch is checked, as SQLite
        does; the unique (stream, version) index still refuses a duplicate."""
        outcome = self._writer.staged(
            "import", "import", batches, guard, strict=True, trusted_versions=trusted_versions
        )
        self._wake()
        return outcome.count

    # --- reading -------------------------------------------------------------------------

    def head(self) -> int:
        return self._ctx.sessions.run("read the log head", self._ctx.visible_head)

    def count(self) -> int:
        ctx = self._ctx

        def count(session: Session) -> int:
            head = ctx.visible_head(session)
            return ctx.events.count_documents({"_id": {"$lte": head}}, session=session)

        return ctx.sessions.run("count events", count)

    def stream_heads(self, streams: Iterable[str]) -> dict[str, int]:
        ctx = self._ctx
        wanted = list(dict.fromkeys(streams))

        def heads(session: Session) -> dict[str, int]:
            return ctx.heads(wanted, session, upto=ctx.visible_head(session))

        return ctx.sessions.run("read stream heads", heads) if wanted else {}

    def read_stream(self, stream: str, gt: int = 0, lte: int | None = None) -> list[Row]:
        ctx = self._ctx
        versions: dict[str, int] = {"$gt": gt}
        if lte is not None:
            versions["$lte"] = lte

        def read(session: Session) -> list[Row]:
            head = ctx.visible_head(session)
            cursor = ctx.events.find(
                {"stream": stream, "version": versions, "_id": {"$lte": head}},
                ROW_FIELDS,
                sort=[("version", ASCENDING)],
                session=session,
            )
            return [to_row(doc) for doc in cursor]

        return ctx.sessions.run(f"read stream {stream}", read)

    def _pages(
        self,
        operation: str,
        after: int,
        upto: int | None,
        extra: Doc,
        fields: Doc,
        page: int,
    ) -> Iterator[list[Doc]]:
        """Pages of event documents with after < position <= min(upto, head)."""
        ctx = self._ctx
        while True:

            def read(session: Session, after: int = after) -> list[Doc]:
                top = ctx.visible_head(session)
                if upto is not None:
                    top = min(top, upto)
                if after >= top:
                    return []
                cursor = ctx.events.find(
                    {"_id": {"$gt": after, "$lte": top}, **extra},
                    fields,
                    sort=[("_id", ASCENDING)],
                    limit=page,
                    session=session,
                )
                return list(cursor)

            docs = ctx.sessions.run(operation, read)
            if docs:
                yield docs
            if len(docs) < page:
                return
            after = int(docs[-1]["_id"])

    def iter_log(
        self, after: int = 0, upto: int | None = None, types: Sequence[str] = (), page: int = _PAGE
    ) -> Iterator[Row]:
        extra: Doc = {"type": {"$in": list(types)}} if types else {}
        for docs in self._pages("read the log", after, upto, extra, ROW_FIELDS, page):
            yield from map(to_row, docs)

    def iter_streams_prefix(self, prefix: str, after: int = 0) -> Iterator[Row]:
        # A range on the (stream, version) index: every stream id that starts with prefix.
        extra: Doc = {"stream": {"$gte": prefix, "$lt": prefix + "\U0010ffff"}}
        for docs in self._pages("read streams", after, None, extra, ROW_FIELDS, _PAGE):
            yield from map(to_row, docs)

    def list_streams(self, prefix: str) -> list[str]:
        """Ids of the streams that start with prefix (those with a version 1), sorted."""
        ctx = self._ctx

        def read(session: Session) -> list[str]:
            cursor = ctx.events.find(
                {
                    "stream": {"$gte": prefix, "$lt": prefix + "\U0010ffff"},
                    "version": 1,
                    "_id": {"$lte": ctx.visible_head(session)},
                },
                {"stream": 1, "_id": 0},
                sort=[("stream", ASCENDING)],
                session=session,
            )
            return [doc["stream"] for doc in cursor]

        return ctx.sessions.run("list streams", read)

    def iter_hashes(self, after: int = 0) -> Iterator[tuple[int, bytes]]:
        for docs in self._pages("read hashes", after, None, {}, {"hash": 1}, _HASH_PAGE):
            for doc in docs:
                yield int(doc["_id"]), bytes(doc["hash"])

    def iter_full_rows(self, after: int = 0) -> Iterator[tuple[Any, ...]]:
        """Every column including the hash, for `verify`."""
        return self._full_rows(after, None, {})

    def iter_full_rows_share(
        self, after: int, upto: int, span: tuple[int, int], part: int, parts: int
    ) -> Iterator[tuple[Any, ...]]:
        """The server sends the span and a superset of the partition (partition_filter);
        the rest of the filter runs here."""
        low, high = span
        extra: Doc = {}
        if parts > 1:
            extra = {"$or": [{"_id": {"$gte": low, "$lte": high}}, partition_filter(part, parts)]}
        return share_rows(self._full_rows(after, upto, extra), upto, span, part, parts)

    def _full_rows(self, after: int, upto: int | None, extra: Doc) -> Iterator[FullRow]:
        for docs in self._pages("read the log", after, upto, extra, _FULL_FIELDS, _FULL_PAGE):
            for doc in docs:
                yield (*to_row(doc), bytes(doc["hash"]))

    def hash_before(self, position: int) -> tuple[int, bytes] | None:
        ctx = self._ctx

        def read(session: Session) -> Doc | None:
            top = min(position - 1, ctx.visible_head(session))
            found: Doc | None = ctx.events.find_one(
                {"_id": {"$lte": top}}, {"hash": 1}, sort=[("_id", DESCENDING)], session=session
            )
            return found

        doc = ctx.sessions.run("read a hash", read)
        return None if doc is None else (int(doc["_id"]), bytes(doc["hash"]))

    # --- the upgrade lease (mongo/lease.py: server clock, fencing tokens) ----------------

    def read_lease(self) -> LeaseState | None:
        return self._leases.read()

    def acquire_lease(self, holder: str, ttl_s: float, now_us: int) -> LeaseState:
        return self._leases.acquire(holder, ttl_s, now_us)

    def renew_lease(self, token: int, ttl_s: float, now_us: int) -> LeaseState:
        return self._leases.renew(token, ttl_s, now_us)

    def release_lease(self, token: int) -> None:
        self._leases.release(token)

    # --- eventsourcing's recorder interface ------------------------------------------------

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        """eventsourcing's insert: topic stored as the type name, schema 1, time now.

        A clash on (stream, version) raises ConcurrencyConflictError, which is
        eventsourcing's IntegrityError. A tracking record is saved atomically.
        """
        recorded_at = now_us()
        rows: list[NewRow] = [
            (str(s.originator_id), s.originator_version, s.topic, 1, recorded_at, s.state)
            for s in stored_events
        ]
        tracking: Tracking | None = kwargs.get("tracking")
        guard = APPEND_GUARD
        if self.transactions:
            outcome = self._writer.transactional(
                "insert events", rows, guard, strict=False, tracking=tracking
            )
        else:
            outcome = self._writer.staged(
                "insert events", "append", [rows], guard, strict=False, tracking=tracking
            )
        self._wake()
        return outcome.positions

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        ctx = self._ctx
        stream = str(originator_id)
        versions: Doc = {}
        if gt is not None:
            versions["$gt"] = gt
        if lte is not None:
            versions["$lte"] = lte

        def select(session: Session) -> list[Doc]:
            query: Doc = {"stream": stream, "_id": {"$lte": ctx.visible_head(session)}}
            if versions:
                query["version"] = versions
            cursor = ctx.events.find(
                query,
                {"version": 1, "type": 1, "state": 1},
                sort=[("version", DESCENDING if desc else ASCENDING)],
                limit=limit or 0,
                session=session,
            )
            return list(cursor)

        docs = ctx.sessions.run(f"select events of {stream}", select)
        return [
            StoredEvent(
                originator_id=originator_id,
                originator_version=int(d["version"]),
                topic=d["type"],
                state=bytes(d["state"]),
            )
            for d in docs
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
        ctx = self._ctx

        def select(session: Session) -> list[Doc]:
            top = ctx.visible_head(session)
            if stop is not None:
                top = min(top, stop)
            positions: Doc = {"$lte": top}
            if start is not None:
                positions["$gte" if inclusive_of_start else "$gt"] = start
            query: Doc = {"_id": positions}
            if topics:
                query["type"] = {"$in": list(topics)}
            cursor = ctx.events.find(
                query,
                {"stream": 1, "version": 1, "type": 1, "state": 1},
                sort=[("_id", ASCENDING)],
                limit=limit,
                session=session,
            )
            return list(cursor)

        docs = ctx.sessions.run("select notifications", select)
        return [
            Notification(
                id=int(d["_id"]),
                originator_id=_parse_originator(d["stream"]),
                originator_version=int(d["version"]),
                topic=d["type"],
                state=bytes(d["state"]),
            )
            for d in docs
        ]

    def max_notification_id(self) -> int | None:
        return self.head() or None

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[Any]:
        subscription = PollingSubscription(self, gt=gt, topics=topics)
        with self._subscriptions_lock:
            self._subscriptions.add(subscription)
        return subscription

    def _wake(self) -> None:
        with self._subscriptions_lock:
            live = list(self._subscriptions)
        for subscription in live:
            subscription.wake()

    def insert_tracking(self, tracking: Tracking) -> None:
        self._writer.tracking.insert(tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        ctx = self._ctx
        return ctx.sessions.run(
            "read tracking",
            lambda s: self._writer.tracking.value(application_name, ctx.store_doc(s), s),
        )


def partition_filter(part: int, parts: int) -> Doc:
    """A server-side superset of the streams with stream_partition(stream, parts) ==
    part: those whose character after the first colon is an ASCII one of this part, and
    every stream the ASCII test cannot decide (no colon, nothing after it, a non-ASCII
    character). Verify's shares and the projections' partitioned rebuilds use it."""
    ascii_ = "".join(f"\\x{c:02x}" for c in range(128) if c % parts == part)
    undecided: Doc = {"stream": {"$not": re.compile(r"^[^:]*:[\x00-\x7f]")}}
    if not ascii_:
        return undecided
    return {"$or": [{"stream": {"$regex": f"^[^:]*:[{ascii_}]"}}, undecided]}


def _parse_originator(stream: str) -> UUID | str:
    # eventsourcing applications use UUID ids; eventstate's stream ids never parse as one.
    if len(stream) == 36:
        try:
            return UUID(stream)
        except ValueError:
            pass
    return stream
