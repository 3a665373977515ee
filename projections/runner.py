"""Keeps projection copies: builds them, catches them up, switches and prunes them.

Policy lives here; storage (projections.storage) only stores atomically.

- A copy is keyed on (code fingerprint, store release). Code reads the READY copy of
  its own key and builds it from position 0 when there is none.
- `catch_up` folds the events after the copy's position in catch-up sessions: each one
  re-reads the position inside its transaction, folds, and saves documents and position
  together, so an event is never folded twice or skipped, whoever else catches up.
- `build_copy` (rebuild, upgrade) folds the log in memory in model partitions (in
  parallel processes for big logs), writing each partition's documents into a new
  BUILDING generation in one bulk transaction; then ONE transaction folds what was
  appended meanwhile and switches the key's pointer to the new generation. Readers
  never see a half-built copy; a build killed part way leaves a BUILDING generation
  that the next build drops.
- `prune_copies` keeps the copies of the current and the previous upgrade.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from eventstate.errors import EventStateError
from eventstate.gating import check_readable
from eventstate.store import EventStore
from eventstate.timeutil import format_us, now_us
from projections.cpus import idle_cpus
from projections.events import EventTuple, fold_events
from projections.fingerprint import code_fingerprint, short
from projections.fold import Fold
from projections.partitions import PartitionPlan, run_partitions
from projections.storage import (
    BUILDING,
    READY,
    RETIRED,
    CatchUpConflictError,
    CopyGoneError,
    CopyInfo,
    CopyKey,
    ProjectionStorage,
    storage_for,
)

# Called as progress(phase, done, total): phase "fold" counts events, "write" documents.
Progress = Callable[[str, int, int], None]

PROJECTIONS = ("machines", "models")  # both folded together into every copy
# Events per catch-up transaction: bounds how long one catch-up holds the write lock.
CATCH_UP_CHUNK = 10_000
# A build's sign of life while it folds; one silent for STALE_BUILD_S is abandoned.
HEARTBEAT_S = 5.0
STALE_BUILD_S = 120.0
# Rebuilds of this many events and more fold model partitions in parallel processes.
PARALLEL_MIN_EVENTS = 250_000
MAX_WORKERS = 4
# Events per model partition, for a rebuild in one process: bounds the documents it
# holds at once (~270 MB per million events in all). With N processes folding at once,
# each partition holds 1/N of that, so the rebuild as a whole needs the same.
EVENTS_PER_PART = 500_000
_ATTEMPTS = 20  # a read retries when a rebuild switches copies under it


@dataclass(frozen=True, slots=True)
class BuildResult:
    copy: CopyInfo
    events: int  # events folded
    documents: int  # documents written (machines, models and unit records)
    seconds: float
    dropped: tuple[CopyInfo, ...]  # older generations and abandoned builds removed
    workers: int = 1  # processes that folded it, this one included


# --- keys --------------------------------------------------------------------------------


def copy_key(store: EventStore, store_release: str | None = None) -> CopyKey:
    """The key of the copy this code reads for `store_release` (default: the store's)."""
    release = store_release if store_release is not None else store.meta().release
    return CopyKey(code_fingerprint(), release)


def copy_name(copy: CopyInfo) -> str:
    """How people see a copy: `<store release>/<short fingerprint>/g<generation>`."""
    return f"{copy.store_release}/{short(copy.fingerprint)}/g{copy.generation}"


# --- catching up -------------------------------------------------------------------------


def catch_up(store: EventStore, *, store_release: str | None = None) -> CopyInfo:
    """The live copy for this code (and the store's release), folded up to the log head
    as of this call: a reader then sees its own writes and every write committed before.
    Builds the copy from position 0 first when there is none."""
    meta = store.meta()
    check_readable(meta)
    key = CopyKey(code_fingerprint(), store_release or meta.release)
    storage = storage_for(store)
    for _attempt in range(_ATTEMPTS):
        copy = storage.live_copy(key)
        if copy is None:
            copy = _build(store, storage, key, None).copy
        # Position read before the head: if it reaches the head, every write committed
        # before this call is folded in, with no write lock taken.
        if copy.position >= store.head():
            return copy
        try:
            return _fold_forward(store, storage, copy)
        except (CopyGoneError, CatchUpConflictError):
            continue  # a rebuild switched copies, or another process saved first
    raise EventStateError("projection copies keep changing under this read; try again")


def _fold_forward(store: EventStore, storage: ProjectionStorage, copy: CopyInfo) -> CopyInfo:
    while True:
        with storage.catch_up(copy) as session:
            start = session.position
            head = store.head()
            if head <= start:
                return replace(copy, position=start)
            upto = min(head, start + CATCH_UP_CHUNK)
            Fold(session.documents).apply_many(_events(store, start, upto))
            session.advance(upto)
        copy = replace(copy, position=upto)
        if upto >= head:
            return copy


def _events(store: EventStore, after: int, upto: int) -> Iterator[EventTuple]:
    """The log in (after, upto], upcast to this code's schema."""
    return fold_events(store, after, upto)


# --- building ----------------------------------------------------------------------------


def build_copy(
    store: EventStore,
    *,
    store_release: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> BuildResult:
    """Build a new generation of the copy this code reads for `store_release` (default:
    the store's release) from position 0, and switch that key's readers to it when
    complete. The upgrade calls it with the target release before it switches the
    store's release, so readers find the target's copy ready.

    `workers`: processes folding model partitions in parallel (default: one per idle
    CPU, up to MAX_WORKERS, for logs of PARALLEL_MIN_EVENTS and more; 1 keeps it in
    this process). The previous generation of the key is left RETIRED, for the next build
    or `cleanup_copies` to drop."""
    meta = store.meta()
    check_readable(meta)
    key = CopyKey(code_fingerprint(), store_release or meta.release)
    return _build(store, storage_for(store), key, progress, workers)


def rebuild(
    store: EventStore, progress: Progress | None = None, workers: int | None = None
) -> BuildResult:
    """`eventstate projections rebuild`: a fresh copy for the store's current release."""
    return build_copy(store, progress=progress, workers=workers)


def plan_partitions(store: EventStore, head: int, workers: int | None = None) -> PartitionPlan:
    """How to split a rebuild of `head` events: in-process for small logs; else model
    partitions spread over the idle CPUs (a store in memory cannot be shared with
    other processes), as few as keep the documents held at once by all processes
    together within EVENTS_PER_PART events' worth: each partition is another scan of
    the log."""
    if getattr(store.backend, "in_memory", False):
        workers = 1
    elif workers is None:
        parallel = head >= PARALLEL_MIN_EVENTS and MAX_WORKERS > 1
        workers = min(_cpus(), MAX_WORKERS) if parallel else 1
    workers = max(1, workers)
    if head < PARALLEL_MIN_EVENTS and workers == 1:
        return PartitionPlan(1, 1)
    per_worker = max(1, math.ceil(head / EVENTS_PER_PART))
    return PartitionPlan(parts=per_worker * workers, workers=workers)


def _cpus() -> int:
    """CPUs free for a rebuild's processes now: on a busy machine a second process
    only slows the whole (it scans the log too, and the build waits for the last)."""
    return max(1, round(idle_cpus()))


def _build(
    store: EventStore,
    storage: ProjectionStorage,
    key: CopyKey,
    progress: Progress | None,
    workers: int | None = None,
) -> BuildResult:
    started = time.perf_counter()
    head = store.head()
    plan = plan_partitions(store, head, workers)
    dropped: list[CopyInfo] = []
    copy = storage.begin_build(key, _owner())
    reporter = _Reporter(storage, copy, head, progress)

    def drop_here() -> None:
        dropped.extend(_drop_leftovers(storage))

    def drop_apart() -> None:
        dropped.extend(_drop_leftovers_apart(store.url))

    # Old copies go off the critical path: while workers still fold, or beside this
    # process's own fold, on a connection of its own (SQLite deletes with the GIL
    # released). Retired copies and abandoned builds are never read again, so a build
    # that then fails leaves nothing worse behind.
    beside = plan.workers == 1 and _has_own_file(store)
    try:
        with _alongside(drop_apart if beside else None):
            events, written = run_partitions(
                store,
                storage,
                copy,
                plan,
                head,
                reporter.events,
                on_written=reporter.written if plan.parts == 1 else None,
                while_waiting=(lambda: None) if beside else drop_here,
            )
        with storage.publish(copy) as publish:
            # Under the write lock: fold what was appended while we folded, then switch
            # at the true head, so the new copy goes live complete and current.
            tail = store.head()
            if tail > head:
                events += Fold(publish.documents).apply_many(_events(store, head, tail))
            live = publish.make_live(tail)
    except BaseException:
        _drop_quietly(storage, copy)
        raise
    seconds = time.perf_counter() - started
    return BuildResult(live, events, written, seconds, tuple(dropped), plan.workers)


class _Reporter:
    """A build's progress calls and heartbeats."""

    def __init__(
        self, storage: ProjectionStorage, copy: CopyInfo, head: int, progress: Progress | None
    ) -> None:
        self._storage = storage
        self._copy = copy
        self._head = head
        self._progress = progress
        self._beat = time.monotonic()

    def events(self, done: int) -> None:
        if self._progress is not None:
            self._progress("fold", done, self._head)
        if time.monotonic() - self._beat > HEARTBEAT_S:
            self._storage.heartbeat(self._copy.copy_id, done)
            self._beat = time.monotonic()

    def written(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress("write", done, total)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


# --- cleaning up -------------------------------------------------------------------------


def is_abandoned(copy: CopyInfo, now: int | None = None) -> bool:
    """A BUILDING copy nobody will finish: its heartbeat stopped, or its builder was a
    process on this host that is gone (killed part way)."""
    if copy.state != BUILDING:
        return False
    now = now_us() if now is None else now
    if now - copy.updated_at_us > STALE_BUILD_S * 1_000_000:
        return True
    host, _, rest = copy.owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    return not _pid_alive(int(pid_text))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _drop_leftovers(storage: ProjectionStorage) -> list[CopyInfo]:
    now = now_us()
    dropped = []
    for copy in storage.copies():
        if copy.state == RETIRED or is_abandoned(copy, now):
            storage.drop_copy(copy.copy_id)
            dropped.append(copy)
    return dropped


def _has_own_file(store: EventStore) -> bool:
    """A SQLite store on a file: another connection to it may work beside this one."""
    return store.url.startswith("sqlite:") and not getattr(store.backend, "in_memory", False)


def _drop_leftovers_apart(url: str) -> list[CopyInfo]:
    """`_drop_leftovers` on a store connection of its own."""
    from eventstate.api import open_store

    other = open_store(url, check_release=False)
    try:
        return _drop_leftovers(storage_for(other))
    finally:
        other.close()


@contextlib.contextmanager
def _alongside(task: Callable[[], None] | None) -> Iterator[None]:
    """Run `task` in a thread while the body runs; its error, if any, is raised after
    the body (the body's own error comes first)."""
    if task is None:
        yield
        return
    failed: list[BaseException] = []

    def run() -> None:
        try:
            task()
        except BaseException as exc:  # handed over to the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="projections-drop", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if failed:
        raise failed[0]


def _drop_quietly(storage: ProjectionStorage, copy: CopyInfo) -> None:
    # The build's own error matters more; a later build drops the row if this fails.
    with contextlib.suppress(Exception):
        storage.drop_copy(copy.copy_id)


def cleanup_copies(store: EventStore) -> list[CopyInfo]:
    """Drop retired copies and abandoned builds; returns what was dropped."""
    return _drop_leftovers(storage_for(store))


def prune_copies(store: EventStore, keep: int = 2) -> list[CopyInfo]:
    """Keep the READY copies of the `keep` most recently published keys (after an
    upgrade: the target's copy and the one readers used before it) and the copy this
    code reads for the store's release; drop every other copy, and retired copies and
    abandoned builds. Returns what was dropped.

    The upgrade calls it once the store's release is switched, so the previous copy
    survives one upgrade and goes at the next."""
    if keep < 0:
        raise ValueError("keep must be >= 0")
    storage = storage_for(store)
    dropped = _drop_leftovers(storage)
    ready = [copy for copy in storage.copies() if copy.state == READY]
    ready.sort(key=lambda copy: (copy.ready_at_us or 0, copy.copy_id), reverse=True)
    # At most one READY copy per key, so the first `keep` are `keep` distinct keys.
    kept = {copy_key(store)} | {copy.key for copy in ready[:keep]}
    for copy in ready:
        if copy.key not in kept:
            storage.drop_copy(copy.copy_id)
            dropped.append(copy)
    return dropped


# --- status ------------------------------------------------------------------------------


def copies_status(store: EventStore, head: int | None = None) -> list[dict[str, Any]]:
    """One entry per copy for `projections status` and `eventstate status`: name,
    fingerprint, store_release, generation, state, position, lag (head - position),
    live, current (the copy this code reads now), documents and times. When this
    code's copy does not exist yet, an entry in state "missing" says so (it is built
    on the first read)."""
    storage = storage_for(store)
    head = store.head() if head is None else head
    current = copy_key(store)
    entries = []
    have_current = False
    for copy in storage.copies():
        is_current = copy.key == current and copy.state == READY
        have_current = have_current or is_current
        entries.append(_entry(storage, copy, head, is_current))
    if not have_current:
        entries.append(_missing(current, head))
    return entries


def _entry(
    storage: ProjectionStorage, copy: CopyInfo, head: int, is_current: bool
) -> dict[str, Any]:
    return {
        "name": copy_name(copy),
        "copy_id": copy.copy_id,
        "projections": list(PROJECTIONS),
        "fingerprint": copy.fingerprint,
        "store_release": copy.store_release,
        "generation": copy.generation,
        "state": copy.state,
        "position": copy.position,
        "lag": max(head - copy.position, 0),
        "live": copy.state == READY,
        "current": is_current,
        "documents": storage.count_documents(copy) if copy.state == READY else None,
        "owner": copy.owner,
        "created_at": format_us(copy.created_at_us),
        "updated_at": format_us(copy.updated_at_us),
        "ready_at": None if copy.ready_at_us is None else format_us(copy.ready_at_us),
    }


def _missing(key: CopyKey, head: int) -> dict[str, Any]:
    return {
        "name": f"{key.store_release}/{short(key.fingerprint)}",
        "copy_id": None,
        "projections": list(PROJECTIONS),
        "fingerprint": key.fingerprint,
        "store_release": key.store_release,
        "generation": None,
        "state": "missing",
        "position": 0,
        "lag": head,
        "live": False,
        "current": True,
        "documents": None,
        "owner": "",
        "created_at": None,
        "updated_at": None,
        "ready_at": None,
    }
