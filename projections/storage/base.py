"""The contract between the projection runner and a projection storage backend.

A *copy* is one complete set of projected documents (machines, models and the fold's
unit records) built by one version of the projection code for one store release. It is
identified by `CopyKey(fingerprint, store_release)`; several *generations* of the same
key may exist while a rebuild runs beside the live one, but at most one of them is
`ready` (the one readers use). A copy's life:

    begin_build()            -> BUILDING  (invisible to readers, position 0, no documents)
    write_documents() x N    -> BUILDING  (one bulk transaction per model partition)
    publish(...).make_live() -> READY     (the events appended meanwhile folded in, and
                                           the pointer switched, in one atomic step; the
                                           key's previous READY copy becomes RETIRED)
    drop_copy()              -> gone      (retired, abandoned or pruned copies)

A READY copy only moves forward through `catch_up` sessions: each folds the events after
the copy's position and saves the changed documents and the new position atomically.

Documents of different models never depend on each other (a machine's containers,
units and model are all in its own model), so a rebuild may fold the log in model
*partitions* (`partition_of`), one after the other or in parallel processes, each
reading only its partition's events (`iter_partition`).

Every backend (SQLite today, MongoDB next) implements `ProjectionStorage`. The runner
(`projections.runner`) holds all policy (what to build, when a build is abandoned, what
to prune); a backend only stores and guarantees the atomicity each method documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final, Protocol

from eventstate.backends.base import Row, stream_partition
from eventstate.errors import EventStateError
from projections.documents import Document, DocumentSet

# Called with a running count (documents written so far).
Progress = Callable[[int], None]

# --- copy states ---------------------------------------------------------------------

BUILDING: Final = "building"  # being built; readers never see it
READY: Final = "ready"  # the live copy of its key; at most one per key
RETIRED: Final = "retired"  # replaced by a newer generation; waiting to be dropped
STATES: Final = (BUILDING, READY, RETIRED)

# --- document kinds and keys -----------------------------------------------------------
# A document is stored under (copy id, kind, key). Keys are strings so that every backend
# can index them the same way; a machine's and a unit's key start with its model's uuid
# and a space, so the documents of one model are one key range (`model_prefix`). Spaces
# never occur in uuids, machine ids or unit names.

MACHINE: Final = "machine"
MODEL: Final = "model"
UNIT: Final = "unit"  # the fold's bookkeeping (which machine a unit is on), not for clients
KINDS: Final = (MACHINE, MODEL, UNIT)


def machine_key(model_uuid: str, machine_id: str) -> str:
    return f"{model_uuid} {machine_id}"


def unit_key(model_uuid: str, unit_name: str) -> str:
    return f"{model_uuid} {unit_name}"


def model_key(model_uuid: str) -> str:
    return model_uuid


def model_prefix(model_uuid: str) -> str:
    """The key prefix shared by every machine (or unit) of one model."""
    return f"{model_uuid} "


# The rebuild partition of a stream's events: by the first character of the model uuid
# (the text after the stream kind's colon), so a model's streams share one. The log's
# own partition function, which verify's shares use too; a backend filtering
# server-side computes exactly this (SQLite: eventstate.backends.sqlite.PARTITION_SQL).
partition_of: Final = stream_partition


def document_key(kind: str, doc: Document) -> str:
    """The storage key of a document of `kind`, from the document's own fields."""
    if kind == MACHINE:
        return machine_key(doc["model_uuid"], doc["id"])
    if kind == MODEL:
        return model_key(doc["model_uuid"])
    return unit_key(doc["model_uuid"], doc["unit"])


# --- copies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CopyKey:
    """Which code built a copy (`projections.fingerprint`) and for which store release."""

    fingerprint: str
    store_release: str


@dataclass(frozen=True, slots=True)
class CopyInfo:
    """One copy's metadata row. Times are microseconds since the epoch, UTC."""

    copy_id: int  # never reused, so a stale id can never name a newer copy
    fingerprint: str
    store_release: str
    generation: int  # 1, 2, ... per key: each rebuild is a new generation
    state: str  # BUILDING, READY or RETIRED
    position: int  # the last log position folded into the documents
    owner: str  # who builds it ("host:pid:nonce"); kept after it is published
    created_at_us: int
    updated_at_us: int  # last change: a catch-up, a build heartbeat, a state change
    ready_at_us: int | None  # when it was published, None while building

    @property
    def key(self) -> CopyKey:
        return CopyKey(self.fingerprint, self.store_release)


# --- errors ----------------------------------------------------------------------------


class CopyGoneError(EventStateError):
    """The copy a session or read was aimed at is no longer what the caller thought:
    retired, dropped or (for `publish`) no longer building. The runner looks the live
    copy up again and retries."""


class CatchUpConflictError(EventStateError):
    """Another process saved a catch-up of the same copy first (optimistic backends only:
    the session's position check failed at commit). Nothing was saved; retry."""


# --- sessions --------------------------------------------------------------------------


