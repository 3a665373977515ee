"""The two write paths of the MongoDB backend and their recovery.

Transactional (replica sets and sharded clusters, every append): one
multi-document transaction reads the store document, runs the guard and the
version checks, advances `head` (and `head_hash`) and inserts the events at
head+1.. . Two concurrent appenders both write the store document, so the
second one hits a write conflict, is aborted and retried: commits are
serialised on that document and position order is commit order, without gaps.

Staged (standalone servers, and imports everywhere): take the write lock (in
the store document), remove anything a dead writer left above the head, insert
the events above the head, then commit with ONE conditional update of the
store document that advances the head and releases the lock. Readers only read
positions <= head, so nothing is visible before that update and everything is
after it: all or nothing even if the process is killed part way, whatever the
size of the import.

Every append carries a batch id on its events. A retry after a lost
acknowledgement (the server committed, the reply never came) finds its own
batch at the head and reports success instead of writing twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from eventsourcing.persistence import Tracking
from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from eventstate.backends.base import NO_READS, NewRow, StoreMeta, WriteGuard, check_unchanged
from eventstate.backends.mongo.context import Context, Session
from eventstate.backends.mongo.documents import (
    STORE_ID,
    Doc,
    event_docs,
    meta_from_doc,
    meta_set,
)
from eventstate.backends.mongo.lock import LockInfo, LockLostError, StoreBusyError
from eventstate.backends.mongo.retry import MongoOperationError, RetrySignal
from eventstate.backends.mongo.sequencing import check_strict, check_unique, chunks
from eventstate.backends.mongo.tracking import TrackingRecords
from eventstate.errors import ConcurrencyConflictError, EventStateError
from eventstate.hashing import GENESIS

T = TypeVar("T")
_ORPHAN_ROUNDS = 3


class _Locked(Exception):
    """The write lock is held: a transactional writer must wait outside its transaction."""

    def __init__(self, info: LockInfo) -> None:
        self.info = info


class _Orphans(Exception):
    """Rows above the head from a dead writer: clean up, then run again."""


@dataclass(frozen=True)
class Outcome:
    first: int  # position of the first new event
    count: int
    meta: StoreMeta

    @property
    def positions(self) -> list[int]:
        return list(range(self.first, self.first + self.count))


def new_batch_id() -> str:
    return uuid.uuid4().hex


def _is_duplicate(exc: Exception) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors", [])
        return bool(errors) and all(e.get("code") == 11000 for e in errors)
    return False


class Writer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tracking = TrackingRecords(ctx)

    # --- transactional -----------------------------------------------------------

    def transactional(
        self,
        operation: str,
        rows: Sequence[NewRow],
        guard: WriteGuard,
        *,
        strict: bool,
        tracking: Tracking | None = None,
        extends_chain: bool = True,
        unchanged: Mapping[str, int] = NO_READS,
    ) -> Outcome:
        """extends_chain: an append, even an empty one, (re)writes head_hash, as
        SQLite's does (an empty store's becomes GENESIS); a metadata write does not."""
        ctx = self.ctx
        batch = new_batch_id()

        def body(session: ClientSession) -> Outcome:
            doc = ctx.store_doc(session)
            info = LockInfo.of(doc)
            if info is not None:
                raise _Locked(info)
            head = int(doc["head"])
            meta = meta_from_doc(doc)
            if rows:
                first = rows[0]
                mine = ctx.events.find_one(
                    {"stream": first[0], "version": first[1], "_id": {"$lte": head}},
                    {"batch": 1},
                    session=session,
                )
                if mine is not None and mine.get("batch") == batch:
                    return Outcome(int(mine["_id"]), len(rows), meta)  # committed already
                if ctx.has_rows_above(head, session):
                    raise _Orphans
            elif tracking is not None and self.tracking.recorded_by(tracking, batch, session):
                return Outcome(head + 1, 0, meta)  # a tracking-only write, committed already
            new_meta = guard.check(meta, ctx.read_lease(session), head)
            self._check_versions(rows, strict, session)
            if unchanged:  # read in the transaction that must win the head: current
                check_unchanged(unchanged, ctx.heads(list(unchanged), session, upto=head))
            if tracking is not None:
                self.tracking.check(tracking, doc, session)
            update: Doc = {}
            if new_meta is not None:
                update.update(meta_set(new_meta, doc))
            docs: list[Doc] = []
            if extends_chain:
                previous = bytes(doc.get("head_hash") or b"") or GENESIS
                docs, last_hash = event_docs(rows, head + 1, previous, batch)
                update["head"] = head + len(rows)
                update["head_hash"] = last_hash
            if update:
                # The write that serialises commits: first, so a loser aborts early.
                result = ctx.meta.update_one(
                    {"_id": STORE_ID, "head": head}, {"$set": update}, session=session
                )
                if result.matched_count != 1:
                    raise RetrySignal("the log head moved")
            for part in _doc_chunks(docs, ctx.chunk):
                try:
                    ctx.events.insert_many(part, ordered=True, session=session)
                except (BulkWriteError, DuplicateKeyError) as exc:
                    if _is_duplicate(exc):
                        raise _Orphans from exc
                    raise
            if tracking is not None:
                self.tracking.write(tracking, session, batch)
            return Outcome(head + 1, len(rows), new_meta or meta)

        return self._waiting_for_lock(operation, lambda: ctx.sessions.transaction(operation, body))

    def _waiting_for_lock(self, operation: str, fn: Callable[[], T]) -> T:
        ctx = self.ctx
        deadline = time.monotonic() + ctx.lock.timeout_s
        delay = 0.005
        orphan_rounds = 0
        while True:
            try:
                return fn()
            except _Locked as locked:
                if not ctx.lock.is_live(locked.info):
                    self.recover()
                    continue
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"store is busy: {locked.info.describe()}; {operation} gave up after "
                        f"{ctx.lock.timeout_s:g}s"
                    ) from None
                ctx.lock.pause(delay)
                delay = min(delay * 2, 0.1)
            except _Orphans:
                orphan_rounds += 1
                if orphan_rounds > _ORPHAN_ROUNDS:
                    raise MongoOperationError(
                        f"MongoDB {operation} failed: rows above the log head keep appearing "
                        "(another writer is still running without its lock?)"
                    ) from None
                self.recover(force=True)

    # --- staged ----------------------------------------------------------------------

    def staged(
        self,
        operation: str,
        kind: str,
        batches: Iterable[Sequence[NewRow]],
        guard: WriteGuard,
        *,
        strict: bool,
        tracking: Tracking | None = None,
        trusted_versions: bool = False,
        unchanged: Mapping[str, int] = NO_READS,
    ) -> Outcome:
        ctx = self.ctx
        batch = new_batch_id()
        owner = ctx.lock.new_owner(kind)
        doc = ctx.lock.take(owner, kind)
        head = int(doc["head"])
        try:
            doc = self.tracking.roll_forward(doc)
            ctx.sessions.run(
                "remove rows a dead writer left",
                lambda s: ctx.events.delete_many({"_id": {"$gt": head}}, session=s),
            )
            meta = meta_from_doc(doc)
            # Refuse early; the guard runs again, authoritatively, in the commit step.
            ctx.sessions.run(
                f"{operation} check",
                lambda s: guard.check(meta, ctx.read_lease(s), head),
            )
            if tracking is not None:
                ctx.sessions.run("check tracking", lambda s: self.tracking.check(tracking, doc, s))
            position = head
            last_hash = bytes(doc.get("head_hash") or b"") or GENESIS
            extended = False  # as SQLite: any batch, even empty, rewrites head_hash
            trusted = trusted_versions and head == 0  # the caller checked from version 1
            for given in batches:
                rows = list(given)
                if not (trusted and extended):  # the first batch is always checked
                    self._check_staged_versions(operation, rows, strict)
                if (
                    unchanged and not extended
                ):  # final: no other writer commits while we hold the lock
                    self._check_staged_unchanged(operation, unchanged, head)
                extended = True
                for part in chunks(rows, ctx.chunk):
                    docs, last_hash = event_docs(part, position + 1, last_hash, batch)
                    self._insert_staged(operation, docs, batch)
                    position += len(part)
                ctx.lock.keep_alive(owner)
            saved = self._commit_staged(
                operation,
                owner,
                head,
                position,
                last_hash if extended else None,
                guard,
                batch,
                tracking,
            )
        except BaseException:
            self._abandon(owner, batch)
            raise
        ctx.lock.forget(owner)
        if tracking is not None:
            self.tracking.roll_forward(None)
        return Outcome(head + 1, position - head, saved)

    def _check_staged_versions(self, operation: str, rows: list[NewRow], strict: bool) -> None:
        # No head filter: our own staged rows count (a later batch continues them).
        self.ctx.sessions.run(
            f"{operation} version check", lambda s: self._check_versions(rows, strict, s)
        )

    def _check_staged_unchanged(
        self, operation: str, unchanged: Mapping[str, int], head: int
    ) -> None:
        ctx = self.ctx
        self.ctx.sessions.run(
            f"{operation} read check",
            lambda s: check_unchanged(unchanged, ctx.heads(list(unchanged), s, upto=head)),
        )

    def _insert_staged(self, operation: str, docs: list[Doc], batch: str) -> None:
        ctx = self.ctx
        attempts = 0

        def insert(session: Session) -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # a lost acknowledgement may have inserted some: start clean
                ctx.events.delete_many(
                    {"_id": {"$gte": docs[0]["_id"], "$lte": docs[-1]["_id"]}, "batch": batch},
                    session=session,
                )
            try:
                ctx.events.insert_many(docs, ordered=True, session=session)
            except (BulkWriteError, DuplicateKeyError) as exc:
                if not _is_duplicate(exc):
                    raise
                wanted: dict[str, list[int]] = {}
                for doc in docs:
                    wanted.setdefault(doc["stream"], []).append(doc["version"])
                ours = set(ctx.existing(wanted, session))
                for doc in docs:  # a version twice in this very write (unchecked batches)
                    if (doc["stream"], doc["version"]) in ours:
                        raise ConcurrencyConflictError(
                            doc["stream"], doc["version"], "twice in this import"
                        ) from None
                raise LockLostError(
                    f"{operation}: another writer wrote while we held the write lock "
                    "(ours had expired); nothing was committed"
                ) from None

        ctx.sessions.run(f"{operation} insert", insert)

    def _commit_staged(
        self,
        operation: str,
        owner: str,
        head: int,
        new_head: int,
        last_hash: bytes | None,
        guard: WriteGuard,
        batch: str,
        tracking: Tracking | None,
    ) -> StoreMeta:
        ctx = self.ctx

        def commit(session: Session) -> StoreMeta:
            doc = ctx.store_doc(session)
            info = LockInfo.of(doc)
            if info is None or info.owner != owner:
                if doc.get("last_commit") == owner or (
                    new_head > head
                    and int(doc["head"]) >= new_head
                    and ctx.batch_at(head + 1, session) == batch
                ):
                    return meta_from_doc(doc)  # our first attempt committed; its reply was lost
                raise LockLostError(
                    f"{operation}: the write lock expired and another writer took it; "
                    "nothing was committed"
                )
            meta = meta_from_doc(doc)
            new_meta = guard.check(meta, ctx.read_lease(session), head)
            fields: Doc = {"head": new_head, "lock": None, "last_commit": owner}
            if last_hash is not None:
                fields["head_hash"] = last_hash
            if new_meta is not None:
                fields.update(meta_set(new_meta, doc))
            if tracking is not None:
                fields["pending_tracking"] = {
                    "app": tracking.application_name,
                    "id": tracking.notification_id,
                }
            result = ctx.meta.update_one(
                {"_id": STORE_ID, "head": head, "lock.owner": owner},
                {"$set": fields},
                session=session,
            )
            if result.matched_count != 1:
                raise RetrySignal("the store document changed under the write lock")
            return new_meta or meta

        if ctx.transactions:
            # A transaction: the guard's lease read and the commit are one atomic step.
            return ctx.sessions.transaction(f"{operation} commit", commit)
        return ctx.sessions.run(f"{operation} commit", commit)

    def _abandon(self, owner: str, batch: str) -> None:
        """Best effort after a failure: remove our uncommitted rows, free the lock.

        Only while the lock is still ours, and only above the head read now: rows
        at or below the head were committed and are never touched.
        """
        ctx = self.ctx
        try:

            def undo(session: Session) -> None:
                doc = ctx.store_doc(session)
                info = LockInfo.of(doc)
                if info is None or info.owner != owner:
                    return
                ctx.events.delete_many(
                    {"_id": {"$gt": int(doc["head"])}, "batch": batch}, session=session
                )

            ctx.sessions.run("undo an unfinished write", undo)
            ctx.lock.release(owner)
        except EventStateError:
            pass  # the lock expires and the next writer cleans up

    # --- recovery ----------------------------------------------------------------------

    def recover(self, *, force: bool = False) -> bool:
        """Clean up after a dead writer (expired lock, rows above the head, an
        unapplied tracking record). Returns whether there was anything to do.

        Never waits for a live lock: its holder is alive and cleans up itself.
        """
        ctx = self.ctx
        doc = ctx.sessions.run("read the store", lambda s: ctx.store_doc(s))
        info = LockInfo.of(doc)
        if ctx.lock.is_live(info):
            return False
        head = int(doc["head"])
        dirty = (
            force
            or info is not None
            or bool(doc.get("pending_tracking"))
            or ctx.sessions.run("look for dead rows", lambda s: ctx.has_rows_above(head, s))
        )
        if not dirty:
            return False
        owner = ctx.lock.new_owner("recovery")
        taken = ctx.lock.try_take(owner, "recovery")
        if taken is None:
            return False
        try:
            taken = self.tracking.roll_forward(taken)
            top = int(taken["head"])
            ctx.sessions.run(
                "remove rows a dead writer left",
                lambda s: ctx.events.delete_many({"_id": {"$gt": top}}, session=s),
            )
        finally:
            ctx.lock.release(owner)
        return True

    # --- shared ------------------------------------------------------------------------------

    def _check_versions(self, rows: Sequence[NewRow], strict: bool, session: Session) -> None:
        if not rows:
            return
        ctx = self.ctx
        if strict:
            check_strict(rows, lambda streams: ctx.heads(streams, session))
        else:
            check_unique(rows, lambda wanted: ctx.existing(wanted, session))

    def under_lock(self, operation: str, fn: Callable[[], T]) -> T:
        """Run fn holding the write lock (standalone lease changes, see MongoBackend)."""
        ctx = self.ctx
        owner = ctx.lock.new_owner(operation.replace(" ", "-"))
        ctx.lock.take(owner, operation)
        try:
            return fn()
        finally:
            ctx.lock.release(owner)


def _doc_chunks(docs: list[Doc], size: int) -> Iterable[list[Doc]]:
    for start in range(0, len(docs), size):
        yield docs[start : start + size]
