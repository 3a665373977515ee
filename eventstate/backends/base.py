"""The contract between the store and a storage backend.

Rows are plain tuples on purpose: the read and append paths handle millions of
them, and a tuple costs nothing to build or unpack.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from eventstate.errors import ConcurrencyConflictError

# (position, stream, version, type, schema, recorded_at_us, state)
Row = tuple[int, str, int, str, int, int, bytes]
# (stream, version, type, schema, recorded_at_us, state): an event about to be appended
NewRow = tuple[str, int, str, int, int, bytes]
# A Row with its stored hash appended: what `verify` reads.
FullRow = tuple[int, str, int, str, int, int, bytes, bytes]

AVAILABLE = "available"
UPGRADING = "upgrading"


def stream_partition(stream: str, parts: int) -> int:
    """Which of `parts` partitions a stream's events fall in: the code point of the
    character after the stream id's first colon (of the id's first character when it
    has no colon; 0 when there is none), modulo `parts`. A model's streams (`model:U`,
    `machine:U:N`, `unit:U:NAME`) share one. The projections' rebuild partitions
    (projections.storage.base.partition_of) are this function. SQL:
    eventstate.backends.sqlite.PARTITION_SQL `% parts`."""
    rest = stream[stream.find(":") + 1 :]
    return ord(rest[0]) % parts if rest else 0


def share_rows(
    rows: Iterable[FullRow], upto: int, span: tuple[int, int], part: int, parts: int
) -> Iterator[FullRow]:
    """What `Backend.iter_full_rows_share` returns, filtered here from `rows` (full rows
    in position order after some position): a backend that cannot filter where its
    rows are filters with this."""
    low, high = span
    for row in rows:
        position = row[0]
        if position > upto:
            return
        if low <= position <= high or stream_partition(row[1], parts) == part:
            yield row


@dataclass(frozen=True)
class StoreMeta:
    """What a store records about itself (operations.md, "Store release and gating")."""

    release: str
    status: str = AVAILABLE
    upgrade_id: str = ""
    upgrade_holder: str = ""
    upgrade_since: str = ""
    head_hash: bytes = b""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LeaseState:
    """The store-wide upgrade lease. `token` grows with every grant (fencing)."""

    holder: str
    token: int
    acquired_at_us: int
    expires_at_us: int


# No read dependencies (a default that cannot be mutated).
NO_READS: Mapping[str, int] = MappingProxyType({})


def check_unchanged(unchanged: Mapping[str, int], heads: Mapping[str, int]) -> None:
    """Raise ConcurrencyConflictError unless every stream read is still at the version
    read (`heads`: the streams' versions now, in the writing transaction)."""
    for stream, version in unchanged.items():
        now = heads.get(stream, 0)
        if now != version:
            raise ConcurrencyConflictError(
                stream, version + 1, f"read at version {version} for this decision, now {now}"
            )


class WriteGuard(Protocol):
    """Checked inside the append's own transaction, against the store's state there.

    Raising aborts the append with nothing written. Because the check and the
    write share a transaction, a store that changes status (an upgrade starts)
    or a lease that changes hands between a caller's check and its write can
    never let a refused write through.
    """

    def check(self, meta: StoreMeta, lease: LeaseState | None, head: int) -> StoreMeta | None:
        """Raise to refuse; return a new StoreMeta to be saved with the append, or None."""
        ...


class Backend(Protocol):
    """Storage for one store: the event log, its metadata, the upgrade lease."""

    url: str

    # --- the log -------------------------------------------------------------
    def append(
        self, rows: Sequence[NewRow], guard: WriteGuard, unchanged: Mapping[str, int] = NO_READS
    ) -> list[int]:
        """Append atomically (all or nothing) and return the new positions.

        Positions are gap-free and in commit order. For each stream the first
        new version must follow the stream's last stored one: a version that
        exists already raises ConcurrencyConflictError, one that would leave a
        gap raises StreamVersionGapError. The hash chain is extended.

        `unchanged` maps streams the caller read (and decided on) but does not
        write to the version it read (0: none yet): if any has moved on, the
        append raises ConcurrencyConflictError (`check_unchanged`), checked in the
        same transaction as the write, so a decision spanning two aggregates
        never commits on stale state.
        """
        ...

    def append_stream_of_batches(
        self,
        batches: Iterable[Sequence[NewRow]],
        guard: WriteGuard,
        *,
        trusted_versions: bool = False,
    ) -> int:
        """Append many batches in ONE atomic unit (imports): all or nothing, also
        when the process is killed part way. With trusted_versions the caller has
        checked that every stream starts at 1 and is contiguous; the backend may
        then skip its own version checks if the log is empty when the unit starts."""
        ...

    def read_stream(self, stream: str, gt: int = 0, lte: int | None = None) -> list[Row]: ...

    def iter_log(
        self, after: int = 0, upto: int | None = None, types: Sequence[str] = (), page: int = 10_000
    ) -> Iterator[Row]:
        """Rows with position > after (and <= upto), in position order, paged."""
        ...

    def iter_streams_prefix(self, prefix: str, after: int = 0) -> Iterator[Row]:
        """Rows of every stream whose id starts with `prefix`, in position order."""
        ...

    def list_streams(self, prefix: str) -> list[str]:
        """Ids of the streams that start with `prefix` (e.g. a model's machines), sorted."""
        ...

    def iter_hashes(self, after: int = 0) -> Iterator[tuple[int, bytes]]:
        """(position, stored hash) in position order, for verification."""
        ...

    def iter_full_rows(self, after: int = 0) -> Iterator[tuple[Any, ...]]:
        """Rows with their stored hash appended, in position order, for `verify`."""
        ...

    def iter_full_rows_share(
        self, after: int, upto: int, span: tuple[int, int], part: int, parts: int
    ) -> Iterator[tuple[Any, ...]]:
        """The full rows (iter_full_rows) with position in (after, upto] that one share of
        `verify` needs: those with a position in `span` (low, high: both included) and
        those of a stream with `stream_partition(stream, parts) == part`, in position
        order, paged. Filtered where the rows are (`share_rows` is the definition)."""
        ...

    def hash_before(self, position: int) -> tuple[int, bytes] | None:
        """(position, stored hash) of the last row before `position`; None if none."""
        ...

    def head(self) -> int:
        """The last position (0 for an empty log)."""
        ...

    def stream_heads(self, streams: Iterable[str]) -> dict[str, int]:
        """Last version of each given stream that exists."""
        ...

    def count(self) -> int: ...

    # --- metadata and lease ----------------------------------------------------
    def read_meta(self) -> StoreMeta: ...

    def write_meta(self, guard: WriteGuard) -> StoreMeta:
        """Save the StoreMeta the guard returns, after it checked the current state."""
        ...

    def read_lease(self) -> LeaseState | None: ...

    def acquire_lease(self, holder: str, ttl_s: float, now_us: int) -> LeaseState:
        """Grant the lease if free or expired (with a new, larger token); else LeaseHeldError."""
        ...

    def renew_lease(self, token: int, ttl_s: float, now_us: int) -> LeaseState:
        """Extend our lease; FencingError if another grant superseded it."""
        ...

    def release_lease(self, token: int) -> None: ...

    # --- lifecycle -------------------------------------------------------------
    def close(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        """Backend facts for `eventstate status` (never a password)."""
        ...