class CatchUpSession(Protocol):
    """One catch-up of one READY copy: one transaction.

    Exactly-once contract: `position` is the copy's position as stored when the session
    began, and the session commits (when its context exits without an exception) the
    changed documents and the position given to `advance` atomically, and only if the
    stored position is still `position`. The SQLite backend guarantees this by holding
    the database's write lock (which appends also take) for the whole session, so the
    log cannot grow and no other catch-up can run meanwhile; a backend without such a
    lock must compare-and-set the position at commit and raise CatchUpConflictError.
    Leaving the context with an exception saves nothing.
    """

    @property
    def position(self) -> int: ...

    @property
    def documents(self) -> DocumentSet:
        """The copy's documents as of `position`, loaded on demand (only what the fold
        asks for); `put_*` changes are buffered and written at commit."""
        ...

    def advance(self, position: int) -> None:
        """Record the position folded up to; saved with the documents at commit."""
        ...


def advanced(saved: int, position: int) -> int:
    """The position a catch-up session saves next: a copy's position never goes back."""
    if position < saved:
        raise ValueError(f"a copy's position never goes back ({saved} -> {position})")
    return position


class PublishSession(Protocol):
    """The last step of a build: one transaction that brings a BUILDING copy from the
    position its documents were folded to up to the log head and makes it the READY
    copy of its key.

    On SQLite it holds the write lock, so the log head cannot move while the runner
    folds the events appended during the build into `documents`, and the copy goes live
    exactly at the head. Leaving the context with an exception saves nothing.
    """

    @property
    def documents(self) -> DocumentSet:
        """The building copy's documents, loaded on demand; `put_*` changes are saved by
        `make_live`."""
        ...

    def make_live(self, position: int) -> CopyInfo:
        """Save the changed documents, set the copy READY at `position` and retire the
        key's previous READY copy, in this session's transaction. Raises CopyGoneError
        when the copy is no longer BUILDING (an impatient cleanup dropped it)."""
        ...


# --- the storage -----------------------------------------------------------------------


class ProjectionStorage(Protocol):
    """Where the copies of one store live (the store's own database, so that a
    projection shares its transactions and its lifetime)."""

    # --- the registry of copies ---
    def copies(self) -> list[CopyInfo]:
        """Every copy, in any state, by copy id."""
        ...

    def live_copy(self, key: CopyKey) -> CopyInfo | None:
        """The READY copy of `key`, or None."""
        ...

    def copy(self, copy_id: int) -> CopyInfo | None:
        """One copy by id, in any state, or None once dropped."""
        ...

    def begin_build(self, key: CopyKey, owner: str) -> CopyInfo:
        """Register a new BUILDING generation of `key` (generation = the key's highest so
        far + 1, position 0, no documents). Visible to `copies()` for status, never to
        readers."""
        ...

    def heartbeat(self, copy_id: int, position: int) -> None:
        """A building copy's sign of life: sets updated_at (and the build's progress
        position for status). A build whose heartbeat stopped is abandoned."""
        ...

    def write_documents(
        self,
        copy: CopyInfo,
        docs: Iterable[tuple[str, Document]],
        on_written: Progress | None = None,
    ) -> int:
        """Bulk-write (kind, document) pairs (keys from `document_key`) into a BUILDING
        copy, in ONE transaction: all or nothing. Raises CopyGoneError, writing nothing,
        when the copy is not BUILDING (dropped as abandoned while this builder was slow).
        `on_written(n)` is called now and then with how many are written; returns how
        many were written."""
        ...

    def iter_partition(self, after: int, upto: int, part: int, parts: int) -> Iterator[Row]:
        """The log rows in (after, upto] of the streams whose `partition_of(stream,
        parts) == part`, in position order, paged (raw: decode them with
        `projections.events.decode_rows`). With parts == 1, the whole log."""
        ...

    def partition_sizes(self, parts: int) -> list[int] | None:
        """About how many events of the log each partition holds (to hand the largest
        out first), or None when the backend cannot tell cheaply. An estimate: it may
        leave out streams of an unusual shape."""
        ...

    def drop_copy(self, copy_id: int) -> None:
        """Delete a copy's documents and its row. Dropping the READY copy of a key
        makes the next reader build a new one; the runner only drops retired, abandoned
        or pruned copies."""
        ...

    # --- sessions ---
    def catch_up(self, copy: CopyInfo) -> AbstractContextManager[CatchUpSession]:
        """A catch-up session on a READY copy; CopyGoneError if it is not READY any more."""
        ...

    def publish(self, copy: CopyInfo) -> AbstractContextManager[PublishSession]:
        """A publish session on a BUILDING copy (whose documents are all written); it
        serialises with appends. CopyGoneError if the copy is not BUILDING."""
        ...

    # --- reads ---
    def read_documents(self, copy: CopyInfo, kind: str, prefix: str = "") -> list[Document]:
        """Every document of `kind` in the copy whose key starts with `prefix`, in key
        order, read in one snapshot. CopyGoneError if the copy is not READY any more
        (a rebuild switched readers over meanwhile); the caller looks up the live copy
        again."""
        ...

    def read_document(self, copy: CopyInfo, kind: str, key: str) -> Document | None:
        """One document, or None; CopyGoneError as for read_documents."""
        ...

    def read_document_blobs(
        self, copy: CopyInfo, kind: str, prefix: str = ""
    ) -> list[tuple[str, bytes]]:
        """As read_documents, but (key, the document's JSON as
        `codec.dumps_json` writes it) pairs: verify compares documents without
        decoding the ones that are the same."""
        ...

    def count_documents(self, copy: CopyInfo) -> dict[str, int]:
        """How many documents of each kind the copy holds (status and tests)."""
        ...
